"""Hostile inputs to ``python -m jobs.upscale_video``: a non-zero exit, one clear line on
stderr, and no object at the output URI (S3 on the loopback test server). The jobs join the
tests' Ray (``RAY_ADDRESS``), as under ``ray job submit``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rayapp import storage
from tests.hostile_check import upload
from tests.unit.test_video_errors import CASES

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def run_job(*args: str, ray: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.upscale_video", *args],
        cwd=REPO,
        env=os.environ | {"RAY_ADDRESS": ray},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_and_nothing_written(r: subprocess.CompletedProcess[str], out: str) -> None:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("upscale_video: error: ")
    assert "Traceback" not in r.stderr
    assert not storage.exists(out)
    assert not storage.exists(out + ".rayapp-work")


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_on_s3(case: str, ray_local: str, tmp_path: Path, s3_bucket: str) -> None:
    make, _, message = CASES[case]
    local = make(tmp_path)
    src = f"{s3_bucket}/in/{Path(local).name}"
    upload(local, src)
    out = f"{s3_bucket}/out/result.mp4"
    r = run_job("--input", src, "--output", out, ray=ray_local)
    assert_one_line_and_nothing_written(r, out)
    assert r.returncode == 2
    assert re.search(message, r.stderr), r.stderr


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("codec", "libnope"),
        ("outscale", "outscale"),
        ("ftp-output", "scheme 'ftp' is not allowed"),
        ("http-input", "scheme 'http' is not allowed"),
        ("avi-output", ".avi"),
        # Only a replica learns this, loading its model: its error is the job's.
        ("no-cuda", "device 'cuda' requested, but CUDA is not available here"),
    ],
)
def test_bad_options(
    case: str, message: str, ray_local: str, tmp_path: Path, s3_bucket: str
) -> None:
    import torch

    from rayapp.testing import make_test_video

    if case == "no-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    src = make_test_video(str(tmp_path / "in.mp4"), frames=6, width=32, height=24)
    out = f"{s3_bucket}/out/result.mp4"
    args = {
        "codec": ["--input", src, "--output", out, "--codec", "libnope"],
        "outscale": ["--input", src, "--output", out, "--outscale", "0"],
        "ftp-output": ["--input", src, "--output", "ftp://127.0.0.1/out.mp4"],
        "http-input": ["--input", "http://127.0.0.1/in.mp4", "--output", out],
        "avi-output": ["--input", src, "--output", f"{s3_bucket}/out/result.avi"],
        "no-cuda": ["--input", src, "--output", out, "--device", "cuda"],
    }[case]
    r = run_job(*args, ray=ray_local)
    assert_one_line_and_nothing_written(r, out)
    assert r.returncode == 2
    assert not storage.exists(f"{s3_bucket}/out/result.avi")
    assert message in r.stderr
