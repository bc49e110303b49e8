"""Resizing images to an exact size: the one rule the upscaler (``outscale``), the job's
certificate (an output back at the source's size), the evaluation job and the object store
(an original down to its stored size, and back) all use.

Bicubic (a = -0.75, PyTorch's), antialiased when shrinking, clamped to the value range. An
8-bit image made smaller (no side larger) takes PyTorch's 8-bit path: the same filter in
fixed point, within one level of the float path and about a tenth of its time (the job's
certificate shrinks every sampled frame from the output's size, on the replicas' CPUs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rayapp.errors import InputImageError
from rayapp.quality import peak

__all__ = ["Downscaler", "downscaled_size", "resize_image", "resize_tensor"]


def downscaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of an image of ``height`` x ``width`` shrunk by ``scale`` (at least
    one pixel a side): the stored size of a small copy."""
    return max(1, round(height / scale)), max(1, round(width / scale))


def resize_tensor(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``NCHW`` float in [0, 1] -> ``NCHW`` of (height, width) ``size``, in [0, 1]."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    y = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrink)
    return y.clamp_(0, 1)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An ``HW`` or ``HWC`` uint8/uint16 image at (height, width) ``size``, same dtype."""
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise InputImageError(f"Expected an HW or HWC uint8/uint16 image, got {image.shape}")
    if size[0] < 1 or size[1] < 1:
        raise InputImageError(f"Expected a size of at least 1x1, but got {size}")
    top = peak(image.dtype)
    hwc = torch.from_numpy(np.ascontiguousarray(image if image.ndim == 3 else image[..., None]))
    height, width = hwc.shape[:2]
    if (
        image.dtype == np.uint8
        and size[0] <= height
        and size[1] <= width
        and (size != (height, width))
    ):
        nchw = hwc.permute(2, 0, 1)[None]  # channels last, as the image lies
        y = F.interpolate(nchw, size=size, mode="bicubic", align_corners=False, antialias=True)
        y = y[0].permute(1, 2, 0).numpy()
        return np.ascontiguousarray(y[..., 0] if image.ndim == 2 else y)
    # Channels last, as the image lies: the same pixels as NCHW, a quarter less time.
    x = hwc.permute(2, 0, 1)[None].to(torch.float32, memory_format=torch.channels_last)
    y = resize_tensor(x.div_(top), size)[0].mul_(top).round_()
    y = y.permute(1, 2, 0).numpy().astype(image.dtype)
    return y[..., 0] if image.ndim == 2 else y


class Downscaler:
    """The video job's ``mode=downscale``: a frame upscaler (``rayapp.pipeline.FrameUpscaler``)
    that shrinks by ``factor`` with the rule above, to an even size (4:2:0 chroma needs it)."""

    name = "downscale"
    device = "cpu"
    precision = "fp32"

    def __init__(self, factor: float) -> None:
        if not factor > 1:
            raise ValueError(f"Expected a downscale factor above 1, but got {factor}")
        self.factor = factor

    @property
    def identity(self) -> str:
        """What decides its pixels (the job's fingerprint)."""
        return f"downscale x{self.factor:g}, bicubic antialiased"

    def device_memory(self) -> int:
        return 0

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return 2 * max(1, round(height / self.factor / 2)), 2 * max(
            1, round(width / self.factor / 2)
        )

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """``NHWC`` uint8/uint16 frames -> ``NHWC`` at ``output_size`` (or ``size``)."""
        size = size or self.output_size(*frames.shape[1:3])
        top = peak(frames.dtype)
        x = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2), dtype=np.float32))
        y = resize_tensor(x / top, size).mul_(top).round_()
        return y.permute(0, 2, 3, 1).numpy().astype(frames.dtype)
