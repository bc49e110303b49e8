"""plan_segments: keyframe-aligned ranges of frames, the unit of parallel decode.

A segment is the global frame range ``[start, stop)`` (frame_index = rank of the frame's
pts among all video packet pts) plus the pts of the keyframe to seek to. Segments are
contiguous and cover every frame exactly once. A boundary is always a keyframe's rank:
every frame presented at or after a keyframe can be decoded from it, and the frames an
open GOP shows *before* its keyframe fall in the previous segment, whose decode simply
runs on past the keyframe until they come out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from rayapp.errors import ConfigError
from rayapp.video._info import MediaInfo

__all__ = ["Run", "Segment", "auto_chunk_frames", "plan_runs", "plan_segments"]

MOST_CHUNK_FRAMES = 48


@dataclass(frozen=True)
class Segment:
    """Frames ``[start, stop)`` of video stream ``stream_index``; self-contained, picklable."""

    index: int
    start: int  # first frame_index
    stop: int  # one past the last frame_index
    # pts (in time_base) of the keyframe to seek to; None: decode from the start of the file.
    seek_pts: int | None
    stream_index: int
    time_base: Fraction
    bit_depth: int
    # Sorted pts of this segment's frames: frame_pts[i] belongs to frame_index start + i.
    frame_pts: tuple[int, ...] = field(repr=False)

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


def plan_segments(info: MediaInfo, target_s: float) -> tuple[Segment, ...]:
    """Split the video into segments of about ``target_s`` seconds, cut at keyframes.

    A segment ends at the first keyframe at least ``target_s`` after its start, so segments
    are never shorter than ``target_s`` except the last; a video with keyframes far apart
    gets long segments (there is nowhere else to cut).
    """
    if not target_s > 0:
        raise ConfigError(f"Expected segment length target_s > 0 seconds, but got {target_s!r}")
    video = info.video
    pts, time_base = video.frame_pts, video.time_base
    key_pts = {k.frame_index: k.pts for k in video.keyframes}
    # Frames before the first keyframe (a stream cut mid-GOP) go to the first segment,
    # which decodes from the start of the file instead of seeking.
    cuts = [0] + [i for i in sorted(key_pts) if i > 0]
    starts = [0]
    for cut in cuts[1:]:
        if (pts[cut] - pts[starts[-1]]) * time_base >= target_s:
            starts.append(cut)
    bounds = [*starts, video.frame_count]
    return tuple(
        Segment(
            index=n,
            start=start,
            stop=stop,
            seek_pts=key_pts.get(start) if start > 0 else None,
            stream_index=video.index,
            time_base=time_base,
            bit_depth=video.bit_depth,
            frame_pts=pts[start:stop],
        )
        for n, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False))
    )


@dataclass(frozen=True)
class Run:
    """Frames ``[start, stop)`` of segment ``segment``: the frames of one encoded chunk.

    Chunks are cut deterministically (segment start, then every ``chunk_frames``), so a
    rerun finds the same chunks, and every driver (local or Ray) encodes the same ones.
    """

    segment: int
    start: int
    stop: int

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


def auto_chunk_frames(frame_count: int, min_chunks: int) -> int:
    """Frames per chunk when none is asked: at most ``MOST_CHUNK_FRAMES`` (a chunk is the
    unit of retry and resume), and few enough that a short clip still makes ``min_chunks``
    chunks, so that every replica has work."""
    return max(1, min(MOST_CHUNK_FRAMES, math.ceil(frame_count / max(1, min_chunks))))


def plan_runs(segments: tuple[Segment, ...], chunk_frames: int) -> list[Run]:
    """Cut each segment into runs of at most ``chunk_frames`` consecutive frames."""
    if chunk_frames < 1:
        raise ConfigError(f"Expected chunk_frames >= 1, but got {chunk_frames}")
    return [
        Run(seg.index, start, min(start + chunk_frames, seg.stop))
        for seg in segments
        for start in range(seg.start, seg.stop, chunk_frames)
    ]
