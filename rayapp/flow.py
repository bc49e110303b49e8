"""Optical flow between low-resolution source frames, and where it can be trusted.

Flow is measured on the decoded source frames (OpenCV's DIS, which needs no downloaded
weights) and used at the output's size, scaled: what moved in the source is what should
move in the upscaled picture, and the source has none of the texture an upscale adds.

Contracts:
- frames: ``HxWx3`` RGB, ``uint8`` or ``uint16``.
- a flow: ``HxWx2`` float32, for each pixel ``(x, y)`` of the first frame the offset
  ``(dx, dy)`` to where it is in the second, in that frame's pixels.
- ``consistent``: the forward-backward check of Sundaram et al. (2010): a pixel's flow,
  followed there and back, returns within ``0.01 * (|f|^2 + |b|^2) + 0.5`` px^2, and
  lands inside the frame. Occlusions and flow errors fail it.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["consistent", "optical_flow", "scaled_flow", "warp"]

_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM  # chosen by measurement: docs/benchmarks.md


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The flow from frame ``a`` to frame ``b`` (module docstring), on their luma."""
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"Expected two HxWx3 frames of one size, but got {a.shape}, {b.shape}")
    dis = cv2.DISOpticalFlow_create(_PRESET)
    return dis.calc(_gray(a), _gray(b), None)


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """HxW bool: the pixels of the first frame whose ``forward`` flow (first -> second)
    the ``backward`` flow (second -> first) undoes, inside the frame."""
    height, width = forward.shape[:2]
    x, y = _grid(height, width)
    x, y = x + forward[..., 0], y + forward[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    back = warp(backward, forward)
    loop = forward + back
    error = (loop**2).sum(axis=2)
    bound = 0.01 * ((forward**2).sum(axis=2) + (back**2).sum(axis=2)) + 0.5
    return inside & (error < bound)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at each pixel plus its ``flow`` (bilinear, edges repeated): the
    second frame of the flow brought onto the first. float32 for float input, else the
    image's own type."""
    height, width = flow.shape[:2]
    x, y = _grid(height, width)
    return cv2.remap(
        image,
        x + flow[..., 0],
        y + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def scaled_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``flow`` at (height, width) ``size``: resized (bilinear) and its offsets scaled."""
    height, width = size
    h, w = flow.shape[:2]
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


def _gray(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint16:
        frame = (frame >> 8).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(width, dtype=np.float32)[None, :].repeat(height, axis=0)
    y = np.arange(height, dtype=np.float32)[:, None].repeat(width, axis=1)
    return x, y
