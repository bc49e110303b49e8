"""Temporal quality where users see it: at the output's size, with motion followed.

The warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): output
frame t brought onto output frame t + 1 along the motion measured on the *source* frames
(``rayapp.flow``, scaled to the output), and the mean squared difference over the pixels
whose flow passes the forward-backward check, x1000, pixels in [0, 1]. What moves with
the picture costs nothing; what an upscale redraws differently in each frame (aliasing
that crawls, texture that boils, a keyframe that steps) does. Never measured across a
scene cut: there is no motion to follow there.

Contracts: frames ``HxWx3`` RGB, ``uint8`` or ``uint16``; a pair's source frames of one
size, its output frames of one (larger) size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rayapp.flow import consistent, optical_flow, scaled_flow, warp
from rayapp.quality import peak

__all__ = ["Motion", "bicubic", "gradient_magnitude", "motion", "warping_error"]


@dataclass(frozen=True)
class Motion:
    """The motion from source frame t + 1 back to frame t: ``flow`` (for each pixel of
    t + 1, where it was in t) and ``kept`` (HxW bool: where that flow can be trusted)."""

    flow: np.ndarray
    kept: np.ndarray


def motion(source_a: np.ndarray, source_b: np.ndarray) -> Motion:
    """The motion of the pair (``source_a`` = frame t, ``source_b`` = frame t + 1)."""
    backward = optical_flow(source_b, source_a)
    forward = optical_flow(source_a, source_b)
    return Motion(backward, consistent(backward, forward))


def warping_error(out_a: np.ndarray, out_b: np.ndarray, moved: Motion) -> float:
    """The warping error of the output pair (frame t, frame t + 1) along ``moved``
    (module docstring); 0.0 when no pixel's flow can be trusted."""
    if out_a.shape != out_b.shape:
        raise ValueError(f"Expected one size, but got {out_a.shape} and {out_b.shape}")
    size = out_a.shape[:2]
    kept = cv2.resize(
        moved.kept.astype(np.uint8), size[::-1], interpolation=cv2.INTER_NEAREST
    ).astype(bool)
    if not kept.any():
        return 0.0
    scale = np.float32(1.0 / peak(out_a.dtype))
    brought = warp(out_a.astype(np.float32) * scale, scaled_flow(moved.flow, size))
    squared = ((brought - out_b.astype(np.float32) * scale) ** 2).mean(axis=2)
    return float(squared[kept].mean() * 1000.0)


def bicubic(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` resized to (height, width) ``size``, bicubic: the reference an upscale's
    temporal quality is held against."""
    return cv2.resize(frame, size[::-1], interpolation=cv2.INTER_CUBIC)


def gradient_magnitude(frame: np.ndarray) -> float:
    """The mean length of the luma gradient (forward differences, on 0-255): how much
    detail the frame holds."""
    luma = frame.astype(np.float32).mean(axis=2) * np.float32(255.0 / peak(frame.dtype))
    dx = np.diff(luma, axis=1)[:-1]
    dy = np.diff(luma, axis=0)[:, :-1]
    return float(np.sqrt(dx * dx + dy * dy).mean())
