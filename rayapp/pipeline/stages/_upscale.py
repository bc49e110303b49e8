"""A run's frames through the model: in micro-batches, a repeat taking the result of the frame
it repeats, with ``--deflicker`` blended with their neighbours (``upscaled_run``), with
``--interpolate`` and the frames made between them (``interpolated_run``), with
``--face-enhance`` and their faces restored (``with_faces``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rayapp.errors import VideoError
from rayapp.pipeline.stages._dedup import network_sources
from rayapp.pipeline.stages._upscaler import FrameUpscaler, TensorUpscaler
from rayapp.pipeline.work import EncodeJob
from rayapp.video import (
    Yuv420,
)

if TYPE_CHECKING:
    from rayapp.faces import FaceEnhancer
    from rayapp.interpolate import Interpolator

__all__ = [
    "ForwardCost",
    "interpolated_run",
    "upscaled_frames",
    "upscaled_run",
    "upscaled_tensors",
    "with_faces",
]


T = TypeVar("T")


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


def interpolated_run(
    upscaler: FrameUpscaler,
    job: EncodeJob,
    frames: np.ndarray,
    first_frame_index: int,
    cost: ForwardCost,
    interpolator: Interpolator,
    *,
    after: int = 0,
) -> Iterator[np.ndarray]:
    """A run's chunk frames with ``--interpolate`` (``job.interpolate`` = n), one by one:
    each source frame of ``frames[: len(frames) - after]`` upscaled, then the n - 1 frames
    at 1/n, 2/n, ... of the way to the next upscaled one (``interpolator``, reading the
    motion of the source frames), as RGB of ``frames``' type. ``after``: 1 when ``frames``
    ends with the source frame after the chunk (upscaled, not yielded), 0 when the chunk's
    last frame is its scene's or the video's: its new frames then repeat it, as they do
    between a frame and the one that repeats it: a cut falls on the next frame's pts, so
    until then the picture is the scene before it, and a held frame gains no motion."""
    n = job.interpolate
    times = [k / n for k in range(1, n)]
    repeats = network_sources(frames, job.dedup_threshold or 0.0)  # off: exact repeats
    upscaled = upscaled_frames(upscaler, job, frames, first_frame_index, cost)
    previous = next(upscaled, None)
    for i in range(1, len(frames)):
        current = next(upscaled)
        yield previous
        if repeats[i] == repeats[i - 1]:
            yield from [previous] * len(times)
        else:
            yield from interpolator.between(previous, current, times, (frames[i - 1], frames[i]))
        previous = current
    if previous is not None and not after:
        yield from [previous] * n


def with_faces(
    upscaled: Iterator[np.ndarray],
    frames: np.ndarray,
    enhancer: FaceEnhancer,
    *,
    before: int = 0,
    after: int = 0,
) -> Iterator[np.ndarray]:
    """``upscaled`` (the upscales of ``frames[before : len(frames) - after]``, RGB, in
    order) with the faces found in ``frames`` restored (``enhancer``), along landmarks
    steadied over the frames around each (``rayapp.faces.steady_landmarks``, which read the
    ``before`` and ``after`` frames too); a frame with no face as it came."""
    from rayapp.faces import steady_landmarks

    detections = [enhancer.detector.find(frame) for frame in frames]
    steadied = steady_landmarks(detections, range(before, len(frames) - after))
    size = frames.shape[1:3]
    for picture, landmarks in zip(upscaled, steadied, strict=True):
        yield enhancer.restored(picture, size, landmarks) if landmarks else picture
