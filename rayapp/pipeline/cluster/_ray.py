"""Joining a Ray cluster, only when there is work for it."""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rayapp import storage
from rayapp.config import FORWARDED_ENV, ReplicaConfig, UpscaleConfig
from rayapp.entrypoint import STOP_SIGNALS
from rayapp.errors import ClusterUnreachableError, ConfigError
from rayapp.pipeline.cluster.ray_internals import QUICK_CONNECT, job_head, last_started_address

if TYPE_CHECKING:
    from rayapp.upscaler import Upscaler

__all__ = [
    "check_shared",
    "ensure_ray",
    "load_replica",
    "node_resources",
    "replica_node",
    "replica_items",
    "replica_pool_args",
    "submission_id",
]

log = logging.getLogger(__name__)


def ensure_ray() -> None:
    """Join the cluster named by ``RAY_ADDRESS`` (``ray job submit`` sets it), or start a
    local embedded Ray when there is none. A caller that already ran ``ray.init`` keeps its
    own.

    With no ``RAY_ADDRESS`` the job never joins a cluster on its own: the address a
    ``ray start --head`` left in ``/tmp/ray/ray_current_cluster`` (stale once that head is
    gone, and ``ray.init()`` would then retry it for minutes) is not read. A ``RAY_ADDRESS``
    whose port does not accept a connection within ``CONNECT_TIMEOUT_S`` fails at once with
    ``ClusterUnreachableError``, naming the address.
    """
    import ray

    if ray.is_initialized():
        return
    # Under `ray job submit` the job's runtime_env already reaches every worker, and
    # ray.init refuses a runtime_env that names the same variables a second time.
    taken = (_submitted_job().get("runtime_env") or {}).get("env_vars") or {}
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ and k not in taken}
    runtime_env = {"env_vars": env} if env else None
    with _keeping_stop_handlers():
        if address := os.environ.get("RAY_ADDRESS"):
            _check_reachable(address)
            ray.init(runtime_env=runtime_env, logging_level=logging.WARNING)
            log.info("connected to Ray: %s", ray.get_runtime_context().gcs_address)
            return
        # A local embedded Ray, reachable from this machine only, and quiet: its start-up
        # lines (and the token notice) are not the job's to print; its dashboard is not
        # needed while the job lives (the metrics endpoint is not the dashboard's).
        with job_head():
            ray.init(
                address="local",
                runtime_env=runtime_env,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                logging_level=logging.ERROR,
                _system_config=QUICK_CONNECT,
            )
    # Stopped when this process exits, before Ray's own exit hook, which first sleeps half
    # a second for worker logs: this job's lines were printed long before (exit hooks run
    # last registered first).
    atexit.register(ray.shutdown)
    log.info("started a local Ray (no RAY_ADDRESS): %s", ray.get_runtime_context().gcs_address)


def node_resources() -> tuple[float, float]:
    """(CPUs, GPUs) of the node this process runs on, as Ray counts them."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    for info in ray.nodes():
        if info["NodeID"] == node:
            return _cpus_gpus(info)
    return float(os.cpu_count() or 1), 0.0


def replica_node(replicas: ReplicaConfig) -> tuple[float, float] | None:
    """(CPUs, GPUs) of the live node with the most CPUs that fits a replica (None: none
    does yet, as on a cluster whose workers scale from zero)."""
    import ray

    live = [_cpus_gpus(info) for info in ray.nodes() if info["Alive"]]
    fits = [
        (cpus, gpus)
        for cpus, gpus in live
        if cpus >= replicas.num_cpus_per_replica and gpus >= replicas.num_gpus_per_replica
    ]
    return max(fits, default=None)


def _cpus_gpus(info: dict[str, Any]) -> tuple[float, float]:
    """(CPUs, GPUs) of one node of ``ray.nodes()``."""
    return info["Resources"].get("CPU", 0.0), info["Resources"].get("GPU", 0.0)


CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """``ClusterUnreachableError`` unless the Ray at ``address`` (``host:port``,
    ``ray://host:port``, or ``auto``: the last ``ray start`` on this machine) accepts a TCP
    connection within ``CONNECT_TIMEOUT_S``."""
    target, where = address.removeprefix("ray://"), address
    if target == "auto":
        target = last_started_address() or ""
        if not target:
            raise ClusterUnreachableError(
                "RAY_ADDRESS=auto, but no `ray start` on this machine left its address: "
                "start one, or unset RAY_ADDRESS to run on a local Ray"
            )
        where = f"auto ({target})"
    try:
        host, port = target.rsplit(":", 1)
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as e:
        raise ClusterUnreachableError(
            f"Ray at RAY_ADDRESS={where} does not answer ({e}): start it, or unset "
            "RAY_ADDRESS to run on a local Ray"
        ) from e


@contextlib.contextmanager
def _keeping_stop_handlers() -> Iterator[None]:
    """``ray.init`` replaces the driver's SIGTERM handler with ``sys.exit(15)``; an entry
    point's own handlers (``rayapp.entrypoint``: exit 143 or 130 after cleaning up) are put
    back."""
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS} if main else {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if callable(handler):
                signal.signal(signum, handler)


def check_shared(*uris: str) -> None:
    """Every process of the cluster must reach ``uris``: memory:// lives in one process."""
    for uri in uris:
        if storage.check_scheme(uri) == "memory":
            raise ConfigError(f"{uri}: memory:// lives in one process; Ray workers cannot see it")


def _submitted_job() -> dict[str, Any]:
    """The job config Ray's job API hands the driver it starts (empty when run directly)."""
    return json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")


def submission_id() -> str | None:
    """The submission id of the Ray job this process is the driver of (``ray job submit``,
    or the Serve jobs API), or None when it was started directly."""
    return (_submitted_job().get("metadata") or {}).get("job_submission_id")


# One block is one actor task: many small blocks keep the replicas evenly busy; the cap
# bounds the scheduling overhead of very large prefixes.
MAX_BLOCKS = 1000


def replica_items(items: list[dict[str, Any]]) -> Any:  # noqa: ANN401 - a ray.data.Dataset
    """Ray Data rows of ``items`` for a replica pool, a block each up to ``MAX_BLOCKS``.
    Quiet: a job's output is its own lines, not Ray Data's progress bars (the dashboard's
    Data view shows the progress)."""
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS))


def replica_pool_args(rep: ReplicaConfig) -> dict[str, Any]:
    """Ray Data arguments for an autoscaling actor pool of model replicas (the images job)."""
    import ray

    return {
        "compute": ray.data.ActorPoolStrategy(min_size=rep.min_replicas, max_size=rep.max_replicas),
        "num_cpus": rep.num_cpus_per_replica,
        "num_gpus": rep.num_gpus_per_replica or None,
    }


def load_replica(upscale: UpscaleConfig, threads: int | None) -> Upscaler:
    """The model of one replica process, with torch limited to ``threads`` threads."""
    import torch

    from rayapp.upscaler import Upscaler

    if threads:
        torch.set_num_threads(threads)
    upscaler = Upscaler.from_config(upscale)
    log.info("replica ready in pid %d: %s", os.getpid(), upscale.model)
    return upscaler
