"""deflickered: a motion-compensated temporal filter of upscaled frames (``--deflicker``).

A model that upscales each frame on its own redraws what the source cannot say (aliasing
that crawls as the picture moves by less than a pixel, texture a GAN invents) a little
differently in every frame, and the picture shimmers. Each frame is blended with its
neighbours brought onto it along the motion of the source frames (``rayapp.flow``),
wherever that motion passes the forward-backward check, so that what the model redraws
differently averages out while what moves stays sharp:

    out_t = (up_t + s * sum_u k_u * warp(up_u)) / (1 + s * sum_u k_u),  u = t - 1, t + 1

``k_u`` the share of the pixel's flow that can be trusted (the check's mask, resized to
the output), ``s`` the strength. The filter reads ``REACH`` frames on either side and no
further (never an output of its own: one pass, no recursion), so a frame's result depends
on those frames alone: a chunk given the frames around it makes exactly the frames one
pass over the whole scene makes. The caller never hands it frames across a scene cut.

The flow runs on the CPU (on the small source frames); the warping and blending run on
the device the upscaled frames are on (torch).

Contracts: upscaled frames ``(1, 3, H, W)`` float32 in [0, 1], on any device; source
frames ``NHWC`` RGB ``uint8`` or ``uint16``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from rayapp.config import DEFAULT_DEFLICKER_STRENGTH
from rayapp.config import DEFLICKER_REACH as REACH
from rayapp.flow import consistent, optical_flow

__all__ = ["REACH", "deflickered"]


def deflickered(
    upscaled: Iterable[torch.Tensor],
    sources: np.ndarray,
    *,
    before: int = 0,
    after: int = 0,
    strength: float = DEFAULT_DEFLICKER_STRENGTH,
) -> Iterator[torch.Tensor]:
    """The frames ``before .. len(sources) - after - 1`` filtered, in order, each as soon as
    the frames it reads are in. ``upscaled``: every frame of ``sources`` upscaled, in order
    (the first ``before`` and last ``after`` only read); all of one scene."""
    count = len(sources)
    motion = _Motion(sources)
    held: dict[int, torch.Tensor] = {}
    ready = range(before, count - after)
    for i, frame in enumerate(upscaled):
        held[i] = frame
        t = i - REACH
        if t in ready:
            yield _filtered(t, held, motion, strength)
        for old in [k for k in held if k < i - 2 * REACH]:
            del held[old]
        motion.forget(i - 2 * REACH)
    if len(held) and max(held) != count - 1:
        raise ValueError(f"Expected {count} upscaled frames, but got {max(held) + 1}")
    for t in range(max(before, count - REACH), count - after):
        yield _filtered(t, held, motion, strength)


def _filtered(
    t: int, held: dict[int, torch.Tensor], motion: _Motion, strength: float
) -> torch.Tensor:
    frame = held[t]
    total = frame.clone()
    weight = torch.ones_like(frame[:, :1])
    for u in (t - REACH, t + REACH):
        if u not in held:
            continue
        flow, kept = motion.towards(t, u, frame)
        trusted = kept * strength
        total += trusted * _warp(held[u], flow)
        weight += trusted
    return (total / weight).clamp_(0.0, 1.0)


class _Motion:
    """The flows between neighbouring source frames, each pair measured once, at the size
    and on the device of the frames they move."""

    def __init__(self, sources: np.ndarray) -> None:
        self._sources = sources
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def towards(self, t: int, u: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The flow from frame ``t`` to frame ``u`` and the share of it that can be trusted
        (``(1, 2, H, W)`` and ``(1, 1, H, W)`` at ``like``'s size, on its device)."""
        pair = (min(t, u), max(t, u))
        if pair not in self._pairs:
            a, b = (self._sources[i] for i in pair)
            self._pairs[pair] = (optical_flow(a, b), optical_flow(b, a))
        forward, backward = self._pairs[pair] if t < u else self._pairs[pair][::-1]
        kept = consistent(forward, backward).astype(np.float32)
        size = like.shape[-2:]
        flow = _resized(torch.from_numpy(forward).permute(2, 0, 1), size, like.device)
        flow[:, 0] *= size[1] / forward.shape[1]
        flow[:, 1] *= size[0] / forward.shape[0]
        return flow, _resized(torch.from_numpy(kept)[None], size, like.device)

    def forget(self, before: int) -> None:
        for pair in [p for p in self._pairs if p[0] < before]:
            del self._pairs[pair]


def _resized(x: torch.Tensor, size: torch.Size, device: torch.device) -> torch.Tensor:
    """CHW -> (1, C, *size) on ``device``, bilinear."""
    x = x[None].to(device)
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _warp(frame: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``frame`` sampled at each pixel plus ``flow`` (bicubic: a bilinear warp would soften
    what it brings; edges repeated)."""
    _, _, height, width = frame.shape
    ys = torch.arange(height, device=frame.device, dtype=torch.float32)
    xs = torch.arange(width, device=frame.device, dtype=torch.float32)
    x = xs[None, :] + flow[0, 0]
    y = ys[:, None] + flow[0, 1]
    grid = torch.stack(((2 * x + 1) / width - 1, (2 * y + 1) / height - 1), dim=-1)
    return F.grid_sample(
        frame, grid[None], mode="bicubic", padding_mode="border", align_corners=False
    )
