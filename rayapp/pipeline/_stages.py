"""The Ray Data stages of the video pipeline: plain callables that also work without Ray.

- ``decode_runs`` (CPU task): one segment row -> one row per run of consecutive frames,
  ``{frames: NHWC uint8/uint16 RGB, pts: int64[N], first_frame_index}``: low-resolution
  frames travel through the object store.
- ``UpscaleEncode`` (actor = one model replica): one run -> one encoded chunk under the work
  prefix, ``{chunk_uri, first_frame_index, frame_count, elapsed_s}``. High-resolution frames
  never leave the replica that made them.
"""

from __future__ import annotations

import logging
import pickle
import time
from typing import Any

import numpy as np

from rayapp.config import UpscaleConfig
from rayapp.errors import RayappError, VideoError
from rayapp.pipeline._cluster import load_replica
from rayapp.pipeline._metrics import ReplicaMetrics
from rayapp.pipeline._resume import record_chunk
from rayapp.video import ChunkEncoder, EncodeSettings, Segment, VideoStreamInfo, chunk_uri
from rayapp.video._decode import decode_segment

__all__ = ["ChunkFailedError", "decode_runs", "UpscaleEncode"]

log = logging.getLogger(__name__)


class ChunkFailedError(VideoError):
    """A chunk's frames could not be upscaled or encoded."""


def decode_runs(row: dict[str, Any], *, uri: str, depth: int) -> list[dict[str, Any]]:
    """Decode one segment (``row["segment"]``: a pickled Segment) into its requested runs."""
    segment: Segment = pickle.loads(row["segment"])
    wanted = [tuple(r) for r in row["runs"]]  # [(start, stop), ...] inside the segment
    frames: list[np.ndarray] = []
    pts: list[int] = []
    out: list[dict[str, Any]] = []
    bounds = dict(wanted)
    start = None
    for frame in decode_segment(uri, segment, depth=depth):
        if start is None and frame.frame_index in bounds:
            start = frame.frame_index
        if start is None:
            continue  # a run already finished on an earlier attempt
        frames.append(frame.image)
        pts.append(frame.pts)
        if frame.frame_index + 1 == bounds[start]:
            out.append(
                {
                    "frames": np.stack(frames),
                    "pts": np.asarray(pts, np.int64),
                    "first_frame_index": start,
                }
            )
            frames, pts, start = [], [], None
    if start is not None or len(out) != len(wanted):
        raise VideoError(
            f"Segment {segment.index}: decoded {len(out)} of {len(wanted)} runs of frames "
            f"{segment.start}-{segment.stop - 1}"
        )
    return out


class UpscaleEncode:
    """One model replica: upscales runs of frames and encodes each into a chunk."""

    def __init__(
        self,
        upscale: UpscaleConfig,
        settings: EncodeSettings,
        source: VideoStreamInfo,
        work: str,
        micro_batch: int = 1,
        threads: int | None = None,
    ) -> None:
        self._upscaler = load_replica(upscale, threads)
        self._settings = settings
        self._source = source
        self._work = work
        self._micro_batch = micro_batch
        self._size = self._upscaler.output_size(source.height, source.width)
        self._metrics = ReplicaMetrics(upscale.model)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self._encode_run(batch, i) for i in range(len(batch["first_frame_index"]))]
        return {k: np.asarray([r[k] for r in results]) for k in results[0]}

    def _encode_run(self, batch: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        frames, pts = batch["frames"][i], batch["pts"][i]
        first = int(batch["first_frame_index"][i])
        last = first + len(frames) - 1
        started = time.monotonic()
        uri = chunk_uri(self._work, first)
        height, width = self._size
        with self._metrics.busy():
            try:
                with ChunkEncoder(
                    uri, self._source, height=height, width=width, settings=self._settings
                ) as enc:
                    for j in range(0, len(frames), self._micro_batch):
                        up = self._upscaler.upscale_batch(frames[j : j + self._micro_batch])
                        for k, image in enumerate(up):
                            enc.write(image, frame_index=first + j + k, pts=int(pts[j + k]))
                        self._metrics.frames(len(up))
            except RayappError as e:
                raise ChunkFailedError(f"Frames {first}-{last} failed: {e}") from e
        assert enc.chunk is not None  # set on a clean exit of the with block
        record_chunk(self._work, enc.chunk)
        elapsed = time.monotonic() - started
        self._metrics.chunk_done(elapsed)
        return {
            "chunk_uri": uri,
            "first_frame_index": first,
            "frame_count": len(frames),
            "elapsed_s": elapsed,
        }
