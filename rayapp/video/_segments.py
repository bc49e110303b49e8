"""plan_segments: keyframe-aligned ranges of frames, the unit of parallel decode.

A segment is the global frame range ``[start, stop)`` (frame_index = rank of the frame's
pts among all video packet pts) plus the pts of the keyframe to seek to. Segments are
contiguous and cover every frame exactly once. A boundary is always a keyframe's rank:
every frame presented at or after a keyframe can be decoded from it, and the frames an
open GOP shows *before* its keyframe fall in the previous segment, whose decode simply
runs on past the keyframe until they come out.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from rayapp.errors import ConfigError
from rayapp.video._info import MediaInfo

__all__ = ["Deinterlace", "Run", "Segment", "auto_chunk_frames", "plan_runs", "plan_segments"]

MOST_CHUNK_FRAMES = 48  # a chunk is the unit of retry and resume: not too much to redo
LEAST_CHUNK_FRAMES = 8
# What a chunk costs beyond its frames, in frames' worth: the encoder's start, an IDR frame,
# a first frame that always runs the network (repeats are skipped within a chunk only).
CHUNK_OVERHEAD_FRAMES = 2


@dataclass(frozen=True)
class Film:
    """Telecined film restored to its own frames (``--ivtc``): the source frame each frame
    planned shows (``kept``: one of every five dropped, ``rayapp.video._film``), and what
    the decode needs of the source to find them: every frame's pts, the keyframes'."""

    kept: tuple[int, ...]
    pts: tuple[int, ...] = field(repr=False)
    keyframes: tuple[tuple[int, int], ...] = field(repr=False)  # (frame index, pts), sorted


@dataclass(frozen=True)
class Deinterlace:
    """Deinterlace a segment's frames (``bwdif``, one frame out per frame in; with ``ivtc``,
    field matching first; with ``double``, a frame out per field) with the frames around it
    in view that the filters read, as a decode of the whole video would have them, so that
    where the video is cut never changes a frame. Without its frames (``before``, ``after``
    empty), what a job asks for: ``rayapp.video.deinterlace_for``."""

    parity: str  # the field shown first: tff, bff, or auto (each frame's own flag)
    before: tuple[int, ...] = ()  # pts of the source frames just before the segment
    before_seek_pts: int | None = None  # the keyframe to decode them from (None: the start)
    after: tuple[int, ...] = ()  # pts of the source frames just after the segment
    # Telecined film: FFmpeg's fieldmatch puts each frame's fields back with their film
    # frame's (one frame out per frame in), then bwdif only the frames still combed.
    ivtc: bool = False
    # Field rate: each source frame i is the frames 2i and 2i + 1 of the video planned (its
    # ``field_rate`` timeline); the window's pts are the source's.
    double: bool = False
    # Film rate (with ivtc): what the job plans for the whole video; a segment gets its own
    # part instead: the source frame of each of its frames, and the pts of the source frames
    # from its first to its last (those dropped between included).
    film: Film | None = None
    sources: tuple[int, ...] = ()
    source_pts: tuple[int, ...] = ()

    @property
    def reach(self) -> int:
        """Source frames the filters read on either side of a frame: bwdif one;
        fieldmatch one, so two through both."""
        return 2 if self.ivtc else 1

    @property
    def step(self) -> int:
        """Frames of the video planned per source frame."""
        return 2 if self.double else 1


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
    deinterlace: Deinterlace | None = None  # None: the frames as decoded

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


def plan_segments(
    info: MediaInfo, target_s: float, *, deinterlace: Deinterlace | None = None
) -> tuple[Segment, ...]:
    """Split the video into segments of about ``target_s`` seconds, cut at keyframes.

    A segment ends at the first keyframe at least ``target_s`` after its start, so segments
    are never shorter than ``target_s`` except the last; a video with keyframes far apart
    gets long segments (there is nowhere else to cut). ``deinterlace``: how the frames are
    deinterlaced (each segment gets the frames around it the filters read), None: not.
    """
    if not target_s > 0:
        raise ConfigError(f"Expected segment length target_s > 0 seconds, but got {target_s!r}")
    video = info.video
    pts, time_base = video.frame_pts, video.time_base
    key_pts = {k.frame_index: k.pts for k in video.keyframes}
    keys = sorted(key_pts.items())
    # Frames before the first keyframe (a stream cut mid-GOP) go to the first segment,
    # which decodes from the start of the file instead of seeking.
    cuts = [0] + [i for i, _ in keys if i > 0]
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
            deinterlace=None
            if deinterlace is None
            else _window(info, keys, start, stop, deinterlace),
        )
        for n, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False))
    )


def _window(
    info: MediaInfo, keys: list[tuple[int, int]], start: int, stop: int, how: Deinterlace
) -> Deinterlace:
    """``how`` with the source frames it reads on either side of ``[start, stop)``, and
    where to decode those before from (``keys``: the keyframes' (frame index, pts),
    sorted). At field rate, a source frame is every second frame of ``info``, at twice its
    pts."""
    if how.film is not None:
        return _film_window(how.film, start, stop, how)
    video, step = info.video, how.step
    first = max(0, start - how.reach * step)
    before = [p // step for p in video.frame_pts[first:start:step]]
    seek = _seek_pts(keys, first) if before else None
    seek = seek // step if seek is not None else None
    after = [p // step for p in video.frame_pts[stop : stop + how.reach * step : step]]
    return replace(how, before=tuple(before), before_seek_pts=seek, after=tuple(after))


def _film_window(film: Film, start: int, stop: int, how: Deinterlace) -> Deinterlace:
    """``how`` for the frames ``[start, stop)`` planned at film rate: their source frames,
    all source frames from the first to the last, those the filters read on either side,
    and the keyframe to decode from."""
    first, last = film.kept[start], film.kept[stop - 1]
    low, high = max(0, first - how.reach), min(len(film.pts), last + 1 + how.reach)
    return replace(
        how,
        film=None,
        before=film.pts[low:first],
        before_seek_pts=_seek_pts(film.keyframes, low) if low > 0 else None,
        after=film.pts[last + 1 : high],
        sources=film.kept[start:stop],
        source_pts=film.pts[first : last + 1],
    )


def _seek_pts(keys: Sequence[tuple[int, int]], index: int) -> int | None:
    """The pts of the last keyframe at or before frame ``index`` (``keys``: (frame index,
    pts), sorted), None when that is the video's first frame: decode from the start."""
    at = bisect.bisect_right(keys, (index, math.inf))
    key, pts = keys[at - 1] if at else (0, 0)
    return pts if key > 0 else None


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


def auto_chunk_frames(segments: tuple[Segment, ...], lanes: int) -> int:
    """Most frames per chunk when none is asked: ``MOST_CHUNK_FRAMES``, or on a short clip
    the size (down to ``LEAST_CHUNK_FRAMES``) whose chunks keep ``lanes`` busy to the end
    (the chunks a job makes at once: its replicas' encoders): the least time until the last
    chunk is out, each chunk going to the first free lane, one more chunk's overhead weighed
    against a better balance."""
    total = sum(seg.frame_count for seg in segments)
    if total >= 8 * lanes * MOST_CHUNK_FRAMES:  # long: the tail is a small share anyway
        return MOST_CHUNK_FRAMES
    sizes = range(MOST_CHUNK_FRAMES, LEAST_CHUNK_FRAMES - 1, -1)
    return min(sizes, key=lambda size: _busy_until(plan_runs(segments, size), lanes))


def _busy_until(runs: list[Run], lanes: int) -> int:
    """When the last chunk is out (in frames' worth), each run to the first free lane."""
    free = [0] * max(1, lanes)
    for run in runs:
        heapq.heapreplace(free, free[0] + run.frame_count + CHUNK_OVERHEAD_FRAMES)
    return max(free)


def plan_runs(segments: tuple[Segment, ...], chunk_frames: int) -> list[Run]:
    """Cut each segment into the fewest runs of at most ``chunk_frames`` consecutive frames,
    as equal in length as they can be (96 frames at most 40: 32, 32, 32)."""
    if chunk_frames < 1:
        raise ConfigError(f"Expected chunk_frames >= 1, but got {chunk_frames}")
    runs = []
    for seg in segments:
        count = -(-seg.frame_count // chunk_frames)
        bounds = [seg.start + seg.frame_count * k // count for k in range(count + 1)]
        runs += [Run(seg.index, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    return runs
