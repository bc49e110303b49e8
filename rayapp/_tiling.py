"""Tiling with overlap and blended seams.

A large image is cut into tiles that overlap their neighbours by ``overlap`` input pixels.
In each overlap, the outer quarter next to a tile's edge (where the network saw padding,
not image) gets weight 0, and the middle half is a linear cross-fade, so the weights of the
two tiles sum to 1 everywhere and no seam is visible.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["tile_starts", "run_tiled"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _ramp(n: int, scale: int, overlap: int, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """1-D weights over ``n`` output pixels of one tile (input overlap ``overlap``)."""
    i = torch.arange(n, dtype=torch.float32) + 0.5
    margin = overlap * scale / 4
    width = max(overlap * scale / 2, 1.0)
    w = torch.ones(n)
    if fade_start:
        w = torch.minimum(w, ((i - margin) / width).clamp(0, 1))
    if fade_end:
        w = torch.minimum(w, ((n - i - margin) / width).clamp(0, 1))
    return w


def run_tiled(
    x: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    scale: int,
    tile: int,
    overlap: int,
) -> torch.Tensor:
    """``forward`` over tiles of ``x`` (NCHW), blended; output NCHW at ``scale``."""
    n, _, h, w = x.shape
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out: torch.Tensor | None = None
    weight = torch.zeros(1, 1, h * scale, w * scale, device=x.device)
    for y0 in ys:
        th = min(tile, h)
        wy = _ramp(th * scale, scale, overlap, y0 > 0, y0 + th < h).to(x.device)
        for x0 in xs:
            tw = min(tile, w)
            y = forward(x[:, :, y0 : y0 + th, x0 : x0 + tw]).float()
            if out is None:
                out = torch.zeros(n, y.shape[1], h * scale, w * scale, device=x.device)
            wx = _ramp(tw * scale, scale, overlap, x0 > 0, x0 + tw < w).to(x.device)
            wt = wy[:, None] * wx[None, :]
            sy, sx = slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
            out[:, :, sy, sx] += y * wt
            weight[:, :, sy, sx] += wt
    assert out is not None  # at least one tile always runs
    return out / weight
