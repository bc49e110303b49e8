"""The CPUs of a training run: each worker's and each data task's, fitted to the cluster.

A Ray Train worker holds its CPUs for the whole run; the data path (each worker's Ray
tasks, which decode and degrade its batches) runs in what the workers leave. Workers that
leave it no room would wait forever for batches no task can make: such a request is refused
before training starts, naming flags that fit.

What is not given is derived from the cluster: the workers share half its CPUs (a GPU worker
takes at most 1: it only feeds its GPU), and a data task takes 1 CPU, or what the workers
leave divided among them when that is less (one task per worker at a time, on a small
machine). No share is more than the largest node has: a worker or a task runs on one node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rayapp.errors import ConfigError
from rayapp.train._config import TrainJobConfig

__all__ = ["ClusterCpus", "TrainCpus", "cluster_cpus", "train_cpus"]

_GRAIN = 10_000  # shares are rounded down to 1e-4 CPU, Ray's resource precision


@dataclass(frozen=True)
class ClusterCpus:
    """The CPUs a run can count on: in all, and on the largest node."""

    total: float
    largest_node: float


@dataclass(frozen=True)
class TrainCpus:
    """What each worker and each decode-and-degrade task reserves."""

    per_worker: float
    per_data_task: float


def cluster_cpus() -> ClusterCpus:
    """The CPUs of the cluster Ray is connected to: its live nodes', or, on an autoscaling
    cluster, the most its node types add up to (as Ray Train checks its own workers)."""
    import ray

    from rayapp.pipeline.cluster.ray_internals import autoscaler_cpus

    nodes = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n["Alive"]]
    total, largest = sum(nodes), max(nodes, default=0.0)
    scaling = autoscaler_cpus()  # None unless an autoscaler runs the cluster
    if scaling is not None:
        most, types = scaling
        total, largest = max(total, most), max([largest, *types])
    return ClusterCpus(total, largest)


def train_cpus(config: TrainJobConfig, cluster: ClusterCpus) -> TrainCpus:
    """The config's CPUs on ``cluster``, those not given derived from it; a ConfigError that
    names flags that fit when the workers would leave the data path no room."""
    gpu = config.num_gpus_per_worker > 0
    cpus = _derive(cluster, config.workers, gpu, config.cpus_per_worker, config.data_cpus)
    why = _misfit(cpus, cluster, config.workers)
    if why is None:
        return cpus
    asked = f"--workers {config.workers}"
    if config.cpus_per_worker is not None:
        asked += f" --cpus-per-worker {config.cpus_per_worker:g}"
    if config.data_cpus is not None:
        asked += f" --data-cpus {config.data_cpus:g}"
    fits = _fitting(cluster, config.workers, gpu, config.cpus_per_worker)
    hint = f"; these fit: {' or '.join(fits)}" if fits else ""
    raise ConfigError(f"{asked} cannot train on this cluster: {why}{hint}")


def _derive(
    cluster: ClusterCpus, workers: int, gpu: bool, per_worker: float | None, per_task: float | None
) -> TrainCpus:
    if per_worker is None:
        share = cluster.total / 2
        if per_task is not None:  # the workers leave room for at least that task
            share = min(share, cluster.total - per_task)
        per_worker = _floor(min(share / workers, 1.0 if gpu else math.inf, cluster.largest_node))
    if per_task is None:
        left = (cluster.total - workers * per_worker) / workers
        per_task = _floor(min(1.0, left, cluster.largest_node))
    return TrainCpus(per_worker, per_task)


def _misfit(cpus: TrainCpus, cluster: ClusterCpus, workers: int) -> str | None:
    """Why ``cpus`` cannot train on ``cluster``, or None when they fit."""
    largest = cluster.largest_node
    for what, need in (("a worker", cpus.per_worker), ("a data task", cpus.per_data_task)):
        if need > largest:
            return f"{what} of {need:g} CPUs fits on no node (the largest has {largest:g})"
    if cpus.per_worker <= 0:
        return f"its {cluster.total:g} CPUs cannot hold a worker and a data task"
    held = workers * cpus.per_worker
    room = cluster.total - held
    if 0 < cpus.per_data_task <= room + 0.5 / _GRAIN:
        return None
    task = f" (a data task needs {cpus.per_data_task:g})" if cpus.per_data_task > 0 else ""
    return (
        f"the workers ({workers} x {cpus.per_worker:g} CPU) hold {held:g} of its "
        f"{cluster.total:g} CPUs, leaving the data path {max(room, 0):g}{task}: no batch "
        "would ever come"
    )


def _fitting(cluster: ClusterCpus, workers: int, gpu: bool, per_worker: float | None) -> list[str]:
    """Flags that fit: as many workers with derived CPUs, and, for a given ``per_worker``,
    the most workers of it that leave the data path room."""
    options: list[tuple[int, float | None]] = [(workers, None)]
    if per_worker is not None:
        options.append((math.ceil(cluster.total / per_worker) - 1, per_worker))
    found: list[str] = []
    for n, given in options:
        cpus = _derive(cluster, n, gpu, given, None) if n >= 1 else None
        if cpus is None or _misfit(cpus, cluster, n) is not None:
            continue
        flags = f"--workers {n} --cpus-per-worker {cpus.per_worker:g}"
        flags += f" --data-cpus {cpus.per_data_task:g}"
        if flags not in found:
            found.append(flags)
    return found


def _floor(cpus: float) -> float:
    return math.floor(cpus * _GRAIN + 1e-6) / _GRAIN
