"""upscale_video_local: the sequential driver, probe -> segments -> decode -> upscale ->
chunk encode -> assemble, in one process. The Ray pipeline runs the same pieces in tasks
and actors; this driver is the reference for what they must produce.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from rayapp import storage
from rayapp.config import DEFAULT_CHUNK_FRAMES, DEFAULT_MICRO_BATCH, DEFAULT_SEGMENT_S
from rayapp.errors import ConfigError, VideoError
from rayapp.video._assemble import assemble
from rayapp.video._codecs import EncodeSettings
from rayapp.video._decode import DecodedFrame, decode_segment
from rayapp.video._encode import Chunk, ChunkEncoder, chunk_uri
from rayapp.video._info import MediaInfo
from rayapp.video._plan import plan_job
from rayapp.video._segments import Run

__all__ = ["FrameUpscaler", "UpscaleResult", "upscale_video_local"]

log = logging.getLogger(__name__)


@runtime_checkable
class FrameUpscaler(Protocol):
    """What the video pipeline needs from a model replica."""

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the upscaled frame."""
        ...

    def upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        """frames: NHWC RGB uint8 (or uint16) -> NHWC, same dtype, of ``output_size``."""
        ...


@dataclass(frozen=True)
class UpscaleResult:
    output_uri: str
    frames: int
    duration_s: float
    input_size: tuple[int, int]  # (width, height)
    output_size: tuple[int, int]  # (width, height)
    video_codec: str
    segments: int
    chunks_reused: int
    elapsed_s: float


def upscale_video_local(
    input_uri: str,
    output_uri: str,
    upscaler: FrameUpscaler,
    *,
    codec: str = "libx264",
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    segment_s: float = DEFAULT_SEGMENT_S,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    batch_size: int = DEFAULT_MICRO_BATCH,
    work_uri: str | None = None,
    progress: bool = False,
) -> UpscaleResult:
    """Upscale the video at ``input_uri`` into ``output_uri`` (container from its extension).

    Chunks go under ``work_uri``; an existing chunk there is reused (resume). Without a
    ``work_uri`` a temporary directory is used and removed. Everything that can be checked
    before decoding (codec, container, frame size) is checked first.
    """
    started = time.monotonic()
    if batch_size < 1:
        raise ConfigError(f"Expected batch_size >= 1, but got {batch_size}")
    settings = EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt)
    job = plan_job(
        input_uri,
        output_uri,
        settings,
        upscaler.output_size,
        segment_s=segment_s,
        chunk_frames=chunk_frames,
    )
    info, segments, size = job.info, job.segments, job.size
    log.info(
        "%s: %d frames, %d segments, %dx%d -> %dx%d %s",
        input_uri,
        info.video.frame_count,
        len(segments),
        info.video.width,
        info.video.height,
        size[1],
        size[0],
        codec,
    )
    reused = 0
    with (
        _work_dir(work_uri) as work,
        tqdm(
            total=info.video.frame_count, unit="frame", disable=not progress, desc="upscale"
        ) as bar,
    ):
        chunks = []
        for segment in segments:
            todo = []
            for run in (r for r in job.runs if r.segment == segment.index):
                uri = chunk_uri(work, run.start)
                if work_uri is not None and storage.exists(uri):
                    chunks.append(Chunk(uri, run.start, run.frame_count))
                    reused += 1
                    bar.update(run.frame_count)
                else:
                    todo.append(run)
            if todo:
                frames = decode_segment(info.uri, segment, depth=job.depth)
                for run in todo:
                    chunks.append(
                        _upscale_run(
                            info, frames, run, work, upscaler, settings, size, batch_size, bar
                        )
                    )
        assembled = assemble(chunks, info, output_uri, plan=job.output)
    return UpscaleResult(
        output_uri=output_uri,
        frames=assembled.frames,
        duration_s=info.video.duration_s,
        input_size=(info.video.width, info.video.height),
        output_size=(assembled.width, assembled.height),
        video_codec=assembled.video_codec,
        segments=len(segments),
        chunks_reused=reused,
        elapsed_s=time.monotonic() - started,
    )


def _upscale_run(
    info: MediaInfo,
    frames: Iterator[DecodedFrame],
    run: Run,
    work: str,
    upscaler: FrameUpscaler,
    settings: EncodeSettings,
    size: tuple[int, int],
    batch_size: int,
    bar: tqdm,
) -> Chunk:
    """Encode the frames of ``run`` (taken from the segment's decoder) into one chunk."""
    height, width = size
    uri = chunk_uri(work, run.start)
    wanted = (f for f in frames if f.frame_index >= run.start)
    with ChunkEncoder(uri, info.video, height=height, width=width, settings=settings) as enc:
        for batch in _batches(itertools.islice(wanted, run.frame_count), batch_size):
            images = np.stack([f.image for f in batch])
            upscaled = upscaler.upscale_batch(images)
            expected = (len(batch), height, width, 3)
            if upscaled.shape != expected or upscaled.dtype != images.dtype:
                raise VideoError(
                    f"Expected the upscaler to return {expected} {images.dtype}, but got "
                    f"{upscaled.shape} {upscaled.dtype} (frames {batch[0].frame_index}-"
                    f"{batch[-1].frame_index})"
                )
            for frame, image in zip(batch, upscaled, strict=True):
                enc.write(image, frame_index=frame.frame_index, pts=frame.pts)
            bar.update(len(batch))
    if enc.chunk is None or enc.chunk.frame_count != run.frame_count:
        raise VideoError(f"{uri}: expected frames {run.start}-{run.stop - 1} in the chunk")
    return enc.chunk


def _batches(frames: Iterable[DecodedFrame], size: int) -> Iterator[list[DecodedFrame]]:
    batch: list[DecodedFrame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@contextlib.contextmanager
def _work_dir(work_uri: str | None) -> Iterator[str]:
    if work_uri is not None:
        yield work_uri
        return
    with tempfile.TemporaryDirectory(prefix="rayapp-video-") as tmp:
        yield tmp
