"""Frames between frames by optical flow: the ``flow`` interpolator, which needs no weights.

A new frame at time ``t`` (0 < t < 1) between frames ``a`` and ``b`` is each of them warped
to ``t`` along the flow between them (``rayapp.flow``: OpenCV's DIS, both ways), blended by
how near ``t`` is to each and by where each can be seen: a pixel of ``a`` that the
forward-backward check fails (it is covered in ``b``, or the flow is wrong there) counts
only from ``b``, and the other way round.

The flow from ``t`` back to each frame is made from the two measured flows as Super SloMo
does (Jiang et al., 2018), which assumes motion at a constant speed between the frames:

    F(t->a) = -(1 - t) t F(a->b) + t^2 F(b->a)
    F(t->b) = (1 - t)^2 F(a->b) - t (1 - t) F(b->a)

Contracts: frames are ``HxWx3`` RGB of one size, ``uint8`` or ``uint16``; the new frame has
their size and type. ``flows`` measured on other frames (the source, when ``a`` and ``b``
are its upscales) are scaled to the frames' size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rayapp.flow import consistent, optical_flow, scaled_flow, warp
from rayapp.quality import peak

__all__ = [
    "FlowInterpolator",
    "Flows",
    "Interpolator",
    "blend_frames",
    "check_between",
    "flows_between",
    "interpolate_flow",
]

Flows = tuple[np.ndarray, np.ndarray]  # (a -> b, b -> a), HxWx2 float32


class Interpolator(Protocol):
    """What a job's replica asks of an interpolator: the frames at ``times`` between ``a``
    and ``b`` (upscaled frames), ``sources`` their source frames where it reads motion
    from those (smaller: cheaper, and no detail the model invented)."""

    name: str

    def between(
        self,
        a: np.ndarray,
        b: np.ndarray,
        times: Sequence[float],
        sources: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[np.ndarray]: ...


class FlowInterpolator:
    """``interpolate_flow``, its flows measured on the source frames when given."""

    name = "flow"

    def between(
        self,
        a: np.ndarray,
        b: np.ndarray,
        times: Sequence[float],
        sources: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        flows = flows_between(*sources) if sources is not None else None
        return interpolate_flow(a, b, times, flows)


def check_between(a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> None:
    """``ValueError`` unless ``a`` and ``b`` are frames of one size and type and each of
    ``times`` lies strictly between them (what every interpolator asks of its input)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"Expected two frames of one size and type, got {a.shape}, {b.shape}")
    if any(not 0 < t < 1 for t in times):
        raise ValueError(f"Expected times strictly between 0 and 1, got {list(times)}")


def flows_between(a: np.ndarray, b: np.ndarray) -> Flows:
    """The flows ``a -> b`` and ``b -> a`` (``rayapp.flow.optical_flow``)."""
    return optical_flow(a, b), optical_flow(b, a)


def interpolate_flow(
    a: np.ndarray, b: np.ndarray, times: Sequence[float], flows: Flows | None = None
) -> list[np.ndarray]:
    """The frames at each of ``times`` (each strictly between 0 and 1) between ``a`` (0)
    and ``b`` (1), by flow (module docstring). ``flows``: from ``flows_between``, on these
    frames or on smaller ones of the same pictures (scaled here); measured when not given."""
    check_between(a, b, times)
    forward, backward = flows if flows is not None else flows_between(a, b)
    size = a.shape[:2]
    if forward.shape[:2] != size:
        forward, backward = scaled_flow(forward, size), scaled_flow(backward, size)
    # Where each frame can be seen from the other: 1 where its flow survives the check.
    seen_a = consistent(forward, backward).astype(np.float32)
    seen_b = consistent(backward, forward).astype(np.float32)
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    top = peak(a.dtype)
    out = []
    for t in times:
        to_a = -(1 - t) * t * forward + t * t * backward
        to_b = (1 - t) ** 2 * forward - t * (1 - t) * backward
        wa = (1 - t) * np.maximum(warp(seen_a, to_a), 1e-3)[..., None]
        wb = t * np.maximum(warp(seen_b, to_b), 1e-3)[..., None]
        frame = (wa * warp(fa, to_a) + wb * warp(fb, to_b)) / (wa + wb)
        out.append(np.clip(np.rint(frame), 0, top).astype(a.dtype))
    return out


def blend_frames(a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
    """The frames at ``times`` as plain cross-fades of ``a`` and ``b`` (the baseline the
    interpolators are measured against)."""
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    top = peak(a.dtype)
    return [np.clip(np.rint((1 - t) * fa + t * fb), 0, top).astype(a.dtype) for t in times]
