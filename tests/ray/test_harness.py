"""The tests' own Rays: their workers run at nice 0 (tests/conftest.py), so a module's
workers share the cores evenly with another module's processes beside them, and none is
started before there is work for it."""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.ray]


def test_the_tests_ray_workers_run_at_nice_0(ray_local: str) -> None:
    import ray

    assert os.environ["RAY_worker_niceness"] == "0"
    assert os.environ["RAY_prestart_worker_first_driver"] == "0"

    @ray.remote
    def niceness() -> int:
        return os.nice(0)

    assert ray.get(niceness.remote()) == 0  # Ray's default would give 15
