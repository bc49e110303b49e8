"""An archive in one job, on the local runner: every video under a prefix, failures isolated,
the summary table, a rerun that rewrites nothing, a run killed mid-archive that resumes."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rayapp.config import VideoJobConfig
from rayapp.errors import InvalidVideoError
from rayapp.pipeline import is_archive, run_archive_job
from rayapp.testing import NearestUpscaler, make_test_video
from tests.local_job import check_output

REPO = Path(__file__).resolve().parents[2]
CLIPS = [f"a/clip{i}.mp4" for i in range(5)] + [f"b/clip{i}.mkv" for i in range(5)]


def make_archive(root: str) -> str:
    """Ten 12-frame clips with audio in two folders, a zero-byte ``.mp4`` and a text file;
    returns ``root`` with a trailing ``/``."""
    for rel in CLIPS:
        make_test_video(f"{root}/{rel}", frames=12)
    with open(f"{root}/b/broken.mp4", "wb"):
        pass
    Path(f"{root}/notes.txt").write_text("not a video")
    return f"{root}/"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_archive(str(tmp_path_factory.mktemp("archive")))


def _table(out: Path) -> list[dict[str, str]]:
    with open(out / "rayapp-archive.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_an_archive_upscales_every_video_and_reports_the_broken_one(
    archive: str, tmp_path: Path
) -> None:
    out = tmp_path / "hd"
    config = VideoJobConfig(input=archive, output=f"{out}/", chunk_frames=6)
    result = run_archive_job(config, runner="local", upscaler=NearestUpscaler(2), progress=())

    assert result.exit_code == 1
    assert result.ignored == (f"{archive}notes.txt",)
    by_input = {r.input: r for r in result.rows}
    assert sorted(by_input) == sorted(f"{archive}{rel}" for rel in [*CLIPS, "b/broken.mp4"])
    broken = by_input.pop(f"{archive}b/broken.mp4")
    assert broken.status == "failed"
    assert broken.error == f"{archive}b/broken.mp4 is empty (0 bytes); expected a video file"
    assert not (out / "b" / "broken.mp4").exists()
    assert [p.name for p in (out / "b").iterdir() if "broken" in p.name] == []
    for rel in CLIPS:
        row = by_input[f"{archive}{rel}"]
        assert (row.status, row.frames, row.certificate_ok, row.error) == ("done", 12, True, "")
        assert row.output == f"{out}/{rel}"
        check_output(f"{archive}{rel}", row.output)
        assert json.loads(Path(row.output + ".report.json").read_text())["integrity"]["ok"]
    assert not list(out.rglob("*.rayapp-work"))  # every video's work folder removed
    # The table: a row per input in the listing's order, as the result has them.
    table = _table(out)
    assert [r["input"] for r in table] == [r.input for r in result.rows]
    assert [r["input"] for r in table] == sorted(r["input"] for r in table)
    assert [(r["status"], r["frames"], r["certificate_ok"]) for r in table] == [
        ("failed", "0", "") if "broken" in r["input"] else ("done", "12", "True") for r in table
    ]
    assert json.loads((out / "rayapp-archive.json").read_text()) == [
        dataclasses.asdict(r) for r in result.rows
    ]

    # A rerun decodes nothing it finished: every output and certificate stays as it was.
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix != ".csv"}
    written = {p: t for p, t in written.items() if "rayapp-archive" not in p.name}
    again = run_archive_job(config, runner="local", upscaler=NearestUpscaler(2), progress=())
    assert [(r.status, r.frames) for r in again.rows] == [
        ("failed", 0) if "broken" in r.input else ("skipped", 12) for r in again.rows
    ]
    assert again.exit_code == 1
    assert {p: p.stat().st_mtime_ns for p in written} == written

    # A changed config redoes what it changes.
    other = config.model_copy(update={"crf": 30})
    changed = run_archive_job(other, runner="local", upscaler=NearestUpscaler(2), progress=())
    assert [r.status for r in changed.rows if "broken" not in r.input] == ["done"] * 10


def test_an_input_list_and_a_container(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "hd"
    uris = [f"{archive}a/clip1.mp4", f"{archive}b/clip2.mkv"]
    config = VideoJobConfig(input="list", output=str(out))
    result = run_archive_job(
        config, input_list=uris, container="mov", runner="local",
        upscaler=NearestUpscaler(2), progress=(),
    )  # fmt: skip
    assert result.exit_code == 0
    assert [(r.status, r.output) for r in result.rows] == [
        ("done", f"{out}/a/clip1.mov"), ("done", f"{out}/b/clip2.mov")
    ]  # fmt: skip
    for uri, row in zip(uris, result.rows, strict=True):
        check_output(uri, row.output)


def test_an_archive_without_videos_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("no video here")
    assert is_archive(str(tmp_path / "in")) and is_archive("s3://bucket/prefix/")
    assert not is_archive(str(tmp_path / "in" / "notes.txt"))
    (tmp_path / "folder.mp4").mkdir()  # named as a file: a broken input, not an archive
    assert not is_archive(str(tmp_path / "folder.mp4")) and is_archive(f"{tmp_path}/folder.mp4/")
    config = VideoJobConfig(input=str(tmp_path / "in"), output=str(tmp_path / "out"))
    with pytest.raises(InvalidVideoError, match=r"No video in .*in \(1 other files\)") as e:
        run_archive_job(config, runner="local", upscaler=NearestUpscaler(2), progress=())
    assert e.value.exit_code == 2
    assert not (tmp_path / "out").exists()


_KILLED_RUN = """
import sys
from rayapp.config import VideoJobConfig
from rayapp.pipeline import run_archive_job
from rayapp.testing import SimulatedGpuUpscaler
config = VideoJobConfig(input=sys.argv[1], output=sys.argv[2], chunk_frames=3, report_frames=0)
run_archive_job(config, runner="local", upscaler=SimulatedGpuUpscaler(2, float(sys.argv[3])),
                progress=())
"""


def test_an_archive_killed_mid_way_resumes(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "hd"
    args = [sys.executable, "-c", _KILLED_RUN, archive, f"{out}/"]
    job = subprocess.Popen([*args, "0.05"], cwd=REPO)  # 0.15 s a chunk of 3 frames
    try:
        ended, partial = _when_one_ended_and_one_began(archive, out, job)
        job.send_signal(signal.SIGKILL)  # no unwinding: as a lost driver node
        job.wait(timeout=30)
    finally:
        job.kill()
    # The killed run's table holds the videos that ended, and only those.
    assert {r["input"] for r in _table(out)} == ended
    config = VideoJobConfig(input=archive, output=f"{out}/", chunk_frames=3, report_frames=0)
    from rayapp.testing import SimulatedGpuUpscaler

    result = run_archive_job(
        config, runner="local", upscaler=SimulatedGpuUpscaler(2, 0.0), progress=()
    )
    rows = {r.input: r for r in result.rows}
    assert {i for i, r in rows.items() if r.status == "skipped"} == ended
    uri, records = partial
    assert rows[uri].status == "done" and rows[uri].chunks_reused >= records >= 1
    for rel in CLIPS:
        check_output(f"{archive}{rel}", rows[f"{archive}{rel}"].output)
    assert [r.status for r in result.rows].count("failed") == 1  # the zero-byte file


def _when_one_ended_and_one_began(
    archive: str, out: Path, job: subprocess.Popen
) -> tuple[set[str], tuple[str, int]]:
    """Waits (at most 60 s) until the archive's table has a row and a video not in it has
    a finished chunk, and leaves ``job`` stopped (SIGSTOP) there, so that nothing ends
    between this look and the kill: (the inputs in the table, (that video's input, its
    finished chunks))."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and job.poll() is None:
        if _one_ended_and_one_began(archive, out) is not None:
            job.send_signal(signal.SIGSTOP)
            state = _one_ended_and_one_began(archive, out)  # again, the job frozen
            if state is not None:
                return state
            job.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError(f"no video ended while another was half done (exit {job.poll()})")


def _one_ended_and_one_began(archive: str, out: Path) -> tuple[set[str], tuple[str, int]] | None:
    if not (out / "rayapp-archive.csv").exists():
        return None
    ended = {r["input"] for r in _table(out)}
    for work in out.rglob("*.rayapp-work"):
        video = str(work)[: -len(".rayapp-work")]
        # A record being written is a temporary file beside it (.rayapp-*.json), not yet
        # a finished chunk: only the records themselves count.
        records = len([p for p in work.rglob("*.json") if not p.name.startswith(".rayapp-")])
        source = archive + os.path.relpath(video, out)
        if records and source not in ended:
            return ended, (source, records)
    return None


def test_the_jobs_parser_takes_an_input_list_instead_of_an_input() -> None:
    from jobs.upscale_video import Archive, parse_args

    config, _, _, archive = parse_args(
        ["--input-list", "s3://b/uris.txt", "--output", "s3://b/hd/", "--container", "mkv"]
    )
    assert archive == Archive("s3://b/uris.txt", "mkv")
    assert (config.input, config.output) == ("s3://b/uris.txt", "s3://b/hd/")
    with pytest.raises(SystemExit):  # one or the other
        parse_args(["--input-list", "uris.txt", "--input", "a.mp4", "--output", "hd/"])
