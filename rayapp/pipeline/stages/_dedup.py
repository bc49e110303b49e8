"""Skipping repeated frames: animation holds a drawing for 2-3 frames, slideshows and screen
recordings for seconds. A frame that repeats the last frame that went through the network
reuses that frame's upscaled result instead of running the network again.

"Repeats" is judged on the decoded low-resolution frames. After lossy encoding a held frame
is rarely bit-identical to the one before (compression noise), so the test has a threshold:
the largest mean absolute difference over 16x16-pixel blocks, on 0-255. Blocks, not the
whole frame, so that a small local change (a blink, a mouth) is never averaged away. The
default (``rayapp.config.DEFAULT_DEDUP_THRESHOLD``) sits above lossy encoders' noise on a
held frame and below what a viewer sees change (docs/benchmarks.md, "Repeats"; the
benchmark's ``dedup`` section measures it).
Frames are always compared with the last frame that *did* go through the network, so small
differences never add up along a run of near-repeats; and only within a chunk, so chunk
boundaries, retries and resumes never change the output.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK", "block_difference", "network_sources"]

BLOCK = 16


def block_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean absolute difference of two HxWx3 frames over BLOCK x BLOCK blocks
    (partial blocks at the edges count as blocks), on a 0-255 scale (uint16: /257).

    In whole numbers until the last division: the absolute difference in the frames' own
    type (the larger less the smaller, never negative), summed per block with its channels
    at once. A replica runs this on every frame, so it keeps to one pass or two over the
    frame (a tenth of the time of a float difference). A block of uint16 sums to at most
    16 * 16 * 3 * 65535: uint32 holds it."""
    diff = np.maximum(a, b)
    diff -= np.minimum(a, b)
    h, w, c = diff.shape
    rows, cols = -(-h // BLOCK), -(-w // BLOCK)
    if h % BLOCK or w % BLOCK:
        padded = np.zeros((rows * BLOCK, cols * BLOCK, c), diff.dtype)
        padded[:h, :w] = diff
        diff = padded
    sums = diff.reshape(rows, BLOCK, cols, BLOCK * c).sum(axis=(1, 3), dtype=np.uint32)
    heights = np.minimum(BLOCK, h - np.arange(rows) * BLOCK)
    widths = np.minimum(BLOCK, w - np.arange(cols) * BLOCK)
    largest = float((sums / (np.outer(heights, widths) * c)).max())
    return largest / 257.0 if a.dtype == np.uint16 else largest


def network_sources(frames: np.ndarray, threshold: float | None) -> list[int]:
    """For each frame (NHWC), the index of the frame whose upscaled result it takes: its
    own, or that of the last frame before it that went through the network when it repeats
    that one within ``threshold`` (None: no frame is skipped)."""
    sources: list[int] = []
    reference = 0
    for j, frame in enumerate(frames):
        if j and threshold is not None and block_difference(frame, frames[reference]) <= threshold:
            sources.append(reference)
        else:
            sources.append(j)
            reference = j
    return sources
