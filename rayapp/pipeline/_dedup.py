"""Skipping repeated frames: animation holds a drawing for 2-3 frames, slideshows and screen
recordings for seconds. A frame that repeats the last frame that went through the network
reuses that frame's upscaled result instead of running the network again.

"Repeats" is judged on the decoded low-resolution frames. After lossy encoding a held frame
is rarely bit-identical to the one before (compression noise), so the test has a threshold:
the largest mean absolute difference over 16x16-pixel blocks, on 0-255. Blocks, not the
whole frame, so that a small local change (a blink, a mouth) is never averaged away. The
default (``rayapp.config.DEFAULT_DEDUP_THRESHOLD``, 4.0) was chosen by measurement on
held-frame clips (320x240, x264): repeats stay below 3 at crf 18 and mostly below 4 at crf
23, where every output with skipping stayed above 48 dB PSNR of the output without (the
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
    (partial blocks at the edges count as blocks), on a 0-255 scale (uint16: /257)."""
    diff = np.abs(a.astype(np.int32) - b.astype(np.int32)).mean(axis=2, dtype=np.float32)
    if a.dtype == np.uint16:
        diff /= 257.0
    h, w = diff.shape
    rows, cols = -(-h // BLOCK), -(-w // BLOCK)
    sums = np.zeros((rows * BLOCK, cols * BLOCK), np.float32)
    sums[:h, :w] = diff
    block_sums = sums.reshape(rows, BLOCK, cols, BLOCK).sum(axis=(1, 3))
    heights = np.minimum(BLOCK, h - np.arange(rows) * BLOCK)
    widths = np.minimum(BLOCK, w - np.arange(cols) * BLOCK)
    return float((block_sums / np.outer(heights, widths)).max())


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
