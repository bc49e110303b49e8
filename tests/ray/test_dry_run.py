"""``python -m jobs.upscale_video --dry-run``: the plan of a video or an archive, timed on
the tests' Ray with one replica's resources, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rayapp.testing import make_test_video

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, ray: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.upscale_video", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=os.environ | {"RAY_ADDRESS": ray},
    )  # fmt: skip


def test_the_jobs_dry_run_of_a_video_and_of_an_archive(ray_local: str, tmp_path: Path) -> None:
    held = make_test_video(str(tmp_path / "held.mp4"), frames=120, width=64, height=48, gop=12)
    out = tmp_path / "out.mp4"
    video = ("--input", held, "--output", str(out), "--dry-run", "--deadline", "10m")
    done = _run(*video, ray=ray_local)
    assert done.returncode == 0, done.stderr
    assert "120 frames" in done.stdout and "deadline 0:10:00: 1 replicas" in done.stdout
    assert not out.exists()
    archive = tmp_path / "archive"
    for name in ("a/held.mp4", "b/one.mkv", "b/two.mp4"):
        (archive / name).parent.mkdir(parents=True, exist_ok=True)
    (archive / "a" / "held.mp4").write_bytes(Path(held).read_bytes())
    for name in ("b/one.mkv", "b/two.mp4"):
        make_test_video(str(archive / name), frames=24, width=64, height=48, gop=12)
    dry = tmp_path / "dry"
    whole = ("--input", f"{archive}/", "--output", f"{dry}/", "--outscale", "2",
             "--segment-s", "0.5", "--chunk-frames", "12", "--dry-run")  # fmt: skip
    done = _run(*whole, ray=ray_local)
    assert done.returncode == 0, done.stderr
    assert f"archive {archive}/: 3 videos (all probed)" in done.stdout
    assert "3 videos: 168 frames" in done.stdout
    assert not dry.exists()
