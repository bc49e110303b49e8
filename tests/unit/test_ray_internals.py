"""Ray's private API is used in one module (rayapp.pipeline.cluster.ray_internals), for the
Ray release it names: another release, or a name gone from it, fails here loudly, naming
what to read again."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import ray

from rayapp.pipeline.cluster import ray_internals

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_ray_is_the_release_the_private_uses_were_written_for() -> None:
    assert ray.__version__ == ray_internals.RAY_VERSION, (
        f"Ray {ray.__version__} is installed; rayapp/pipeline/cluster/ray_internals.py was "
        f"written for {ray_internals.RAY_VERSION}: read its PRIVATE_NAMES against it first"
    )


def test_every_private_name_is_there() -> None:
    missing = []
    for name in ray_internals.PRIVATE_NAMES:
        module, path = name.split(":")
        found: object = importlib.import_module(module)
        for part in path.split("."):
            found = getattr(found, part, None)
        if found is None:
            missing.append(name)
    assert missing == [], f"gone from Ray {ray.__version__}: {missing}"


def test_no_other_module_of_the_project_reaches_into_ray_internals() -> None:
    """Outside ray_internals and the tests, no private module of Ray (``ray._private``,
    ``ray.autoscaler._private``, ``ray.train.v2._internal``, ...) and no internal_kv."""
    hits = subprocess.run(
        ["git", "grep", "-nE", r"\bray(\.[a-z0-9_]+)*\._(private|internal)\b|internal_kv", "--",
         "rayapp", "serve", "jobs", "benchmarks"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    assert [h for h in hits if not h.startswith("rayapp/pipeline/cluster/ray_internals.py")] == []
