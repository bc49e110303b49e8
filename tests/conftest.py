"""Shared fixtures: a weights cache per test session, and a real S3 server on loopback."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ray_head import free_port
from tests.scenes import SceneClip, make_scene_clip

DATA = Path(__file__).resolve().parents[1] / "rayapp" / "data"
# The quick tier (scripts/test.sh --quick) starts no Ray: every Ray start, in this process or
# a job it runs, is sent to this address, which does not resolve, and fails naming it.
QUICK_TIER_RAY_ADDRESS = "the-quick-tier-starts-no-ray:1"
# scripts/test.sh runs the suite in two passes: RAYAPP_TEST_PASS=beside on two pytest-xdist
# workers (a module at a time each), then RAYAPP_TEST_PASS=alone, the tests marked ``alone``,
# with nothing running beside them. Unset: every selected test, as pytest chose them.
PASSES = ("beside", "alone")


# Ray runs its workers at nice 15 (RAY_worker_niceness) so that a machine's drivers stay
# responsive. Beside another test module's processes at nice 0 (its pytest, a job's driver,
# a subprocess), the workers of every Ray the tests start here then get a few percent of a
# core: Ray Train beside two busy loops took 465 s instead of 40 s. At 0 they share the
# cores evenly with whatever runs beside them. The tests' own Rays only: a user's keep Ray's.
RAY_WORKER_NICENESS = "0"
# A Ray prestarts a worker per CPU when its first driver connects, whether or not a task
# comes for it (each about 1.2 s of CPU importing ray). The tests' Rays start a worker when
# there is work for it.
RAY_PRESTART = "0"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("RAY_worker_niceness", RAY_WORKER_NICENESS)
    os.environ.setdefault("RAY_prestart_worker_first_driver", RAY_PRESTART)
    if os.environ.get("RAYAPP_TEST_TIER") == "quick":
        os.environ["RAY_ADDRESS"] = QUICK_TIER_RAY_ADDRESS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pass of scripts/test.sh, deselect the other pass's tests."""
    wanted = os.environ.get("RAYAPP_TEST_PASS")
    if wanted is None:
        return
    if wanted not in PASSES:
        raise pytest.UsageError(f"RAYAPP_TEST_PASS={wanted!r}: one of {', '.join(PASSES)}")
    alone = wanted == "alone"
    keep, drop = [], []
    for item in items:
        (keep if (item.get_closest_marker("alone") is not None) == alone else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class SharedRay:
    """The tests' local Ray of one pytest process (``ray.init(num_cpus=2)``), started by the
    first module that asks (``ray_local``) and kept for the next: a start costs 5-10 s of
    the two cores. A module that does not ask may start a Ray of its own, or test the code
    that starts one, so it gets none: the shared one is stopped before it begins."""

    def __init__(self) -> None:
        self.address: str | None = None
        self._temp: Path | None = None

    def start(self) -> str:
        import ray

        if self.address is None:
            if ray.is_initialized():
                raise RuntimeError("a Ray that is not the shared one is still running here")
            # A temp dir of its own (short: Ray puts unix sockets under it), so that the
            # tests can read its workers' logs.
            self._temp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
            context = ray.init(
                num_cpus=2, include_dashboard=False, log_to_driver=False,
                _node_ip_address="127.0.0.1", _temp_dir=str(self._temp),
            )  # fmt: skip
            self.address = context.address_info["gcs_address"]
        return self.address

    @property
    def logs(self) -> Path:
        """The running shared Ray's log folder (its workers' ``worker-*.err`` among them)."""
        if self._temp is None:
            raise RuntimeError("the shared Ray is not running")
        return self._temp / "session_latest" / "logs"

    def stop(self) -> None:
        if self.address is not None:
            import ray

            ray.shutdown()
            self.address = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


_SHARED_RAY = SharedRay()


@pytest.fixture(scope="session")
def shared_ray() -> Iterator[SharedRay]:
    try:
        yield _SHARED_RAY
    finally:
        _SHARED_RAY.stop()


@pytest.fixture(scope="module", autouse=True)
def _shared_ray_only_where_asked(request: pytest.FixtureRequest) -> None:
    """Stop the shared Ray before a module none of whose tests asks for it."""
    if _SHARED_RAY.address is None or "ray" not in sys.modules:
        return
    mine = [i for i in request.session.items if getattr(i, "module", None) is request.module]
    if not any("ray_local" in item.fixturenames for item in mine):
        _SHARED_RAY.stop()


@pytest.fixture(scope="session", autouse=True)
def _weights_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never touch the user's cache, and never try the network for weights."""
    old = {k: os.environ.get(k) for k in ("RAYAPP_CACHE_DIR", "RAYAPP_OFFLINE")}
    cache = Path(os.environ.get("RAYAPP_TEST_CACHE_DIR") or tmp_path_factory.mktemp("cache"))
    os.environ["RAYAPP_CACHE_DIR"] = str(cache)
    os.environ["RAYAPP_OFFLINE"] = "1"
    yield cache
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """A real S3 HTTP server (moto) on 127.0.0.1; yields the AWS environment to use it.

    The variables are also set in this process, so s3fs, pyarrow and child processes
    started by the tests find the server through the standard AWS environment.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer("127.0.0.1", port)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_server: dict[str, str], request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket; returns its ``s3://name`` URI."""
    import s3fs

    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"t-{slug}-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]})
    fs.mkdir(name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def scene_clip(tmp_path_factory: pytest.TempPathFactory) -> SceneClip:
    """Three scenes of sub-pixel pans over photographs, and their ground truth."""
    return make_scene_clip(tmp_path_factory.mktemp("scenes"))
