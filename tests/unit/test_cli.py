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


def rayapp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rayapp.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=300,
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
    assert "broken.png" in r.stderr and "2 written, 1 failed" in r.stdout
    assert decode_image((dst / "a.png").read_bytes()).shape == (20, 24, 3)
    assert decode_image((dst / "sub" / "b.jpg").read_bytes()).shape == (20, 24, 3)
    assert not (dst / "broken.png").exists()
    assert sorted(p.name for p in dst.rglob("*") if p.is_file()) == ["a.png", "b.jpg"]


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
    assert "(32x24) ->" in r.stdout and "(64x48 h264): 12 frames" in r.stdout
    decoded = decode_video(str(out))
    assert decoded.indices == list(range(12))


def test_video_command_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"hello" * 100)
    r = rayapp("video", str(bad), str(tmp_path / "out.mp4"), "--no-progress")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rayapp: error:")
    assert not (tmp_path / "out.mp4").exists()
