"""How a node's CPUs are shared among the replicas on it, and inside a replica between its
model and its encoders.

On a GPU node the model is not the bound: an H200 upscales 640x480 x4 in ~4.4 ms a frame,
while libx264 at 2560x1920 does ~3 frames/s per core. So a replica whose model runs on a
GPU spends its share of the node's CPUs on encoders: several chunks encode side by side,
one single-threaded x264 per CPU (more chunks at once scale better than more threads in
one x264: no slices or frame threads to wait on), while its next run goes through the
model. A replica whose model runs on the CPU gives the model and the encoder the same
cores in turn: one chunk at a time, every thread to each.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from rayapp.config import ReplicaConfig

__all__ = [
    "EncoderPool",
    "encoder_pool",
    "job_lanes",
    "replica_cpus",
    "replica_threads",
    "torch_threads",
]


@dataclass(frozen=True)
class EncoderPool:
    """``encoders`` chunks encoded at once by one replica, each with ``threads`` threads."""

    encoders: int
    threads: int

    @property
    def cpus(self) -> int:
        return self.encoders * self.threads


def replica_threads(rep: ReplicaConfig) -> int:
    """torch threads per replica: as configured, else this host's cores / max replicas."""
    return rep.threads_per_replica or max(1, (os.cpu_count() or 1) // rep.max_replicas)


def replica_cpus(rep: ReplicaConfig, node_cpus: float, node_gpus: float) -> float:
    """The CPUs of its node one replica may keep busy: a GPU replica's share of them is its
    share of the node's GPUs (four replicas at 0.25 GPU on a 16-CPU, 1-GPU node: 4 each);
    otherwise the node's CPUs over the replicas that fit on it (at most ``max_replicas``)."""
    if rep.num_gpus_per_replica and node_gpus:
        return node_cpus * min(1.0, rep.num_gpus_per_replica / node_gpus)
    fit = max(1, min(rep.max_replicas, int(node_cpus // rep.num_cpus_per_replica)))
    return node_cpus / fit


def encoder_pool(cpus: float, *, model_on_gpu: bool, encoders: int | None = None) -> EncoderPool:
    """A replica's encoders on ``cpus`` CPUs (module docstring): on a GPU, one
    single-threaded encoder per CPU; on the CPU, one encoder with every CPU's thread.
    ``encoders``: as many as configured, the CPUs split between them. Never more threads in
    all than CPUs (at least one)."""
    cores = max(1, int(cpus))
    if encoders:
        return EncoderPool(encoders, max(1, cores // encoders))
    if model_on_gpu:
        return EncoderPool(cores, 1)
    return EncoderPool(1, cores)


def job_lanes(rep: ReplicaConfig, node_cpus: float, node_gpus: float, *, model_on_gpu: bool) -> int:
    """The chunks a job makes at once, which its chunk size is cut for: ``max_replicas``
    replicas, each with its encoders (``encoder_pool`` of its share of a node of
    ``node_cpus`` CPUs and ``node_gpus`` GPUs). A replica whose model runs on the CPU makes
    one chunk at a time: the job's lanes are then its replicas."""
    cpus = replica_cpus(rep, node_cpus, node_gpus)
    pool = encoder_pool(cpus, model_on_gpu=model_on_gpu, encoders=rep.encoders_per_replica)
    return rep.max_replicas * pool.encoders


# torch's thread count is the process's: the callers that set their own take turns.
_TORCH_THREADS = threading.Lock()


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch on ``threads`` CPU threads while inside (None: as it is), then as it was."""
    if threads is None:
        yield
        return
    import torch

    with _TORCH_THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)
