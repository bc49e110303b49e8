"""Telecined film back at its own rate (``--ivtc``): of every five field-matched frames,
the one that repeats its predecessor is dropped (what FFmpeg's ``decimate`` does), and the
four kept are shown evenly across the five's time: 23.976 frames a second from 29.97.

Which frame of each cycle goes is decided for the whole video before it is cut (a decode
of every frame at the source's size), cycles counted from its first frame: so where a job
cuts its chunks never changes which frames it keeps. The job then plans the video at film
rate (``film_rate``); the decode maps each frame planned back to its source frame.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from fractions import Fraction

import numpy as np

from rayapp.video._decode import decode_segment
from rayapp.video._info import Keyframe, MediaInfo
from rayapp.video._segments import Deinterlace, Film, plan_segments

__all__ = ["CYCLE", "film_frames", "film_rate"]

CYCLE = 5  # video frames per four film frames (3:2 pulldown)


def film_frames(info: MediaInfo, how: Deinterlace) -> Film:
    """The source frames to keep (``how``: field matched), one of each full cycle of
    ``CYCLE`` dropped: the one least changed from the frame before it. A last, partial
    cycle keeps its frames."""
    whole = plan_segments(info, math.inf, deinterlace=how)[0]
    change: list[float] = []
    previous = None
    for frame in decode_segment(info.uri, whole):
        luma = frame.image[::2, ::2].astype(np.float32).mean(axis=2)
        change.append(math.inf if previous is None else float(np.abs(luma - previous).mean()))
        previous = luma
    count = info.video.frame_count
    kept: list[int] = []
    for start in range(0, count, CYCLE):
        cycle = range(start, min(start + CYCLE, count))
        dropped = min(cycle, key=change.__getitem__) if len(cycle) == CYCLE else None
        kept += [i for i in cycle if i != dropped]
    keyframes = tuple((k.frame_index, k.pts) for k in info.video.keyframes)
    return Film(tuple(kept), info.video.frame_pts, keyframes)


def film_rate(info: MediaInfo, film: Film) -> MediaInfo:
    """``info`` with its video at film rate: the frames ``film`` keeps, each full cycle's
    four evenly across its five's time (a cycle's first at its first frame's pts), in a
    quarter of the time base; a partial cycle's at their own pts."""
    video = info.video
    pts, count, ends = video.frame_pts, video.frame_count, video.frame_ends()
    last = ends[-1] - pts[-1]
    per_cycle: dict[int, int] = {}  # frames kept of each cycle, by its first frame
    for i in film.kept:
        per_cycle[i - i % CYCLE] = per_cycle.get(i - i % CYCLE, 0) + 1
    shown: list[int] = []
    duration = 4 * last
    for start, frames in per_cycle.items():
        if start + CYCLE <= count:
            span = ends[start + CYCLE - 1] - pts[start]  # five frames' time: four in it
            shown += [4 * pts[start] + k * span for k in range(frames)]
            duration = span
        else:
            shown += [4 * pts[i] for i in film.kept[len(shown) :]]
            duration = 4 * last
    kept = film.kept
    keyframes = []
    for key in video.keyframes:
        at = bisect.bisect_left(kept, key.frame_index)
        if at < len(kept) and (not keyframes or keyframes[-1].frame_index != at):
            keyframes.append(Keyframe(at, shown[at]))
    return replace(
        info,
        video=replace(
            video,
            time_base=video.time_base / 4,
            frame_pts=tuple(shown),
            frame_count=len(shown),
            average_rate=_film(video.average_rate),
            real_rate=_film(video.real_rate),
            last_frame_duration=duration,
            keyframes=tuple(keyframes),
        ),
    )


def _film(rate: Fraction | None) -> Fraction | None:
    return rate * 4 / CYCLE if rate else rate
