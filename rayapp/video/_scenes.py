"""scene_cuts: where the picture cuts, so that a chunk's keyframe falls where a viewer
already sees a change (docs/architecture.md, "Chunks at scene cuts").

Every frame is decoded once and sampled on a grid about ``THUMB_WIDTH`` wide, straight
from its Y, Cb and Cr planes (no conversion: the decode is the cost), and compared with
the frame before in two ways:

- ``change``: FFmpeg scdet's score on the thumbnail's luma: the mean absolute difference
  from the frame before (0-255), and how much it differs from the same difference one
  frame earlier, the smaller of the two. A hard cut jumps; a pan, a zoom or a fade changes
  about as much every frame and scores low.
- ``colours``: the total variation distance (0-1) of the two thumbnails' colour histograms
  (``BINS`` levels of Y, Cb and Cr). Motion and anything that moves pixels around without
  changing what colours are in the picture scores nothing (a test pattern that swaps
  cells, a window cleaned in a pan); a cut to another shot changes the colours.

A frame starts a new scene when both pass their threshold. A cut that is missed costs
nothing worse than a chunk that holds two shots; a cut found inside a scene costs a
keyframe the viewer may see step, so both tests must agree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from rayapp import storage
from rayapp.errors import InvalidVideoError
from rayapp.video._info import MediaInfo

__all__ = ["SceneScores", "scene_cuts", "scene_scores"]

log = logging.getLogger(__name__)

THUMB_WIDTH = 160
BINS = 8  # levels per channel of the colour histogram: 512 cells
# Both chosen by measurement (docs/benchmarks.md, "Scene cuts"): cuts between photographs
# score far above both; a fade's first frame, a pan's start and a test pattern's swapped
# cells stay under one or the other.
CHANGE_THRESHOLD = 20.0
COLOURS_THRESHOLD = 0.3


@dataclass(frozen=True)
class SceneScores:
    """Per frame of a video (frame 0 scores 0 in both): ``change`` (0-255) and ``colours``
    (0-1), as the module docstring defines them."""

    change: tuple[float, ...]
    colours: tuple[float, ...]

    def cuts(
        self, change: float = CHANGE_THRESHOLD, colours: float = COLOURS_THRESHOLD
    ) -> tuple[int, ...]:
        """The frames that start a new scene (never frame 0)."""
        return tuple(
            i
            for i, (a, b) in enumerate(zip(self.change, self.colours, strict=True))
            if i and a >= change and b >= colours
        )


def scene_cuts(info: MediaInfo) -> tuple[int, ...]:
    """The frames of ``info``'s video that start a new scene, by frame index."""
    cuts = scene_scores(info).cuts()
    log.info("%s: %d scene cuts %s", info.uri, len(cuts), list(cuts[:20]))
    return cuts


def scene_scores(info: MediaInfo) -> SceneScores:
    """Decode every frame of ``info``'s video once and score it against the one decoded
    before it. A frame is placed by its pts (a frame the decoder does not give scores 0,
    and the one after it is compared with the last one it gave)."""
    index = {pts: i for i, pts in enumerate(info.video.frame_pts)}
    change = [0.0] * info.video.frame_count
    colours = [0.0] * info.video.frame_count
    previous: tuple[np.ndarray, np.ndarray] | None = None
    last_mean: float | None = None  # frame 1 has no change before it to compare with
    found = 0
    for pts, luma, chroma in _thumbnails(info):
        at = index.get(pts)
        if at is None:
            continue
        found += 1
        histogram = _histogram(luma, chroma)
        luma = luma.astype(np.float32)
        if previous is not None:
            mean = float(np.abs(luma - previous[0]).mean())
            step = abs(mean - last_mean) if last_mean is not None else 0.0
            change[at] = min(mean, step)
            colours[at] = 0.5 * float(np.abs(histogram - previous[1]).sum())
            last_mean = mean
        previous = (luma, histogram)
    if found != info.video.frame_count:
        log.warning(
            "%s: %d of %d frames decoded looking for scene cuts",
            info.uri,
            found,
            info.video.frame_count,
        )
    return SceneScores(tuple(change), tuple(colours))


def _histogram(luma: np.ndarray, chroma: tuple[np.ndarray, ...]) -> np.ndarray:
    """The share of the thumbnail's pixels in each colour cell (``BINS`` levels of Y, Cb
    and Cr)."""
    shift = 8 - BINS.bit_length() + 1
    y, cb, cr = (plane.astype(np.int32) >> shift for plane in (luma, *chroma))
    cells = (y * BINS + cb) * BINS + cr
    return np.bincount(cells.ravel(), minlength=BINS**3) / cells.size


# Planar YUV formats read in place: (horizontal, vertical) chroma subsampling.
_SUBSAMPLING = {"420": (2, 2), "422": (2, 1), "444": (1, 1)}
_PLANAR = re.compile(r"yuvj?(420|422|444)p(?:(10|12)le)?")


def _thumbnails(info: MediaInfo) -> Iterator[tuple[int, np.ndarray, tuple[np.ndarray, ...]]]:
    """Every frame in presentation order: its pts, and its 8-bit Y, Cb and Cr samples on
    one grid about ``THUMB_WIDTH`` wide, taken from the decoded planes where they lie."""
    video = info.video
    step = max(2, video.width // THUMB_WIDTH // 2 * 2)
    with storage.open_input(info.uri) as f:
        try:
            with av.open(f, "r") as container:
                stream = container.streams[video.index]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    yield (frame.pts, *_samples(frame, step))
        except av.FFmpegError as e:
            raise InvalidVideoError(f"{info.uri}: decoding for scene cuts failed: {e}") from e


def _samples(frame: av.VideoFrame, step: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Every ``step``-th Y sample of every ``step``-th row, and the Cb and Cr at each."""
    found = _PLANAR.fullmatch(frame.format.name)
    if found is None:
        frame = frame.reformat(format="yuv420p")
        found = _PLANAR.fullmatch("yuv420p")
    sub_x, sub_y = _SUBSAMPLING[found.group(1)]
    deep = found.group(2) is not None
    y = _plane(frame, 0, deep)[::step, ::step]
    chroma = tuple(
        _plane(frame, i, deep)[:: step // sub_y, :: step // sub_x][: y.shape[0], : y.shape[1]]
        for i in (1, 2)
    )
    return y[: chroma[0].shape[0], : chroma[0].shape[1]], chroma


def _plane(frame: av.VideoFrame, index: int, deep: bool) -> np.ndarray:
    """Plane ``index`` of ``frame`` as 8-bit samples (a deeper one shifted down)."""
    plane = frame.planes[index]
    dtype = np.dtype("<u2" if deep else "u1")
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    rows = rows[:, : plane.width]
    if deep:
        bits = int(frame.format.name[-4:-2])
        return (rows >> (bits - 8)).astype(np.uint8)
    return rows
