"""The Ray runner: model replicas as Ray actors, fed runs of frames decoded by Ray tasks.

Replicas start when the runner is made, before the job probes and plans, so their model
loads meanwhile: the first ``min_replicas`` at once, more (up to ``max_replicas``) as soon
as the plan shows work for them (a run each). Each replica says when it is ready, on what
device and in what precision, and how many chunks it encodes at once (its encoder pool,
sized from its share of its node's CPUs); one whose model fails to load fails the job with
that error. How a job's runs go through them (decoded ahead, one per free encoder, retried
when a replica dies, encoders shared by the jobs running at once): ``_ray_schedule``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import ray

from rayapp.config import ReplicaConfig, UpscaleConfig
from rayapp.errors import RayappError
from rayapp.pipeline.cluster import (
    check_shared,
    ensure_ray,
    node_resources,
    replica_cpus,
    replica_node,
    replica_threads,
    without_huge_pages,
)
from rayapp.pipeline.progress import chunk_retries
from rayapp.pipeline.runners._schedule import REPLICA_LOST, Lanes, Schedule
from rayapp.pipeline.stages import FrameUpscaler, UpscaleEncode
from rayapp.pipeline.work import OnChunk, PipelineWork

__all__ = ["RayRunner"]

T = TypeVar("T")

# A replica's calls run in threads (Ray's threaded actor), so that it encodes several chunks
# at once; the scheduler gives it no more than its encoder pool.
_MAX_CONCURRENCY = 64


class UpscaleEncodeReplica:
    """``UpscaleEncode`` as a Ray actor, its encoders sized from its share of its node's
    CPUs (``replicas``); with its model on a GPU, its process has no transparent huge
    pages (``_memory``). A model that fails to load does not kill the actor (Ray would keep
    only the error's text and restart it): every call raises it instead."""

    def __init__(self, *args: Any, replicas: ReplicaConfig, **kwargs: Any) -> None:
        self._error: Exception | None = None
        try:
            cpus = replica_cpus(replicas, *node_resources())
            self._stage = UpscaleEncode(
                *args, cpus=cpus, encoders=replicas.encoders_per_replica, **kwargs
            )
            if self._stage.model_on_gpu:
                without_huge_pages()
        except Exception as e:  # noqa: BLE001 - raised again by every call, with its type
            self._error = e

    def describe(self, settings: Any) -> dict[str, str]:
        return self._ready().describe(settings)

    def encode_chunk(self, job: Any, run: dict[str, Any]) -> dict[str, Any]:
        return self._ready().encode_chunk(job, run)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def _ready(self) -> UpscaleEncode:
        if self._error is not None:
            raise self._error
        return self._stage


def _unanswered(refs: list[Any]) -> list[Any]:
    """Of the answers no job read, those not in yet (the rest are read now, errors and
    all, so that an archive's list of them stays as short as its calls in flight)."""
    if not refs:
        return refs
    done, left = ray.wait(refs, num_returns=len(refs), timeout=0)
    for ref in done:
        with contextlib.suppress(ray.exceptions.RayError, RayappError):
            ray.get(ref)
    return left


class RayRunner:
    """Runs a job's runs on the Ray cluster this process is connected to (or a local one)."""

    def __init__(
        self,
        upscale: UpscaleConfig,
        replicas: ReplicaConfig,
        upscaler: FrameUpscaler | None,
        max_chunk_retries: int,
    ) -> None:
        ensure_ray()
        self._config = replicas
        self._retries = max_chunk_retries
        self._actor = ray.remote(UpscaleEncodeReplica).options(
            num_cpus=replicas.num_cpus_per_replica,
            num_gpus=replicas.num_gpus_per_replica,
            max_restarts=-1,  # a replica that dies is started again...
            max_task_retries=0,  # ...and its chunk given out again by this runner, counted
            max_concurrency=_MAX_CONCURRENCY,
        )
        self._args = (upscale,)
        self._retried = chunk_retries(upscale.model)
        self._kwargs = {
            "upscaler": upscaler,
            "threads": replica_threads(replicas),
            "replicas": replicas,
            "metrics": True,
        }
        self._replicas: list[Any] = []
        self._lanes = Lanes()
        self._grown = threading.Lock()
        self._unread: list[Any] = []  # answers of calls the jobs no longer wait for
        self._grow(replicas.min_replicas)

    concurrent = True  # jobs may run at once, from several threads (they share the lanes)

    def _grow(self, count: int) -> None:
        with self._grown:
            for _ in range(max(0, count - len(self._replicas))):
                self._lanes.add()
                self._replicas.append(self._actor.remote(*self._args, **self._kwargs))

    def run(self, work: PipelineWork, on_chunk: OnChunk) -> None:
        check_shared(work.uri, work.job.work)
        # As many replicas as there are runs, up to max_replicas.
        self._grow(min(self._config.max_replicas, len(work.runs)))
        schedule = Schedule(
            self._replicas[:], self._lanes, work, on_chunk, self._retries, self._retried
        )
        try:
            schedule.run()
        finally:
            self._unread = _unanswered([*self._unread, *schedule.unread()])

    def node(self) -> tuple[float, float] | None:
        return replica_node(self._config)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a replica (its process has torch loaded), the next one if it
        is lost meanwhile."""
        for replica in self._replicas:
            with contextlib.suppress(*REPLICA_LOST):
                return ray.get(replica.call.remote(fn, *args))
        return fn(*args)  # no replica left: here, importing what it needs

    def close(self) -> None:
        for replica in self._replicas:
            ray.kill(replica)
        self._replicas = []
        # Read what is left (errors, once the replicas are gone), or Ray reports each answer
        # never read as an unhandled error on the job's stderr.
        for ref in self._unread:
            with contextlib.suppress(ray.exceptions.RayError, RayappError):
                ray.get(ref, timeout=10)
        self._unread = []
