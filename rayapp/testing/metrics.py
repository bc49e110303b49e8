"""Image quality for tests and benchmarks: ``rayapp.quality``'s PSNR over a whole clip."""

from __future__ import annotations

import numpy as np

from rayapp import quality

__all__ = ["psnr"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of all of ``a`` against all of ``b`` (inf if equal): one ``HWC`` RGB image,
    or ``NHWC`` frames taken together (the MSE over every pixel of every frame), uint8 or
    uint16. ``rayapp.quality.psnr`` on the frames stacked into one tall image."""
    if a.shape == b.shape:  # else quality.psnr names the mismatch
        a, b = (x.reshape(1, -1, *x.shape[-2:]) for x in (a, b))
    return float(quality.psnr(a, b)[0])
