"""The Ray Data runner: the video job's stages as one Ray Data pipeline, measured against the
Ray core runner (``_ray_runner``) by the benchmark's ``encode`` section (README, "Ray core or
Ray Data").

    segment rows --decode (CPU tasks)--> runs --upscale (actor pool: the replicas)-->
    upscaled runs --encode (CPU tasks)--> chunk rows, taken by the driver as they finish

- One block per segment row (``override_num_blocks``); a decode task yields each run as its
  own block, so a run moves on as soon as it is decoded.
- ``encode_in_replica=False`` (the stages as the design draws them): the replicas upscale,
  CPU tasks encode, one single-threaded encoder per CPU; the upscaled frames travel through
  the object store (a 2560x1920 frame is 14.7 MB).
- ``encode_in_replica=True``: each replica upscales and encodes (``UpscaleEncode``, its
  encoders sized from its share of the node's CPUs as on the Ray core runner, that many runs
  at once); high-resolution frames never leave it.
- Output order does not matter (``preserve_order`` stays off): each chunk row carries its
  ``first_frame_index`` and the job orders the chunks. Ray Data retries a task whose worker
  died, and restarts a replica that died; a chunk that fails on its own fails the job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import ray
from ray.data import ActorPoolStrategy, DataContext

from rayapp.config import ReplicaConfig, UpscaleConfig
from rayapp.errors import ChunkFailedError, RayappError
from rayapp.pipeline.cluster import (
    check_shared,
    encoder_pool,
    ensure_ray,
    load_replica,
    node_resources,
    replica_cpus,
    replica_node,
    replica_threads,
    without_huge_pages,
)
from rayapp.pipeline.stages import (
    ForwardCost,
    FrameUpscaler,
    UpscaleEncode,
    decode_runs,
    device_planes,
    device_type,
    encode_frames,
    keep_chunk,
    segment_rows,
    upscaled_run,
)
from rayapp.pipeline.work import ChunkRecord, EncodeJob, OnChunk, PipelineWork

__all__ = ["DataRunner"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_DECODE_CPUS = 0.25


def _decode(batch: dict[str, np.ndarray], *, uri: str, depth: int) -> Iterator[dict[str, Any]]:
    """One segment row -> one block per run: ``{frames, pts, first_frame_index}``, a row."""
    row = {"segment": batch["segment"][0], "runs": [list(r) for r in batch["runs"][0]]}
    for run in decode_runs(row, uri=uri, depth=depth):
        yield {k: v[None] if isinstance(v, np.ndarray) else np.asarray([v]) for k, v in run.items()}


def _one(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """The run row of ``decode_runs`` a block of one row holds."""
    return {k: v[0] if k in ("frames", "pts", "captions") else int(v[0]) for k, v in batch.items()}


def _row(job: EncodeJob, source: np.ndarray, chunk: Any, made: dict[str, Any]) -> dict[str, Any]:
    """The chunk row ``ChunkRecord.from_row`` reads, once the chunk is written and kept
    (``keep_chunk``, as ``UpscaleEncode.encode_chunk`` does)."""
    quality = keep_chunk(job, chunk, source, int(made["frames_skipped"]))
    return {
        "chunk_uri": chunk.uri,
        "first_frame_index": chunk.first_frame_index,
        "frame_count": chunk.frame_count,
        "alongside": 0,
        "quality": json.dumps(quality),  # its keys differ chunk to chunk: no Arrow struct
        **made,
        "finished_at": time.time(),
    }


class _Replica:
    """A replica of the pipeline's upscale stage: loads its model once (or takes the one
    given), then upscales a run per call; with ``encode``, also encodes it (``UpscaleEncode``)
    and returns the chunk's row."""

    def __init__(
        self,
        upscale: UpscaleConfig,
        upscaler: FrameUpscaler | None,
        threads: int,
        replicas: ReplicaConfig,
        encode: bool,
    ) -> None:
        self._started_at = time.time()
        if encode:
            cpus = replica_cpus(replicas, *node_resources())
            self._stage: UpscaleEncode | None = UpscaleEncode(
                upscale,
                upscaler=upscaler,
                threads=threads,
                cpus=cpus,
                encoders=replicas.encoders_per_replica,
            )
            if self._stage.model_on_gpu:
                without_huge_pages()  # as the Ray runner's replicas (_memory)
        else:
            self._stage = None
            self._upscaler = upscaler or load_replica(upscale, threads)
        self._replica = f"{os.getpid()}@{socket.gethostname()}"
        self._ready_at = time.time()

    def __call__(self, batch: dict[str, np.ndarray], job: EncodeJob) -> dict[str, Any]:
        run = _one(batch)
        if self._stage is not None:  # encode_chunk names the frames of a chunk that fails
            row = self._stage.encode_chunk(job, run)
            return {k: [v] for k, v in {**row, "quality": json.dumps(row["quality"])}.items()}
        first, core = run["first_frame_index"], slice(run["before"], -run["after"] or None)
        try:
            return {**self._upscale(run, job), "captions": run["captions"][core][None]}
        except RayappError as e:
            last = first + len(run["pts"][core]) - 1
            raise ChunkFailedError(f"Frames {first}-{last} failed: {e}") from e

    def _upscale(self, run: dict[str, Any], job: EncodeJob) -> dict[str, Any]:
        started = time.time()
        cost = ForwardCost()
        frames, first = run["frames"], run["first_frame_index"]
        before, after = run["before"], run["after"]
        planes = device_planes(self._upscaler, job, frames.dtype)
        images = upscaled_run(
            self._upscaler, job, frames, first, cost, planes, before=before, after=after
        )
        core = slice(before, len(frames) - after)
        return {
            "upscaled": np.stack(list(images))[None],
            "source": frames[core][None],
            "pts": run["pts"][core][None],
            "first_frame_index": [first],
            "device": [device_type(self._upscaler)],
            "replica": [self._replica],
            "replica_started_at": [self._started_at],
            "replica_ready_at": [self._ready_at],
            "started_at": [started],
            "model_s": [cost.model_s],
            "frames_skipped": [cost.frames_skipped],
            "device_memory": [self._upscaler.device_memory()],
        }


def _encode(batch: dict[str, np.ndarray], *, job: EncodeJob) -> dict[str, Any]:
    """One upscaled run -> one chunk (a single-threaded encoder), its row."""
    images, pts, first = batch["upscaled"][0], batch["pts"][0], int(batch["first_frame_index"][0])
    device = str(batch["device"][0])
    try:
        chunk = encode_frames(job, images, pts, first, device, 1, batch["captions"][0])
    except RayappError as e:
        raise ChunkFailedError(f"Frames {first}-{first + len(pts) - 1} failed: {e}") from e
    made = {
        "replica": str(batch["replica"][0]),
        "frames_skipped": int(batch["frames_skipped"][0]),
        "device_memory": int(batch["device_memory"][0]),
        **{
            k: float(batch[k][0])
            for k in ("replica_started_at", "replica_ready_at", "started_at", "model_s")
        },
    }
    made["encoder"] = job.settings.for_device(device).spec.name
    return {k: [v] for k, v in _row(job, batch["source"][0], chunk, made).items()}


class DataRunner:
    """Runs a job's runs as a Ray Data pipeline on the cluster this process is connected to
    (or a local one). The replicas start with each job's pipeline (Ray Data owns them)."""

    concurrent = False  # one pipeline at a time

    def __init__(
        self,
        upscale: UpscaleConfig,
        replicas: ReplicaConfig,
        upscaler: FrameUpscaler | None,
        *,
        encode_in_replica: bool = False,
    ) -> None:
        ensure_ray()
        self._upscale = upscale
        self._replicas = replicas
        self._upscaler = upscaler
        self._encode_in_replica = encode_in_replica

    def run(self, work: PipelineWork, on_chunk: OnChunk) -> None:
        check_shared(work.uri, work.job.work)
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.raise_original_map_exception = True
        context.print_on_execution_start = False
        # A run is a block of its own (a row is megabytes): Ray Data would otherwise pack a
        # segment's runs into one block, and one replica call would take them in turn.
        context.target_max_block_size = 1 << 20
        rows = [row for _, row in segment_rows(work.segments, work.runs)]
        if not rows:
            return
        count = min(self._replicas.max_replicas, len(work.runs))
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        # As many runs at once per replica as it has encoders (it sizes them the same way).
        node = self.node() or (cpus, 0.0)
        pool = encoder_pool(
            replica_cpus(self._replicas, *node),
            model_on_gpu=True,  # encoding in a replica is for a model off the CPUs
            encoders=self._replicas.encoders_per_replica,
        ).encoders
        held = count * self._replicas.num_cpus_per_replica
        # Ray Data fuses a task stage into the next actor stage when their resources are
        # equal: decoding would then wait on the model inside the replica.
        decode_cpus = _DECODE_CPUS if held != count * _DECODE_CPUS else _DECODE_CPUS * 0.8
        data = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _decode,
            batch_size=1,
            num_cpus=decode_cpus,
            fn_kwargs={"uri": work.uri, "depth": work.depth},
        )
        encode = self._encode_in_replica
        data = data.map_batches(
            _Replica,
            batch_size=1,
            zero_copy_batch=True,
            num_cpus=self._replicas.num_cpus_per_replica,
            num_gpus=self._replicas.num_gpus_per_replica or None,
            fn_kwargs={"job": work.job},
            fn_constructor_kwargs={
                "upscale": self._upscale,
                "upscaler": self._upscaler,
                "threads": replica_threads(self._replicas),
                "replicas": self._replicas,
                "encode": encode,
            },
            compute=ActorPoolStrategy(
                size=count,
                max_tasks_in_flight_per_actor=2 * pool if encode else 2,
                max_concurrent_calls_per_actor=pool if encode else None,
                enable_true_multi_threading=encode or None,
            ),
        )
        if not encode:
            data = data.map_batches(
                _encode,
                batch_size=1,
                zero_copy_batch=True,
                num_cpus=_encode_cpus(cpus, held + decode_cpus),
                fn_kwargs={"job": work.job},
            )
        for row in data.iter_rows():
            on_chunk(ChunkRecord.from_row({**row, "quality": json.loads(row["quality"])}))

    def node(self) -> tuple[float, float] | None:
        return replica_node(self._replicas)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    def close(self) -> None:
        pass


def _encode_cpus(cpus: float, held: float) -> float:
    """CPUs an encode task asks for: a single-threaded encoder per CPU the replicas and a
    decode task leave (at least one encoder), the CPUs they leave shared between them."""
    free = max(cpus - held, 0.25)
    return free / max(1, round(free + 0.25))
