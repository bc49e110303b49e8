"""A local Ray for a benchmark section: its own temp and spill folders, the AWS and weights
environment forwarded, this repository importable by the workers."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from rayapp.config import FORWARDED_ENV

__all__ = ["local_ray"]


@contextlib.contextmanager
def local_ray(tmp: str, cpus: int, gpus: int = 0) -> Iterator[float]:
    """``ray.init`` on loopback with ``cpus`` (and ``gpus``); yields the seconds it took."""
    import ray

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    os.makedirs(f"{tmp}/spill", exist_ok=True)
    start = time.monotonic()
    ray.init(
        num_cpus=cpus,
        num_gpus=gpus,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        _temp_dir=f"{tmp}/ray",
        runtime_env={"env_vars": env},
        object_spilling_directory=f"{tmp}/spill",
        logging_level="ERROR",
    )
    try:
        yield time.monotonic() - start
    finally:
        ray.shutdown()
