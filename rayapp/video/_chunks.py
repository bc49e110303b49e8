"""cut_chunks: a video's chunks, cut where the picture cuts.

A chunk is encoded on its own and starts with a keyframe. Inside a scene a keyframe is a
step a single encoder pass would not make (its picture is coded anew, the frames after it
refer to it, not to the frame before); at a scene cut the picture changes anyway, and an
encoder puts a keyframe there itself. So chunks are cut at the source's scene cuts
(``rayapp.video._scenes``), and inside a scene only:

- where a scene is longer than a chunk may be (``--chunk-frames``, default the frames of
  ``SCENE_CHUNK_S`` seconds, fewer where they would hold more than ``MOST_RUN_BYTES``):
  the fewest equal parts that fit;
- by default, where a scene that long leaves lanes idle (the chunks a job makes at once:
  its replicas' encoders) while its parts finish: finer, down to ``LEAST_CHUNK_FRAMES``,
  as long as the last chunk is out sooner. A shorter scene is never split for the lanes.

Chunks are cut deterministically from the frame count and the cuts, so a rerun finds the
same chunks, and every runner encodes the same ones.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rayapp.errors import ConfigError

__all__ = ["SCENE_CHUNK_S", "Cut", "Run", "cut_chunks", "scene_frames", "with_reach"]

SCENE_CHUNK_S = 10.0  # a scene up to this long is one chunk unless --chunk-frames says less
# A chunk's decoded frames travel as one object from its decode task to its replica: a
# long scene of large frames is split so that none holds more than this (10 s of 720x576
# is 0.3 GiB; of 1920x1080, 1.7).
MOST_RUN_BYTES = 1 << 30
LEAST_CHUNK_FRAMES = 8
# What a chunk costs beyond its frames, in frames' worth: the encoder's start, an IDR frame,
# a first frame that always runs the network (repeats are skipped within a chunk only).
CHUNK_OVERHEAD_FRAMES = 2
# A clip this many times longer than its lanes' chunks: the tail is a small share anyway.
_LONG = 8


@dataclass(frozen=True)
class Run:
    """Frames ``[start, stop)``: the frames of one encoded chunk, decoded by segment
    ``segment``, with the ``before`` frames before it and the ``after`` frames after it
    that a stage reading neighbours needs (``--deflicker``; none across a scene cut)."""

    segment: int
    start: int
    stop: int
    before: int = 0
    after: int = 0

    @property
    def frame_count(self) -> int:
        return self.stop - self.start

    @property
    def reads(self) -> tuple[int, int]:
        """The frames decoded for it: ``[start - before, stop + after)``."""
        return self.start - self.before, self.stop + self.after


@dataclass(frozen=True)
class Cut:
    """How a video was cut into chunks: ``scenes``, the first frame of each; ``most_frames``
    a chunk holds; the ``bounds`` of every chunk, (start, stop); the seams that fell inside
    a scene and ``why``."""

    scenes: tuple[int, ...]
    most_frames: int
    bounds: tuple[tuple[int, int], ...]
    why: str

    @property
    def seams_inside(self) -> int:
        starts = set(self.scenes)
        return sum(start not in starts for start, _ in self.bounds)

    def times(self, n: int) -> Cut:
        """This cut of a video's frames on the timeline of ``n`` frames for each of them
        (``rayapp.video.multiplied_rate``): every frame number times ``n``."""
        return Cut(
            tuple(n * s for s in self.scenes),
            n * self.most_frames,
            tuple((n * a, n * b) for a, b in self.bounds),
            self.why,
        )

    def describe(self) -> str:
        """One line: scenes, chunks, and the seams inside scenes with their reason."""
        inside = self.seams_inside
        line = f"{_count(len(self.scenes), 'scene')}, {_count(len(self.bounds), 'chunk')}"
        if inside:
            line += f", {_count(inside, 'seam')} inside scenes ({self.why})"
        return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def cut_chunks(
    frame_count: int,
    scene_starts: Sequence[int],
    *,
    chunk_frames: int | None,
    scene_frames: int,
    lanes: int = 1,
) -> Cut:
    """The chunks of ``frame_count`` frames whose scenes start at ``scene_starts`` (0
    first), as the module docstring cuts them: at most ``chunk_frames`` a chunk when given,
    else ``scene_frames`` (``SCENE_CHUNK_S`` seconds' worth) and finer for ``lanes``."""
    if chunk_frames is not None and chunk_frames < 1:
        raise ConfigError(f"Expected chunk_frames >= 1, but got {chunk_frames}")
    scenes = _scenes(frame_count, scene_starts)
    most = chunk_frames or max(1, scene_frames)
    if chunk_frames is not None:
        why = f"--chunk-frames {chunk_frames}"
        return Cut(tuple(a for a, _ in scenes), most, _parts(scenes, most), why)
    bounds = _parts(scenes, most, long_part=_balanced(scenes, most, lanes))
    largest = max((b - a for a, b in bounds), default=0)
    why = f"scenes over {most} frames split for {lanes} lanes, parts of at most {largest}"
    return Cut(tuple(a for a, _ in scenes), most, bounds, why)


def scene_frames(frame_rate: float, frame_bytes: int) -> int:
    """The most frames a chunk holds by default: ``SCENE_CHUNK_S`` seconds' worth at
    ``frame_rate``, fewer where frames of ``frame_bytes`` (decoded) would hold more than
    ``MOST_RUN_BYTES``."""
    return max(1, min(round(SCENE_CHUNK_S * frame_rate), MOST_RUN_BYTES // max(frame_bytes, 1)))


def with_reach(cut: Cut, reach: int, after: int | None = None) -> list[tuple[int, int, int, int]]:
    """Each chunk of ``cut`` as (start, stop, before, after): the ``reach`` frames before it
    and the ``after`` frames after it (None: ``reach``) that a stage reading neighbours
    needs, where they lie in the chunk's own scene."""
    ahead = reach if after is None else after
    starts = sorted(cut.scenes)
    runs = []
    for start, stop in cut.bounds:
        scene = starts[_scene_of(starts, start)]
        following = _scene_of(starts, stop - 1) + 1
        scene_stop = starts[following] if following < len(starts) else cut.bounds[-1][1]
        runs.append((start, stop, min(reach, start - scene), min(ahead, scene_stop - stop)))
    return runs


def _scene_of(starts: list[int], frame: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if starts[mid] <= frame else (low, mid - 1)
    return low


def _scenes(frame_count: int, starts: Sequence[int]) -> list[tuple[int, int]]:
    cuts = sorted({s for s in starts if 0 < s < frame_count})
    bounds = [0, *cuts, frame_count] if frame_count else []
    return list(zip(bounds, bounds[1:], strict=False))


def _parts(
    scenes: list[tuple[int, int]], most: int, long_part: int | None = None
) -> tuple[tuple[int, int], ...]:
    """Each scene in the fewest equal parts of at most ``most`` frames (a scene longer than
    ``most``: of at most ``long_part``), as equal in length as they can be."""
    out = []
    for start, stop in scenes:
        length = stop - start
        size = long_part if long_part is not None and length > most else most
        count = math.ceil(length / size)
        edges = [start + length * k // count for k in range(count + 1)]
        out += list(zip(edges, edges[1:], strict=False))
    return tuple(out)


def _balanced(scenes: list[tuple[int, int]], most: int, lanes: int) -> int:
    """The most frames a part of a scene longer than ``most`` holds: ``most``, or on a clip
    short for its ``lanes`` the size (down to ``LEAST_CHUNK_FRAMES``) whose chunks leave
    the lanes least idle at the end, one more chunk's overhead weighed against it."""
    total = sum(stop - start for start, stop in scenes)
    if total >= _LONG * lanes * most or all(stop - start <= most for start, stop in scenes):
        return most
    sizes = range(most, min(LEAST_CHUNK_FRAMES, most) - 1, -1)
    return min(sizes, key=lambda size: _busy_until(_parts(scenes, most, size), lanes))


def _busy_until(bounds: Sequence[tuple[int, int]], lanes: int) -> int:
    """When the last chunk is out (in frames' worth), each chunk to the first free lane."""
    free = [0] * max(1, lanes)
    for start, stop in bounds:
        heapq.heapreplace(free, free[0] + stop - start + CHUNK_OVERHEAD_FRAMES)
    return max(free)
