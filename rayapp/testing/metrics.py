"""Image quality measures used by tests and benchmarks."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["psnr"]


def psnr(a: np.ndarray, b: np.ndarray, peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB between two arrays of the same shape (inf if equal)."""
    if a.shape != b.shape:
        raise ValueError(f"Expected arrays of the same shape, but got {a.shape} and {b.shape}")
    if peak is None:
        peak = 65535.0 if a.dtype == np.uint16 else 255.0
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
