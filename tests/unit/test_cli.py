"""The ``rayapp`` command, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rayapp.cli import main
from rayapp.images import decode_image, encode_image
from tests.conftest import DATA


def rayapp(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayapp.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )


def test_models_lists_registry() -> None:
    r = rayapp("models")
    assert r.returncode == 0
    names = {line.split()[0] for line in r.stdout.splitlines()[1:]}
    assert {"realesr-animevideov3", "realesrgan-x4plus", "swin2sr-realworld-x4"} <= names


def test_upscale_one_image(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    r = rayapp("upscale", str(DATA / "astronaut.png"), str(out), "--outscale", "2")
    assert r.returncode == 0, r.stderr
    assert decode_image(out.read_bytes()).shape == (288, 384, 3)


def test_upscale_directory_reports_bad_image_and_writes_the_rest(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    img = np.full((10, 12, 3), 90, np.uint8)
    (src / "a.png").write_bytes(encode_image(img))
    (src / "sub" / "b.jpg").write_bytes(encode_image(img, "jpeg"))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "notes.txt").write_text("ignored")
    r = rayapp("upscale", str(src), str(dst), "--outscale", "2")
    assert r.returncode == 1
    assert "broken.png" in r.stderr and "2 written, 0 skipped, 1 failed" in r.stdout
    assert decode_image((dst / "a.png").read_bytes()).shape == (20, 24, 3)
    assert decode_image((dst / "sub" / "b.jpg").read_bytes()).shape == (20, 24, 3)
    assert not (dst / "broken.png").exists()
    assert sorted(p.name for p in dst.rglob("*") if p.is_file()) == ["a.png", "b.jpg"]


def test_upscale_directory_twice_rewrites_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = np.full((10, 12, 3), 90, np.uint8)
    (src / "a.png").write_bytes(encode_image(img))
    (src / "b.webp").write_bytes(encode_image(img, "webp"))
    first = rayapp("upscale", str(src), str(dst), "--outscale", "2", "--format", "jpeg")
    assert first.returncode == 0, first.stderr
    assert f"2 written, 0 skipped, 0 failed -> {dst}" in first.stdout
    written = {p.name: p.stat().st_mtime_ns for p in dst.iterdir()}
    assert sorted(written) == ["a.jpg", "b.jpg"]
    again = rayapp("upscale", str(src), str(dst), "--outscale", "2", "--format", "jpeg")
    assert again.returncode == 0, again.stderr
    assert f"0 written, 2 skipped, 0 failed -> {dst}" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in dst.iterdir()} == written


def test_upscale_directory_refuses_two_inputs_for_one_output(tmp_path: Path) -> None:
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = np.full((10, 12, 3), 90, np.uint8)
    (src / "a.png").write_bytes(encode_image(img))
    (src / "a.jpg").write_bytes(encode_image(img, "jpeg"))
    (src / "b.png").write_bytes(encode_image(img))
    r = rayapp("upscale", str(src), str(dst), "--format", "jpeg")
    assert r.returncode == 2
    assert r.stderr == (
        f"rayapp: error: 1 input(s) would overwrite another's output (Same output "
        f"{dst}/a.jpg as {src}/a.jpg); rename them or choose another --format\n"
    )
    assert not dst.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upscale", "/no/such.png", "x.png"], "Input not found"),
        (["upscale", str(DATA / "astronaut.png"), "x.png", "--model", "nope"], "Unknown model"),
        (["upscale", str(DATA / "astronaut.png"), "x.png", "--outscale", "-1"], "outscale"),
        (["upscale", str(DATA / "astronaut.png"), "x.bmp"], "Unsupported image extension"),
        (["upscale", str(DATA / "astronaut.png"), "x.png", "--device", "tpu"], "device"),
    ],
)
def test_user_mistakes_are_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rayapp: error:") and message in lines[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_user_mistake_in_a_real_process_has_no_traceback() -> None:
    r = rayapp("upscale", "/no/such.png", "x.png")
    assert r.returncode == 2
    assert r.stderr.strip() == "rayapp: error: Input not found: /no/such.png"


def test_video_command_end_to_end(tmp_path: Path) -> None:
    from rayapp.testing import decode_video, make_test_video

    src = make_test_video(str(tmp_path / "in.mp4"), frames=12, width=32, height=24, gop=6)
    out = tmp_path / "out.mkv"
    r = rayapp("video", src, str(out), "--outscale", "2", "--segment-s", "0.25", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}: 12 frames, 32x24 -> 64x48 h264, " in r.stdout
    assert "certificate: integrity ok (12 frames, 1 audio, 0 subtitle stream(s))" in r.stdout
    decoded = decode_video(str(out))
    assert decoded.indices == list(range(12))


def test_video_command_on_a_folder_is_an_archive(tmp_path: Path) -> None:
    from rayapp.testing import decode_video, make_test_video

    for name in ("a/one.mp4", "b/two.mkv"):
        make_test_video(str(tmp_path / "in" / name), frames=12, width=32, height=24, gop=6)
    (tmp_path / "in" / "b" / "broken.mp4").write_bytes(b"")
    (tmp_path / "in" / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    r = rayapp("video", str(tmp_path / "in"), str(out), "--outscale", "2", "--segment-s", "0.25")
    assert r.returncode == 1, r.stderr  # one video failed
    assert r.stdout.startswith(
        "archive: 3 videos, 2 done, 0 skipped, 1 failed, 1 other files ignored; 24 frames in "
    ), r.stdout
    assert r.stdout.strip().endswith(f"-> {out}/rayapp-archive.csv")
    for name in ("a/one.mp4", "b/two.mkv"):
        assert decode_video(str(out / name)).indices == list(range(12))
    assert not (out / "b" / "broken.mp4").exists()
    (tmp_path / "empty").mkdir()
    r = rayapp("video", str(tmp_path / "empty"), str(tmp_path / "out2"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"rayapp: error: No video in {tmp_path}/empty (0 other files); expected files with a "
        "video extension (.mp4, .m4v, .mov, .mkv, .webm, .avi, .ts) or a video stream"
    ]


def test_video_command_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"hello" * 100)
    r = rayapp("video", str(bad), str(tmp_path / "out.mp4"), "--no-progress")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rayapp: error:")
    assert not (tmp_path / "out.mp4").exists()


# A bad input for each command, made in the test directory: (input name, how to make it).
def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _a_directory(path: Path) -> None:
    path.mkdir()
    (path / "inside.bin").write_bytes(b"\x00" * 64)


def _not_media(path: Path) -> None:
    path.write_text("these are meeting notes, not media\n" * 20)


BAD_INPUTS = {
    "zero-bytes": _zero_bytes,
    "directory": _a_directory,
    "missing": lambda path: None,
    "not-media": _not_media,
}
VIDEO_ERRORS = {
    "zero-bytes": "in.mp4 is empty (0 bytes); expected a video file",
    "directory": "in.mp4 is a directory; expected a file",
    "missing": "Input not found: in.mp4",
    "not-media": "in.mp4 is not a readable media file: ",
}
# `rayapp upscale` takes a directory as a whole batch of images (tested above).
IMAGE_ERRORS = {
    "zero-bytes": "Empty image",
    "missing": "Input not found: in.png",
    "not-media": "Cannot decode image: ",
}


@pytest.mark.parametrize("case", sorted(VIDEO_ERRORS))
def test_video_command_bad_inputs_are_one_line_exit_2(case: str, tmp_path: Path) -> None:
    BAD_INPUTS[case](tmp_path / "in.mp4")
    r = rayapp("video", "in.mp4", "out.mp4", "--no-progress", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"rayapp: error: {VIDEO_ERRORS[case]}")
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["in.mp4"] if case != "missing" else [])


# A command that reports which heavy libraries it loaded before it exited.
LOADED = """
import sys
from {module} import main
code = main({argv!r})
print(sorted(m for m in ("torch", "spandrel", "ray", "ray.data") if m in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize("module", ["rayapp.cli", "jobs.upscale_video"])
def test_a_bad_video_input_fails_before_torch_and_ray_load(module: str, tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(b"")
    argv = {
        "rayapp.cli": ["video", "in.mp4", "out.mp4", "--no-progress"],
        "jobs.upscale_video": ["--input", "in.mp4", "--output", "out.mp4"],
    }[module]
    r = subprocess.run(
        [sys.executable, "-c", LOADED.format(module=module, argv=argv)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=60,
    )
    assert (r.returncode, r.stdout) == (2, "[]\n"), r.stderr
    assert "in.mp4 is empty (0 bytes)" in r.stderr


@pytest.mark.parametrize("case", sorted(IMAGE_ERRORS))
def test_upscale_command_bad_inputs_are_one_line_exit_2(case: str, tmp_path: Path) -> None:
    BAD_INPUTS[case](tmp_path / "in.png")
    r = rayapp("upscale", "in.png", "out.png", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"rayapp: error: {IMAGE_ERRORS[case]}")
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "out.png").exists()


def _frames(uri: str) -> list[np.ndarray]:
    import av

    with av.open(uri) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.slow
def test_a_work_folder_never_gives_one_models_chunks_to_another(tmp_path: Path) -> None:
    """`rayapp video --work W` with model A, then model B into the same W: B's output is B's
    own pixels (those of a run of B alone), and A's chunks are left as they were, unused."""
    from rayapp.testing import make_test_video

    src = make_test_video(str(tmp_path / "in.mp4"), frames=6, width=32, height=24, gop=3)
    work = tmp_path / "work"
    cut = ["--outscale", "2", "--segment-s", "0.1", "--crf", "0", "--no-progress"]
    kept = [*cut, "--work", str(work), "--keep-work"]
    env = {"OMP_NUM_THREADS": "1"}  # one summation order in every process

    def video(out: str, model: str, *options: str) -> None:
        r = rayapp("video", src, str(tmp_path / out), "--model", model, *options, env=env)
        assert r.returncode == 0, r.stderr

    video("a.mp4", "realesr-animevideov3", *kept)
    (folder_a,) = work.iterdir()
    chunks_a = {p.name: p.stat().st_mtime_ns for p in folder_a.iterdir()}
    video("b.mp4", "realesrgan-x4plus-anime", *kept)
    video("b-alone.mp4", "realesrgan-x4plus-anime", *cut)

    (folder_b,) = [p for p in work.iterdir() if p != folder_a]
    assert {p.name: p.stat().st_mtime_ns for p in folder_a.iterdir()} == chunks_a
    assert sorted(p.name for p in folder_b.iterdir()) == sorted(chunks_a)  # its own, all of them
    a, b, alone = (_frames(str(tmp_path / n)) for n in ("a.mp4", "b.mp4", "b-alone.mp4"))
    assert len(a) == len(b) == len(alone) == 6
    for got, want in zip(b, alone, strict=True):
        np.testing.assert_array_equal(got, want)
    assert all(np.abs(x.astype(int) - y).mean() > 1 for x, y in zip(a, b, strict=True))


def test_every_help_is_plain_text_that_opens_with_what_the_command_does() -> None:
    """``rayapp``, each of its commands and each ``python -m jobs.X``: a description first,
    and no reST or Markdown markup anywhere in the help."""
    import importlib

    from rayapp.arguments import job_parser
    from rayapp.cli import build_parser

    top = build_parser()
    commands = next(a for a in top._actions if a.choices).choices  # argparse's subparsers
    parsers = {"rayapp": top, **{f"rayapp {n}": p for n, p in commands.items()}}
    for name in ("upscale_video", "upscale_images", "evaluate", "train", "benchmark", "demo"):
        module = importlib.import_module(f"jobs.{name}")
        parsers[f"jobs.{name}"] = job_parser(f"jobs.{name}", module.__doc__)
    for name, parser in parsers.items():
        assert parser.description and parser.description[0].isupper(), name
        assert "`" not in parser.format_help(), name
