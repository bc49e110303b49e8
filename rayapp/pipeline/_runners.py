"""The video job's two runners: the same stages on Ray Data, or in a loop in this process.

Both get a :class:`PipelineWork` (the runs still to make, and how) and report each finished
chunk to ``on_chunk`` as it arrives. Neither plans, resumes or assembles: the job does that
once, for both (``rayapp.pipeline._video``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from rayapp.config import ReplicaConfig, UpscaleConfig
from rayapp.pipeline._stages import (
    ChunkRecord,
    EncodeJob,
    FrameUpscaler,
    UpscaleEncode,
    decode_runs,
    segment_rows,
)
from rayapp.video._segments import Run, Segment

__all__ = ["RUNNERS", "PipelineWork", "run_local", "run_ray"]

OnChunk = Callable[[ChunkRecord], None]


@dataclass(frozen=True)
class PipelineWork:
    """What a runner makes: ``runs`` of the input at ``uri``, decoded at ``depth`` bits,
    upscaled by ``upscaler`` (or a model loaded from ``upscale``) and encoded per ``job``."""

    uri: str
    depth: int
    segments: tuple[Segment, ...]
    runs: tuple[Run, ...]
    job: EncodeJob
    upscale: UpscaleConfig
    upscaler: FrameUpscaler | None
    replicas: ReplicaConfig
    max_chunk_retries: int


def run_local(work: PipelineWork, on_chunk: OnChunk) -> None:
    """One replica in this process; each segment decoded as its runs are encoded."""
    encode = UpscaleEncode(work.job, work.upscale, upscaler=work.upscaler)
    for row in segment_rows(work.segments, work.runs):
        for run in decode_runs(row, uri=work.uri, depth=work.depth):
            on_chunk(ChunkRecord.from_row(encode(run)))


def run_ray(work: PipelineWork, on_chunk: OnChunk) -> None:
    """Decode tasks feeding an autoscaling actor pool of replicas, on the Ray cluster this
    process is connected to (or a local one: ``ensure_ray``)."""
    import ray

    from rayapp.pipeline._cluster import (
        check_shared,
        ensure_ray,
        replica_pool_args,
        replica_threads,
    )

    check_shared(work.uri, work.job.work)
    ensure_ray()
    rows = segment_rows(work.segments, work.runs)
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))
    ds = ds.flat_map(decode_runs, fn_kwargs={"uri": work.uri, "depth": work.depth}, num_cpus=0.25)
    ds = ds.map(
        UpscaleEncode,
        fn_constructor_args=(work.job, work.upscale),
        fn_constructor_kwargs={
            "upscaler": work.upscaler,
            "threads": replica_threads(work.replicas),
            "metrics": True,
        },
        **replica_pool_args(work.replicas),
        # A chunk whose replica died is retried on another (Ray Data's actor-pool default
        # is forever); a chunk that fails on its own fails the job at once.
        ray_remote_args_fn=functools.partial(dict, max_task_retries=work.max_chunk_retries),
    )
    for row in ds.iter_rows():
        on_chunk(ChunkRecord.from_row(row))


RUNNERS: dict[str, Callable[[PipelineWork, OnChunk], None]] = {"ray": run_ray, "local": run_local}
