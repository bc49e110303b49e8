"""The video job's two runners: the same stages in a loop in this process, or on Ray.

A runner is made before the job plans (so that the Ray runner's replicas load their model
meanwhile), is given a :class:`PipelineWork` (the runs still to make, and how) and reports
each finished chunk to ``on_chunk`` as it arrives. Neither plans, resumes or assembles: the
job does that once, for both (``rayapp.pipeline.video._job``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal, Protocol, TypeVar

from rayapp import storage
from rayapp.config import VideoJobConfig
from rayapp.pipeline.stages import FrameUpscaler, UpscaleEncode, decode_runs, segment_rows
from rayapp.pipeline.work import ChunkRecord, OnChunk, PipelineWork, work_base

__all__ = ["RUNNERS", "ChunkRunner", "LocalRunner", "Runner", "open_runner"]

T = TypeVar("T")
Runner = Literal["ray", "local", "ray-data", "ray-data-fused"]


class ChunkRunner(Protocol):
    # Whether jobs may call ``run`` at once from several threads (an archive's videos).
    concurrent: bool

    def run(self, work: PipelineWork, on_chunk: OnChunk) -> None: ...

    def node(self) -> tuple[float, float] | None:
        """(CPUs, GPUs) of a node the replicas run on (None: none is up yet)."""
        ...

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` where the replicas live (torch is loaded there)."""
        ...

    def close(self) -> None: ...


class LocalRunner:
    """One replica in this process, on all of its CPUs: runs are decoded in this thread
    while the replica's encoders (threads: ``UpscaleEncode.pool``) make chunks, at most one
    decoded run waiting. The model loads when there is work, after the plan (so a bad input
    fails before it)."""

    concurrent = False  # each run has the CPUs to itself

    def __init__(self, config: VideoJobConfig, upscaler: FrameUpscaler | None) -> None:
        self._config = config
        self._upscaler = upscaler
        self._closed = threading.Event()  # a run in another thread stops after its chunks

    def run(self, work: PipelineWork, on_chunk: OnChunk) -> None:
        stage = UpscaleEncode(
            self._config.upscale,
            upscaler=self._upscaler,
            cpus=os.cpu_count(),
            encoders=self._config.replicas.encoders_per_replica,
        )
        runs = (
            run
            for _, row in segment_rows(work.segments, work.runs)
            for run in decode_runs(row, uri=work.uri, depth=work.depth)
        )
        pool = ThreadPoolExecutor(stage.pool.encoders, thread_name_prefix="rayapp-encode")
        pending: set[Future[dict[str, Any]]] = set()

        def finish(when: str) -> set[Future[dict[str, Any]]]:
            done, left = wait(pending, return_when=when)
            for future in done:  # an encode that failed raises here, and fails the job
                on_chunk(ChunkRecord.from_row(future.result()))
            return left

        try:
            for run in runs:
                if self._closed.is_set():
                    raise RuntimeError("the local runner was closed (the job was stopped)")
                pending.add(pool.submit(stage.encode_chunk, work.job, run))
                if len(pending) >= stage.pool.encoders:
                    pending = finish(FIRST_COMPLETED)
            finish(ALL_COMPLETED)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def node(self) -> tuple[float, float]:
        return float(os.cpu_count() or 1), 0.0

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def close(self) -> None:
        self._closed.set()


def _ray_runner(config: VideoJobConfig, upscaler: FrameUpscaler | None) -> ChunkRunner:
    from rayapp.pipeline.runners._ray import RayRunner  # Ray only when it runs the job

    return RayRunner(config.upscale, config.replicas, upscaler, config.max_chunk_retries)


def _data_runner(fused: bool) -> Callable[[VideoJobConfig, FrameUpscaler | None], ChunkRunner]:
    def make(config: VideoJobConfig, upscaler: FrameUpscaler | None) -> ChunkRunner:
        from rayapp.pipeline.runners._data import DataRunner  # Ray only when it runs the job

        return DataRunner(config.upscale, config.replicas, upscaler, encode_in_replica=fused)

    return make


RUNNERS: dict[str, Callable[[VideoJobConfig, FrameUpscaler | None], ChunkRunner]] = {
    "ray": _ray_runner,
    "local": LocalRunner,
    # The same stages as a Ray Data pipeline, measured against "ray" (README, "Ray core or
    # Ray Data"): encoding in CPU tasks, or inside the replicas.
    "ray-data": _data_runner(fused=False),
    "ray-data-fused": _data_runner(fused=True),
}


def open_runner(name: str, config: VideoJobConfig, upscaler: FrameUpscaler | None) -> ChunkRunner:
    """The runner ``name`` for ``config`` (the Ray one starts its replicas now), once the
    work folder its chunks go to and the output's folder are known writable: a job that
    could not keep its work fails before any cluster starts or any frame is decoded."""
    if name not in RUNNERS:
        raise ValueError(f"Unknown runner {name!r}. Available: {', '.join(RUNNERS)}")
    storage.check_writable(work_base(config))
    storage.check_writable(storage.parent(config.output))
    return RUNNERS[name](config, upscaler)
