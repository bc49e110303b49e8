"""The video job's stages: plain callables that both runners call (docs/architecture.md,
"The video job"). The Ray runner runs them in tasks and actors; the local runner in a loop.

- ``segment_rows``: the segments that still have runs to do -> one row each.
- ``decode_runs`` (CPU task): one segment row -> one row per run of consecutive frames,
  ``{frames: NHWC uint8/uint16 RGB, pts: int64[N], first_frame_index}``: low-resolution
  frames travel through the object store.
- ``UpscaleEncode`` (one model replica; an actor on Ray): ``encode_chunk(job, run)``: one run
  row -> one encoded chunk under the job's work prefix, ``{chunk_uri, first_frame_index,
  frame_count, ...timings}``. High-resolution frames never leave the replica that made them;
  ``encode_run`` is the upscale-and-encode itself.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from rayapp.config import UpscaleConfig
from rayapp.errors import ChunkFailedError, RayappError, VideoError
from rayapp.pipeline.certificate import chunk_quality
from rayapp.pipeline.cluster import encoder_pool
from rayapp.pipeline.progress import NoMetrics, ReplicaMetrics
from rayapp.pipeline.stages._dedup import network_sources
from rayapp.pipeline.work import ChunkRecord, EncodeJob, record_chunk
from rayapp.video import (
    Chunk,
    ChunkEncoder,
    DecodedFrame,
    EncodeSettings,
    Run,
    Segment,
    Yuv420,
    chunk_uri,
    decode_segment,
    yuv420_planes,
)

__all__ = [
    "ChunkRecord",
    "EncodeJob",
    "ForwardCost",
    "FrameUpscaler",
    "PlanesUpscaler",
    "UpscaleEncode",
    "decode_runs",
    "device_planes",
    "device_type",
    "encode_frames",
    "encode_run",
    "keep_chunk",
    "packed_captions",
    "segment_rows",
    "upscaled_frames",
    "upscaled_run",
    "upscaled_tensors",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@runtime_checkable
class FrameUpscaler(Protocol):
    """What the video pipeline needs from a model replica (``rayapp.Upscaler`` is one;
    ``rayapp.testing.NearestUpscaler`` a test double): everything it reads, declared."""

    name: str  # for the job's log and the replicas' metrics
    precision: str  # fp32, bf16, fp16, or n/a for a model that has none

    @property
    def device(self) -> object:
        """Where its frames are: ``str()`` of it is ``cpu`` or ``cuda[:<index>]`` (the
        encoder family's choice of NVENC follows it)."""
        ...

    @property
    def identity(self) -> str:
        """What decides the pixels it makes: part of the job's fingerprint, so a changed
        model never reuses an earlier run's chunks."""
        ...

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the upscaled frame."""
        ...

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """frames: NHWC RGB uint8 (or uint16) -> NHWC, same dtype, of ``output_size``, or
        of exactly (height, width) ``size``: asked only of a job whose output size is not
        the upscaler's own (a small copy restored to its recorded original size)."""
        ...

    def device_memory(self) -> int:
        """Peak bytes reserved on its GPU (0 on a CPU)."""
        ...


@runtime_checkable
class PlanesUpscaler(FrameUpscaler, Protocol):
    """A ``FrameUpscaler`` that can also hand its frames over as the encoder's own planes,
    converted where its model runs (``rayapp.Upscaler``; ``rayapp.testing``'s simulated
    GPU)."""

    def upscale_batch_yuv420(
        self, frames: np.ndarray, planes: Yuv420, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """frames: NHWC RGB uint8 -> ``(N, *planes.shape(height, width))`` uint8 at
        ``output_size`` (or ``size``), as ``upscale_batch`` would make them."""
        ...


@runtime_checkable
class TensorUpscaler(FrameUpscaler, Protocol):
    """A ``FrameUpscaler`` that can also hand its frames over where it made them, before
    they are rounded (``rayapp.Upscaler``): a stage that works on them (``--deflicker``)
    then runs on its device."""

    def upscale_batch_tensor(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> Any:
        """frames: NHWC RGB uint8/uint16 -> an ``NCHW`` float32 torch tensor in [0, 1] on
        its device, at ``output_size`` (or ``size``)."""
        ...


def segment_rows(
    segments: Sequence[Segment], runs: Sequence[Run]
) -> list[tuple[list[Run], dict[str, Any]]]:
    """Per segment that has runs to do: its runs, and the row ``decode_runs`` takes:
    ``{segment: pickled Segment, runs: [[start, stop, before, after], ...]}``."""
    by_segment: dict[int, list[Run]] = {}
    for run in runs:
        by_segment.setdefault(run.segment, []).append(run)
    return [
        (
            r,
            {
                "segment": pickle.dumps(segments[i]),
                "runs": [[x.start, x.stop, x.before, x.after] for x in r],
            },
        )
        for i, r in by_segment.items()
    ]


def decode_runs(row: dict[str, Any], *, uri: str, depth: int) -> Iterator[dict[str, Any]]:
    """Decode one segment row into its requested runs, each yielded as soon as it is whole,
    with the frames around it that a stage reading neighbours needs (``before`` frames
    first and ``after`` frames last in ``frames``, ``pts`` and ``captions``)."""
    segment: Segment = pickle.loads(row["segment"])
    wanted = deque(Run(segment.index, *map(int, r)) for r in row["runs"])
    count = len(wanted)
    reading: list[tuple[Run, list[DecodedFrame]]] = []
    emitted = 0
    for frame in decode_segment(uri, segment, depth=depth):
        while wanted and wanted[0].reads[0] <= frame.frame_index:
            reading.append((wanted.popleft(), []))
        for run, frames in reading:
            if run.reads[0] <= frame.frame_index:
                frames.append(frame)
        while reading and reading[0][0].reads[1] == frame.frame_index + 1:
            run, frames = reading.pop(0)
            if len(frames) != run.reads[1] - run.reads[0]:
                break  # reported below: a run whose first frames never came
            yield _run_row(run, frames)
            emitted += 1
    if emitted != count:
        raise VideoError(
            f"Segment {segment.index}: decoded {emitted} of {count} runs of frames "
            f"{segment.start}-{segment.stop - 1}"
        )


def _run_row(run: Run, frames: list[DecodedFrame]) -> dict[str, Any]:
    return {
        "frames": np.stack([f.image for f in frames]),
        "pts": np.asarray([f.pts for f in frames], np.int64),
        "captions": packed_captions([f.captions for f in frames]),
        "first_frame_index": run.start,
        "before": run.before,
        "after": run.after,
    }


@dataclass
class ForwardCost:
    """What a run's frames cost the model: seconds inside it, and the repeats that took the
    upscaled result of the frame before instead."""

    model_s: float = 0.0
    frames_skipped: int = 0


def upscaled_frames(
    upscaler: FrameUpscaler,
    job: EncodeJob,
    frames: np.ndarray,
    first_frame_index: int,
    cost: ForwardCost,
    planes: Yuv420 | None = None,
) -> Iterator[np.ndarray]:
    """The upscaled ``frames`` (NHWC, consecutive from ``first_frame_index``), one by one in
    order, as soon as each is made: upscaled in micro-batches, a frame that repeats the last
    one upscaled taking its result (``rayapp.pipeline.stages._dedup``). Adds to ``cost``. With
    ``planes`` (``device_planes``), each is the encoder's planes instead of RGB."""
    height, width = job.size
    size = _asked_size(upscaler, job, frames)
    one = planes.shape(height, width) if planes is not None else (height, width, 3)

    def upscale(batch: np.ndarray) -> np.ndarray:
        if planes is not None:
            upscaled = upscaler.upscale_batch_yuv420(batch, planes, size)
        elif size is None:
            upscaled = upscaler.upscale_batch(batch)
        else:
            upscaled = upscaler.upscale_batch(batch, size)
        _check_upscaled(upscaled.shape, upscaled.dtype, (len(batch), *one), batch.dtype)
        return upscaled

    yield from _through_network(job, frames, first_frame_index, cost, upscale)


def upscaled_tensors(
    upscaler: FrameUpscaler,
    job: EncodeJob,
    frames: np.ndarray,
    first_frame_index: int,
    cost: ForwardCost,
) -> Iterator[Any]:
    """``upscaled_frames``' frames as ``(1, 3, H, W)`` float32 torch tensors in [0, 1], where
    the upscaler keeps them (``TensorUpscaler``: its device), else on the CPU: for a stage
    that works on them before they are rounded (``--deflicker``)."""
    import torch

    height, width = job.size
    size = _asked_size(upscaler, job, frames)
    peak = float(np.iinfo(frames.dtype).max)

    def upscale(batch: np.ndarray) -> list[torch.Tensor]:
        if isinstance(upscaler, TensorUpscaler):
            y = upscaler.upscale_batch_tensor(batch, size)
            shape = (len(batch), 3, height, width)
            _check_upscaled(tuple(y.shape), batch.dtype, shape, batch.dtype)
        else:
            out = upscaler.upscale_batch(batch, *([size] if size else []))
            _check_upscaled(out.shape, out.dtype, (len(batch), height, width, 3), batch.dtype)
            y = torch.from_numpy(np.ascontiguousarray(out)).permute(0, 3, 1, 2).float().div_(peak)
        return [y[k : k + 1] for k in range(len(y))]

    return _through_network(job, frames, first_frame_index, cost, upscale)


def _deflickered(
    upscaled: Iterator[Any],
    frames: np.ndarray,
    job: EncodeJob,
    planes: Yuv420 | None,
    reach: tuple[int, int],
) -> Iterator[np.ndarray]:
    """The frames ``upscaled`` holds, but for the ``reach`` (before, after) around them,
    blended with their neighbours along the motion of ``frames`` (``rayapp.deflicker``,
    strength ``job.deflicker``), as RGB of ``frames``' type, or ``planes``."""
    from rayapp.deflicker import deflickered
    from rayapp.upscaler import frames_from_tensor, planes_from_tensor

    before, after = reach
    strength = job.deflicker or 0.0
    for y in deflickered(upscaled, frames, before=before, after=after, strength=strength):
        if planes is not None:
            yield planes_from_tensor(y, planes)[0]
        else:
            yield frames_from_tensor(y, frames.dtype)[0]


def _asked_size(
    upscaler: FrameUpscaler, job: EncodeJob, frames: np.ndarray
) -> tuple[int, int] | None:
    """The size to ask the upscaler for: None, its own, unless the job restores a small
    copy's recorded size."""
    own = upscaler.output_size(*frames.shape[1:3])
    return None if own == job.size else job.size


def _check_upscaled(
    shape: tuple[int, ...], dtype: Any, expected: tuple[int, ...], want: Any
) -> None:
    if tuple(shape) != expected or dtype != want:
        raise VideoError(
            f"Expected the upscaler to return {expected} {want}, but got {tuple(shape)} {dtype}"
        )


def _through_network(
    job: EncodeJob,
    frames: np.ndarray,
    first_frame_index: int,
    cost: ForwardCost,
    upscale: Callable[[np.ndarray], Sequence[T]],
) -> Iterator[T]:
    """Each of ``frames`` upscaled by ``upscale`` (a micro-batch -> one result a frame), in
    order, as soon as it is made; a frame that repeats the last one upscaled takes its
    result. Adds to ``cost``."""
    sources = network_sources(frames, job.dedup_threshold)
    through = [j for j, source in enumerate(sources) if source == j]
    cost.frames_skipped += len(frames) - len(through)
    done: dict[int, T] = {}
    written = 0
    for i in range(0, len(through), job.micro_batch):
        indices = through[i : i + job.micro_batch]
        started = time.perf_counter()
        try:
            upscaled = upscale(frames[indices])
        except VideoError as e:
            first, last = first_frame_index + indices[0], first_frame_index + indices[-1]
            raise VideoError(f"{e} (frames {first}-{last})") from e
        cost.model_s += time.perf_counter() - started
        done.update(zip(indices, upscaled, strict=True))
        while written < len(frames) and sources[written] in done:
            yield done[sources[written]]
            written += 1
        # Only the last frame upscaled can still be repeated by a later one.
        done = {indices[-1]: done[indices[-1]]}


# A run's caption triplets travel as one uint8 array: a row per frame, its length first.
_CAPTION_ROW = 1 + 31 * 3


def packed_captions(captions: Sequence[bytes]) -> np.ndarray:
    """Each frame's caption bytes (``DecodedFrame.captions``) as rows of one array."""
    out = np.zeros((len(captions), _CAPTION_ROW), np.uint8)
    for row, data in zip(out, captions, strict=True):
        row[0] = len(data)
        row[1 : 1 + len(data)] = np.frombuffer(data, np.uint8)
    return out


def unpacked_captions(packed: np.ndarray | None, count: int) -> list[bytes]:
    """``packed_captions`` back to bytes per frame (none: b"" for each of ``count``)."""
    if packed is None:
        return [b""] * count
    return [bytes(row[1 : 1 + int(row[0])]) for row in packed]


def encode_frames(
    job: EncodeJob,
    images: Iterable[np.ndarray],
    pts: np.ndarray,
    first_frame_index: int,
    device: str,
    threads: int = 0,
    captions: np.ndarray | None = None,
) -> Chunk:
    """Encode ``images`` (upscaled, one per ``pts``, from ``first_frame_index``) into one
    chunk under the work prefix, with the encoder ``job.settings`` gives frames on
    ``device`` (``cpu`` or ``cuda``) and ``threads`` threads (0: the encoder's own choice);
    ``captions``: the source frames' (``packed_captions``), written with them."""
    height, width = job.size
    uri = chunk_uri(job.work, first_frame_index)
    settings = job.settings.for_device(device)
    encoder = ChunkEncoder(
        uri, job.source, height=height, width=width, settings=settings, threads=threads
    )
    cc = unpacked_captions(captions, len(pts))
    with encoder as enc:
        for i, image in enumerate(images):
            enc.write(image, frame_index=first_frame_index + i, pts=int(pts[i]), captions=cc[i])
    if enc.chunk is None or enc.chunk.frame_count != len(pts):
        raise VideoError(f"{uri}: expected {len(pts)} frames in the chunk")
    return enc.chunk


def keep_chunk(
    job: EncodeJob,
    chunk: Chunk,
    source: np.ndarray,
    frames_skipped: int,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """Once ``chunk`` is written: its sampled quality, measured against its run's
    ``source`` frames (``_sampled.chunk_quality``, on ``threads`` torch threads), kept in
    its record under the work prefix with its skipped repeats (what a rerun reuses);
    returns the quality."""
    depth = 16 if source.dtype == np.uint16 else 8
    quality = chunk_quality(chunk, source, job.sampled_pairs, job.sampled, depth, threads)
    record_chunk(job.work, chunk, frames_skipped, quality)
    return quality


@dataclass(frozen=True)
class EncodedRun:
    chunk: Chunk
    model_s: float  # seconds inside the model
    frames_skipped: int  # frames that took the upscaled result of the one they repeat
    encoder: str


def upscaled_run(
    upscaler: FrameUpscaler,
    job: EncodeJob,
    frames: np.ndarray,
    first_frame_index: int,
    cost: ForwardCost,
    planes: Yuv420 | None = None,
    *,
    before: int = 0,
    after: int = 0,
) -> Iterator[np.ndarray]:
    """A run's chunk frames upscaled, one by one: ``frames[before : len(frames) - after]``
    (the first is frame ``first_frame_index``); when the job asks for --deflicker, blended
    with their neighbours (``rayapp.deflicker``, which reads the frames around them: they
    are upscaled too, on the upscaler's device where it hands them over there), else as
    ``upscaled_frames`` makes them."""
    if job.deflicker is not None:
        tensors = upscaled_tensors(upscaler, job, frames, first_frame_index - before, cost)
        return _deflickered(tensors, frames, job, planes, (before, after))
    core = frames[before : len(frames) - after]
    return upscaled_frames(upscaler, job, core, first_frame_index, cost, planes)


def encode_run(
    upscaler: FrameUpscaler,
    job: EncodeJob,
    frames: np.ndarray,
    pts: np.ndarray,
    first_frame_index: int,
    threads: int = 0,
    captions: np.ndarray | None = None,
    *,
    before: int = 0,
    after: int = 0,
) -> EncodedRun:
    """Upscale a run's chunk frames and encode them as they come into one chunk
    (``upscaled_run``, ``encode_frames``): the one upscale-and-encode of a replica, on every
    runner where the model and its encoders share a process. ``frames``, ``pts`` and
    ``captions`` hold the ``before`` and ``after`` frames around the chunk's."""
    cost = ForwardCost()
    device = device_type(upscaler)
    planes = device_planes(upscaler, job, frames.dtype)
    core = slice(before, len(frames) - after)
    images = upscaled_run(
        upscaler, job, frames, first_frame_index, cost, planes, before=before, after=after
    )
    pts, captions = pts[core], None if captions is None else captions[core]
    chunk = encode_frames(job, images, pts, first_frame_index, device, threads, captions)
    encoder = job.settings.for_device(device).spec.name
    return EncodedRun(chunk, cost.model_s, cost.frames_skipped, encoder)


def device_planes(upscaler: FrameUpscaler, job: EncodeJob, dtype: np.dtype) -> Yuv420 | None:
    """The encoder's planes for ``upscaler`` to make, when its model runs on a GPU and it
    can (``PlanesUpscaler``) and the encoder takes 8-bit 4:2:0 (``yuv420_planes``): the CPUs,
    a GPU node's bound, then neither convert RGB nor receive twice the bytes. None: RGB."""
    device = device_type(upscaler)
    if device != "cuda" or dtype != np.uint8 or not isinstance(upscaler, PlanesUpscaler):
        return None
    pix_fmt = job.settings.for_device(device).resolve_pix_fmt(job.source)
    return yuv420_planes(pix_fmt, job.source.colour)


def device_type(upscaler: FrameUpscaler) -> str:
    """``cuda`` or ``cpu``: where the upscaler's frames are (an encoder to match)."""
    return str(upscaler.device).split(":")[0]


class UpscaleEncode:
    """One model replica: upscales runs of frames and encodes each into a chunk, up to
    ``pool.encoders`` chunks at once (``encode_chunk`` is called from that many threads:
    while one chunk's frames go through the model, the others' encode).

    The model comes from ``upscale`` (loaded once, here, with torch on ``threads`` threads),
    or is given ready as ``upscaler`` (any ``FrameUpscaler``; tests use
    ``rayapp.testing.NearestUpscaler``). ``cpus``: the CPUs this replica may keep busy (its
    share of the node), which size its encoders (``rayapp.pipeline.cluster._sizing``; ``encoders``
    as configured). ``metrics`` exports Ray metrics (inside Ray only).
    """

    def __init__(
        self,
        upscale: UpscaleConfig | None = None,
        *,
        upscaler: FrameUpscaler | None = None,
        threads: int | None = None,
        cpus: float | None = None,
        encoders: int | None = None,
        metrics: bool = False,
    ) -> None:
        self._started_at = time.time()
        if upscaler is None:
            from rayapp.pipeline.cluster import load_replica

            upscaler = load_replica(upscale or UpscaleConfig(), threads)
        self._upscaler = upscaler
        self.pool = encoder_pool(
            cpus or threads or os.cpu_count() or 1,
            model_on_gpu=self.model_on_gpu,
            encoders=encoders,
        )
        # A replica whose model runs on a GPU gives its CPUs to its encoders: the sampled
        # frames' measures take one thread beside them, not torch's one per core.
        self._measure_threads = 1 if self.model_on_gpu else None
        self._replica = f"{os.getpid()}@{socket.gethostname()}"
        self._metrics = ReplicaMetrics(upscaler.name) if metrics else NoMetrics()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._ready_at = time.time()

    @property
    def model_on_gpu(self) -> bool:
        return device_type(self._upscaler) == "cuda"

    def describe(self, settings: EncodeSettings) -> dict[str, Any]:
        """Who this replica is, how it runs its model, which encoder its chunks of a job
        with ``settings`` get (its device decides a codec family's) and how many chunks it
        encodes at once: for the job's log and the scheduler."""
        up = self._upscaler
        return {
            "replica": self._replica,
            "model": up.name,
            "device": str(up.device),
            "precision": up.precision,
            "encoder": settings.for_device(device_type(up)).spec.name,
            "encoders": self.pool.encoders,
            "encoder_threads": self.pool.threads,
        }

    def encode_chunk(self, job: EncodeJob, run: dict[str, Any]) -> dict[str, Any]:
        """One run row of ``decode_runs`` -> one chunk of ``job`` (a row of its timings)."""
        frames, pts = run["frames"], run["pts"]
        first = int(run["first_frame_index"])
        before, after = int(run.get("before", 0)), int(run.get("after", 0))
        started = time.time()
        with self._lock:
            alongside = self._in_flight
            self._in_flight += 1
        try:
            with self._metrics.busy():
                made = encode_run(
                    self._upscaler,
                    job,
                    frames,
                    pts,
                    first,
                    threads=self.pool.threads,
                    captions=run.get("captions"),
                    before=before,
                    after=after,
                )
        except RayappError as e:
            last = first + len(frames) - before - after - 1
            raise ChunkFailedError(f"Frames {first}-{last} failed: {e}") from e
        finally:
            with self._lock:
                self._in_flight -= 1
        chunk = made.chunk
        source = frames[before : len(frames) - after]
        quality = keep_chunk(job, chunk, source, made.frames_skipped, self._measure_threads)
        finished = time.time()
        self._metrics.chunk_done(chunk.frame_count, made.frames_skipped, finished - started)
        return {
            "chunk_uri": chunk.uri,
            "first_frame_index": chunk.first_frame_index,
            "frame_count": chunk.frame_count,
            "frames_skipped": made.frames_skipped,
            "replica": self._replica,
            "replica_started_at": self._started_at,
            "replica_ready_at": self._ready_at,
            "started_at": started,
            "finished_at": finished,
            "model_s": made.model_s,
            "encoder": made.encoder,
            "device_memory": self._upscaler.device_memory(),
            "alongside": alongside,
            "quality": quality,
        }
