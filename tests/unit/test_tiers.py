"""The quick tier (scripts/test.sh --quick) runs tests/unit and starts no Ray: a test there
that starts one, directly or through a job, fails, naming why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STARTS_RAY = """
import pytest
import ray

from rayapp.errors import ClusterUnreachableError
from rayapp.pipeline import ensure_ray


def test_a_job_that_starts_a_local_ray():
    with pytest.raises(ClusterUnreachableError, match="the-quick-tier-starts-no-ray"):
        ensure_ray()


def test_a_fixture_that_starts_ray():
    ray.init(num_cpus=1, include_dashboard=False)
"""


def test_a_ray_started_in_the_quick_tier_fails(tmp_path: Path) -> None:
    (tmp_path / "test_starts_ray.py").write_text(STARTS_RAY)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         str(tmp_path / "test_starts_ray.py")],
        cwd=ROOT, env={**os.environ, "RAYAPP_TEST_TIER": "quick"}, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    assert "test_a_fixture_that_starts_ray" in run.stdout
