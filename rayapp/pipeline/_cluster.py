"""Joining a Ray cluster, only when there is work for it."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rayapp import storage
from rayapp.config import FORWARDED_ENV, ReplicaConfig, UpscaleConfig
from rayapp.entrypoint import STOP_SIGNALS
from rayapp.errors import ClusterUnreachableError, ConfigError
from rayapp.pipeline._memory import MALLOC_TUNABLES

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
        with _job_head():
            ray.init(
                address="local",
                runtime_env=runtime_env,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                logging_level=logging.ERROR,
                _system_config=_QUICK_CONNECT,
            )
    # Stopped when this process exits, before Ray's own exit hook, which first sleeps half
    # a second for worker logs: this job's lines were printed long before (exit hooks run
    # last registered first).
    atexit.register(ray.shutdown)
    log.info("started a local Ray (no RAY_ADDRESS): %s", ray.get_runtime_context().gcs_address)


# A process of the local Ray that finds a socket of another not yet open (the raylet its
# object store's, a worker its raylet's) tries again after this wait: Ray's own is a second,
# which on two busy cores delayed half the starts by a whole second. The same 10 s in all.
_QUICK_CONNECT = {
    "raylet_client_connect_timeout_milliseconds": 50,
    "raylet_client_num_connect_attempts": 200,
}

# What a local head starts that a job does not use (``_job_head``).
_UNUSED_HEAD_PROCESSES = ("start_api_server", "start_monitor")
_RAYLET_WAIT_S = 30.0  # ray.init's own bound on its raylet's registration


@contextlib.contextmanager
def _job_head() -> Iterator[None]:
    """``ray.init``'s local head as a job needs it, which Ray's ``ray.init`` cannot ask for:

    - without the API server: with ``include_dashboard=False`` it loads only usage
      statistics, yet ray.init waits for its import (1.2 s here) before it starts the raylet;
    - without the autoscaler monitor: one machine has no nodes to add. Ray also stops the GCS
      before it at shutdown, and its exit handler then waits a second on the GCS that is gone;
    - ready as soon as its raylet is: ray.init asks the GCS for the new node, and when the
      node is not there yet, asks again a whole second later. The raylet registers about a
      second after it starts (its metrics agent's import), so half the starts waited two
      seconds for it. ``_node_when_registered`` asks every 20 ms first;
    - its processes started with ``_memory.MALLOC_TUNABLES`` (unless this process's
      environment names its own ``GLIBC_TUNABLES``): a replica's encoders reuse the memory
      of the chunk before.

    The head's ``Node`` skips those starts, and Ray's ``services.get_node`` is
    ``_node_when_registered``, while ``ray.init`` runs: private Ray names, checked on each
    Ray upgrade (where one is gone, Ray does as before). The raylet, its agents (metrics,
    runtime environments) and the log monitor (workers' lines to the driver) start as
    always."""
    from ray._private import node, services

    kept = {
        name: getattr(node.Node, name)
        for name in _UNUSED_HEAD_PROCESSES
        if hasattr(node.Node, name)
    }
    for name in kept:
        setattr(node.Node, name, _not_started)
    get_node = getattr(services, "get_node", None)
    if get_node is not None:
        services.get_node = functools.partial(_node_when_registered, get_node)
    tunables = "GLIBC_TUNABLES" not in os.environ
    if tunables:
        os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    try:
        yield
    finally:
        for name, method in kept.items():
            setattr(node.Node, name, method)
        if get_node is not None:
            services.get_node = get_node
        if tunables:
            del os.environ["GLIBC_TUNABLES"]


def _node_when_registered(get_node: Callable[[str, str], Any], gcs: str, node_id: str) -> Any:
    """Ray's ``get_node(gcs, node_id)``, called once the GCS lists the node as alive: asked
    every 20 ms, for as long as ``ray.init`` waits for a raylet (30 s). Where the GCS
    cannot be asked so, Ray's call waits as before."""
    from ray._private import services, state

    deadline = time.monotonic() + _RAYLET_WAIT_S
    with contextlib.suppress(Exception):  # a private API: Ray's own call decides
        nodes = state.GlobalState()
        nodes._initialize_global_state(services._get_gcs_client_options(gcs))
        while time.monotonic() < deadline:
            if any(n["NodeID"] == node_id and n["Alive"] for n in nodes.node_table()):
                break
            time.sleep(0.02)
    return get_node(gcs, node_id)


def _not_started(*_: Any, **__: Any) -> None:
    """A head process ``_job_head`` leaves out."""


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
    from ray._private.utils import read_ray_address

    target, where = address.removeprefix("ray://"), address
    if target == "auto":
        target = read_ray_address() or ""
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
