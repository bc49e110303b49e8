"""Every use of Ray's private API, in one place, written for Ray ``RAY_VERSION``.

Ray's public API has no way to do these; each is kept because it is worth more than half a
second to a job or because the feature needs it. ``tests/unit/test_ray_internals.py``
fails, naming each, when the installed Ray is another release or lacks one of
``PRIVATE_NAMES``: then read them again against that release before moving the pin.

- A local head as a job needs it (``job_head``): without the API server and the autoscaler
  monitor, ready as soon as its raylet registers, its processes given glibc's malloc
  tunables (``rayapp.pipeline.cluster._memory``). ``QUICK_CONNECT``: its processes retry a
  socket that is not open yet every 50 ms instead of every second.
- The address a ``ray start --head`` left on this machine (``RAY_ADDRESS=auto``), to check
  it answers before ``ray.init`` retries it for minutes (``last_started_address``).
- The cluster's key-value store, where a job publishes its state for the Serve jobs API
  (``kv_get``, ``kv_put``, ``kv_del``, ``kv_keys``), and the dashboard address the head
  registered there (``registered_dashboard``).
- What an autoscaling cluster may grow to (``autoscaler_cpus``), and which of Ray Train's
  controller failures are its workers finding no room (``train_start_failures``), for the
  training job.
- The object store's bytes in use and spilled (``object_store_bytes``), for the benchmarks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from rayapp.pipeline.cluster._memory import MALLOC_TUNABLES

__all__ = [
    "PRIVATE_NAMES",
    "QUICK_CONNECT",
    "RAY_VERSION",
    "autoscaler_cpus",
    "job_head",
    "kv_del",
    "kv_get",
    "kv_keys",
    "kv_put",
    "last_started_address",
    "object_store_bytes",
    "registered_dashboard",
    "train_start_failures",
]

RAY_VERSION = "2.60.0"
# Each private name used here, as "module:attribute.attribute".
PRIVATE_NAMES = (
    "ray._private.node:Node.start_api_server",
    "ray._private.node:Node.start_monitor",
    "ray._private.services:get_node",
    "ray._private.services:_get_gcs_client_options",
    "ray._private.state:GlobalState._initialize_global_state",
    "ray._private.state:GlobalState.node_table",
    "ray._private.state:state.get_cluster_config",
    "ray._private.state:state.get_max_resources_from_cluster_config",
    "ray._private.utils:read_ray_address",
    "ray._private.ray_constants:DASHBOARD_ADDRESS",
    "ray._private.ray_constants:KV_NAMESPACE_DASHBOARD",
    "ray._private.internal_api:get_state_from_address",
    "ray._private.internal_api:get_memory_info_reply",
    "ray.experimental.internal_kv:_internal_kv_get",
    "ray.experimental.internal_kv:_internal_kv_put",
    "ray.experimental.internal_kv:_internal_kv_del",
    "ray.experimental.internal_kv:_internal_kv_list",
    "ray.train.v2._internal.execution.failure_handling.default:RETRYABLE_CONTROLLER_ERRORS",
)

# ``ray.init``'s ``_system_config`` for a local head: a process of it that finds a socket of
# another not yet open (the raylet its object store's, a worker its raylet's) tries again
# after 50 ms, not a second; the same 10 s in all.
QUICK_CONNECT = {
    "raylet_client_connect_timeout_milliseconds": 50,
    "raylet_client_num_connect_attempts": 200,
}

_UNUSED_HEAD_PROCESSES = ("start_api_server", "start_monitor")
_RAYLET_WAIT_S = 30.0  # ray.init's own bound on its raylet's registration


@contextlib.contextmanager
def job_head() -> Iterator[None]:
    """While it lasts, ``ray.init``'s local head starts as a job needs it:

    - without the API server: with ``include_dashboard=False`` it loads only usage
      statistics, yet ray.init waits for its import before it starts the raylet;
    - without the autoscaler monitor: one machine has no nodes to add, and at shutdown Ray
      stops the GCS first, then waits a second for a monitor that reports to it;
    - ready as soon as its raylet is: ray.init asks the GCS for the new node and, the node
      not there yet, asks again a whole second later; this asks every 20 ms first;
    - its processes started with ``MALLOC_TUNABLES`` (unless this process's environment
      names its own ``GLIBC_TUNABLES``): a replica's encoders reuse the memory of the chunk
      before.

    Where a name is gone from Ray, Ray does as it would without this. The raylet, its agents
    and the log monitor start as always."""
    from ray._private import node, services

    kept = {n: getattr(node.Node, n) for n in _UNUSED_HEAD_PROCESSES if hasattr(node.Node, n)}
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
    every 20 ms, for as long as ``ray.init`` waits for a raylet. Where the GCS cannot be
    asked so, Ray's call waits as before."""
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
    """A head process ``job_head`` leaves out."""


def last_started_address() -> str | None:
    """The address the last ``ray start --head`` on this machine left (None: none)."""
    from ray._private.utils import read_ray_address

    return read_ray_address()


def kv_get(key: str, namespace: str) -> bytes | None:
    from ray.experimental.internal_kv import _internal_kv_get

    return _internal_kv_get(key, namespace=namespace)


def kv_put(key: str, value: bytes, namespace: str) -> None:
    from ray.experimental.internal_kv import _internal_kv_put

    _internal_kv_put(key, value, overwrite=True, namespace=namespace)


def kv_del(key: str, namespace: str) -> None:
    from ray.experimental.internal_kv import _internal_kv_del

    _internal_kv_del(key, namespace=namespace)


def kv_keys(prefix: str, namespace: str) -> list[bytes]:
    from ray.experimental.internal_kv import _internal_kv_list

    return list(_internal_kv_list(prefix, namespace=namespace) or [])


def registered_dashboard() -> str | None:
    """The dashboard's address as the cluster's head registered it (None: it has none)."""
    from ray._private import ray_constants

    url = kv_get(ray_constants.DASHBOARD_ADDRESS, ray_constants.KV_NAMESPACE_DASHBOARD)
    return url.decode() if url else None


def autoscaler_cpus() -> tuple[float, list[float]] | None:
    """On a cluster an autoscaler runs: (the most CPUs its node types add up to, each node
    type's CPUs); None elsewhere."""
    from ray._private.state import state

    config = state.get_cluster_config()
    if config is None:
        return None
    types = [float(g.resources.get("CPU", 0)) for g in config.node_group_configs if g.max_count]
    most = (state.get_max_resources_from_cluster_config() or {}).get("CPU", 0)
    return float(most), types


def train_start_failures() -> tuple[type[BaseException], ...]:
    """The controller errors Ray Train tries again: its workers found no room to start."""
    from ray.train.v2._internal.execution.failure_handling.default import (
        RETRYABLE_CONTROLLER_ERRORS,
    )

    return tuple(RETRYABLE_CONTROLLER_ERRORS)


def object_store_bytes(gcs_address: str) -> tuple[int, int]:
    """(bytes in use, bytes spilled so far) of the object store of the cluster at
    ``gcs_address``."""
    from ray._private.internal_api import get_memory_info_reply

    stats = get_memory_info_reply(_state_of(gcs_address), timeout_seconds=10).store_stats
    return stats.object_store_bytes_used, stats.spilled_bytes_total


@functools.cache
def _state_of(gcs_address: str) -> Any:  # noqa: ANN401 - Ray's GlobalState
    from ray._private.internal_api import get_state_from_address

    return get_state_from_address(gcs_address)
