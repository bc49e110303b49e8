"""Segments: ranges of frames, the unit of parallel decode.

``plan_segments`` cuts a video at its keyframes; ``job_segments`` groups a job's chunks
(``rayapp.video._chunks``) into segments that may start between keyframes: such a segment
seeks to the keyframe before its first frame and decodes, unkept, the frames up to it.

A segment is the global frame range ``[start, stop)`` (frame_index = rank of the frame's
pts among all video packet pts) plus the pts of the keyframe to seek to. Segments are
contiguous and cover every frame exactly once. A boundary is always a keyframe's rank:
every frame presented at or after a keyframe can be decoded from it, and the frames an
open GOP shows *before* its keyframe fall in the previous segment, whose decode simply
runs on past the keyframe until they come out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from rayapp.errors import ConfigError
from rayapp.video._info import MediaInfo

__all__ = ["Deinterlace", "Segment", "job_segments", "plan_segments"]


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
    # Frames planned per source frame of which the decode gives the first (--interpolate):
    # source frame i is frame ``every * i``; the frames after it are made after the upscale.
    every: int = 1

    @property
    def frame_count(self) -> int:
        return self.stop - self.start

    @property
    def step(self) -> int:
        """Frames planned per source frame: ``every``, or a frame per field."""
        return self.every * (self.deinterlace.step if self.deinterlace is not None else 1)


def plan_segments(
    info: MediaInfo, target_s: float, *, deinterlace: Deinterlace | None = None, every: int = 1
) -> tuple[Segment, ...]:
    """Split the video into segments of about ``target_s`` seconds, cut at keyframes.

    A segment ends at the first keyframe at least ``target_s`` after its start, so segments
    are never shorter than ``target_s`` except the last; a video with keyframes far apart
    gets long segments (there is nowhere else to cut). ``deinterlace``: how the frames are
    deinterlaced (each segment gets the frames around it the filters read), None: not.
    ``every``: ``info`` plans that many frames per source frame (``Segment.every``).
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
    how = (deinterlace, every)
    return tuple(
        _segment(info, keys, n, start, stop, key_pts.get(start) if start > 0 else None, *how)
        for n, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False))
    )


def _segment(
    info: MediaInfo,
    keys: list[tuple[int, int]],
    index: int,
    start: int,
    stop: int,
    seek_pts: int | None,
    deinterlace: Deinterlace | None,
    every: int = 1,
) -> Segment:
    """Segment ``index``: frames ``[start, stop)``, decoded from ``seek_pts``, with the
    frames around it the deinterlacer reads (``keys``: the keyframes, sorted)."""
    window = None
    if deinterlace is not None:
        window = _window(info, keys, start, stop, deinterlace, every * deinterlace.step)
    return Segment(
        index=index,
        start=start,
        stop=stop,
        seek_pts=seek_pts,
        stream_index=info.video.index,
        time_base=info.video.time_base,
        bit_depth=info.video.bit_depth,
        frame_pts=info.video.frame_pts[start:stop],
        deinterlace=window,
        every=every,
    )


def _window(
    info: MediaInfo,
    keys: list[tuple[int, int]],
    start: int,
    stop: int,
    how: Deinterlace,
    step: int,
) -> Deinterlace:
    """``how`` with the source frames it reads on either side of ``[start, stop)``, and
    where to decode those before from (``keys``: the keyframes' (frame index, pts),
    sorted). ``info`` plans ``step`` frames per source frame (at field rate two, or with
    ``Segment.every``): a source frame is every ``step``-th frame, at ``step`` times its
    pts."""
    if how.film is not None:
        return _film_window(how.film, start, stop, how)
    video = info.video
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


def job_segments(
    info: MediaInfo,
    reads: Sequence[tuple[int, int]],
    target_s: float,
    *,
    deinterlace: Deinterlace | None = None,
    every: int = 1,
) -> tuple[tuple[Segment, ...], list[int]]:
    """Group a job's chunks into segments (and say which segment decodes each): ``reads``
    are the frames each chunk needs decoded, ``[first, stop)``, in frame order. A chunk
    joins the segment before it when it seeks to the same keyframe, or when that segment
    is not yet ``target_s`` long; else it starts a segment of its own, which seeks to the
    last keyframe at or before its first frame. A segment holds whole source frames (at
    field rate both their fields; with ``every``, as ``plan_segments``, all the frames
    planned from each)."""
    if not target_s > 0:
        raise ConfigError(f"Expected segment length target_s > 0 seconds, but got {target_s!r}")
    video = info.video
    pts, time_base = video.frame_pts, video.time_base
    keys = sorted((k.frame_index, k.pts) for k in video.keyframes)
    step = every * (deinterlace.step if deinterlace is not None else 1)
    groups: list[list[int]] = []  # [first, stop, keyframe index]
    members: list[int] = []
    for first, stop in reads:
        first, stop = first - first % step, stop + (-stop % step)
        key = _key_index(keys, first)
        if groups and (
            key == groups[-1][2] or (pts[first] - pts[groups[-1][0]]) * time_base < target_s
        ):
            groups[-1][1] = max(groups[-1][1], stop)
        else:
            groups.append([first, stop, key])
        members.append(len(groups) - 1)
    how = (deinterlace, every)
    segments = tuple(
        _segment(info, keys, n, first, stop, _seek_pts(keys, first) if first else None, *how)
        for n, (first, stop, _) in enumerate(groups)
    )
    return segments, members


def _key_index(keys: Sequence[tuple[int, int]], index: int) -> int:
    """The frame index of the last keyframe at or before frame ``index`` (0: none)."""
    at = bisect.bisect_right(keys, (index, math.inf))
    return keys[at - 1][0] if at else 0
