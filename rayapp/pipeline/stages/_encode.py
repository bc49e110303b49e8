"""A run's upscaled frames into one chunk under the job's work prefix (``encode_run``), and the
chunk kept with its sampled measures (``keep_chunk``): what a rerun reuses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rayapp.errors import VideoError
from rayapp.pipeline.certificate import chunk_quality
from rayapp.pipeline.stages._decode import unpacked_captions
from rayapp.pipeline.stages._upscale import (
    ForwardCost,
    interpolated_run,
    upscaled_run,
    with_faces,
)
from rayapp.pipeline.stages._upscaler import FrameUpscaler, device_planes, device_type
from rayapp.pipeline.work import EncodeJob, record_chunk
from rayapp.video import (
    Chunk,
    ChunkEncoder,
    chunk_uri,
)

if TYPE_CHECKING:
    from rayapp.faces import FaceEnhancer
    from rayapp.interpolate import Interpolator

__all__ = ["EncodedRun", "encode_frames", "encode_run", "keep_chunk"]


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
    ``source`` frames (``_sampled.chunk_quality``, on ``threads`` torch threads; with
    ``--interpolate``, the chunk's frames made from them), kept in its record under the
    work prefix with its skipped repeats (what a rerun reuses); returns the quality."""
    depth = 16 if source.dtype == np.uint16 else 8
    quality = chunk_quality(
        chunk, source, job.sampled_pairs, job.sampled, depth, threads, step=job.interpolate
    )
    record_chunk(job.work, chunk, frames_skipped, quality)
    return quality


def _faces(upscaler: FrameUpscaler) -> FaceEnhancer:
    enhancer = getattr(upscaler, "faces", None)
    if enhancer is None:
        raise VideoError(f"--face-enhance: the upscaler {upscaler.name} restores no faces")
    return enhancer


@dataclass(frozen=True)
class EncodedRun:
    chunk: Chunk
    model_s: float  # seconds inside the model
    frames_skipped: int  # frames that took the upscaled result of the one they repeat
    encoder: str


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
    timeline: np.ndarray | None = None,
    interpolator: Interpolator | None = None,
) -> EncodedRun:
    """Upscale a run's chunk frames and encode them as they come into one chunk
    (``upscaled_run``, ``encode_frames``): the one upscale-and-encode of a replica, on every
    runner where the model and its encoders share a process. ``frames``, ``pts`` and
    ``captions`` hold the ``before`` and ``after`` frames around the chunk's. With
    ``--interpolate`` (``job.interpolate`` > 1): the frames ``interpolator`` makes between
    them too (``interpolated_run``), at the pts of ``timeline`` (every frame of the chunk),
    a source frame's captions with the first frame made from it. With ``--face-enhance``
    (``job.faces``): their faces restored by the upscaler's (``with_faces``)."""
    cost = ForwardCost()
    device = device_type(upscaler)
    core = slice(before, len(frames) - after)
    captions = None if captions is None else captions[core]
    if job.interpolate > 1:
        if timeline is None or interpolator is None:
            raise ValueError("--interpolate: a run needs its timeline and an interpolator")
        images = interpolated_run(
            upscaler, job, frames, first_frame_index, cost, interpolator, after=after
        )
        pts = timeline
        if captions is not None:  # the new frames carry none
            spread = np.zeros((len(timeline), captions.shape[1]), captions.dtype)
            spread[:: job.interpolate] = captions
            captions = spread
    else:
        enhancer = _faces(upscaler) if job.faces else None
        planes = None if enhancer else device_planes(upscaler, job, frames.dtype)
        images = upscaled_run(
            upscaler, job, frames, first_frame_index, cost, planes, before=before, after=after
        )
        if enhancer is not None:
            images = with_faces(images, frames, enhancer, before=before, after=after)
        pts = pts[core]
    chunk = encode_frames(job, images, pts, first_frame_index, device, threads, captions)
    encoder = job.settings.for_device(device).spec.name
    return EncodedRun(chunk, cost.model_s, cost.frames_skipped, encoder)
