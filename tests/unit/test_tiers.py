"""The quick tier (scripts/test.sh --quick) runs tests/unit and starts no Ray: a test there
that starts one, directly or through a job, fails, naming why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pytest_of(test_file: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``test_file`` in a process of its own, with this suite's conftest and
    ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         *args, str(test_file)],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


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
    run = pytest_of(tmp_path / "test_starts_ray.py", {"RAYAPP_TEST_TIER": "quick"}, "-q")
    assert run.returncode == 1, run.stdout
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    assert "test_a_fixture_that_starts_ray" in run.stdout


TWO_PASSES = """
import pytest


@pytest.mark.alone
def test_alone():
    pass


def test_beside():
    pass
"""


def test_each_pass_runs_its_own_tests_and_together_all(tmp_path: Path) -> None:
    """scripts/test.sh's two passes: ``alone`` tests in the second only, the rest in the
    first; a misspelt pass is refused rather than running everything."""
    (tmp_path / "test_passes.py").write_text(TWO_PASSES)

    def run(test_pass: str) -> subprocess.CompletedProcess[str]:
        env = {"RAYAPP_TEST_PASS": test_pass}
        return pytest_of(tmp_path / "test_passes.py", env, "-v", "-o", "markers=alone: x")

    beside, alone, wrong = run("beside"), run("alone"), run("together")
    assert "test_beside PASSED" in beside.stdout and "test_alone" not in beside.stdout
    assert "1 passed, 1 deselected" in beside.stdout, beside.stdout
    assert "test_alone PASSED" in alone.stdout and "test_beside" not in alone.stdout
    assert "1 passed, 1 deselected" in alone.stdout, alone.stdout
    assert wrong.returncode == 4 and "RAYAPP_TEST_PASS='together'" in wrong.stderr, wrong
