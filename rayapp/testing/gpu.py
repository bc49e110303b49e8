"""A GPU as the video pipeline sees it, on a machine that has none.

On a GPU node the model costs the CPUs next to nothing: they wait on the device while it
works. ``SimulatedGpuUpscaler`` waits the same way (asleep, off the CPU, a set time per
frame) and returns nearest-neighbour frames, on a device named ``cuda``: the pipeline sizes
its encoders as for a GPU replica, and a codec family asks for NVENC first (and, with no
NVIDIA driver here, falls back to the CPU encoder, as on a GPU without NVENC). Tests of
the scheduling and the benchmark's ``encode`` section use it. Like ``rayapp.Upscaler`` on a
GPU, it hands the encoder its own planes when asked (``upscale_batch_yuv420``), converting
each low-resolution frame (swscale) and repeating the planes' samples: the same planes as
converting its RGB frames, at a sixteenth of the work at x4.
"""

from __future__ import annotations

import time

import av
import numpy as np

from rayapp.testing.patterns import NearestUpscaler
from rayapp.video import Yuv420

__all__ = ["SimulatedGpuUpscaler"]


class SimulatedGpuUpscaler(NearestUpscaler):
    """:class:`NearestUpscaler` whose every batch first waits ``frame_s`` seconds per frame
    off the CPU, as a GPU's forward would."""

    name = "simulated-gpu"
    device = "cuda:0"
    precision = "fp16"

    def __init__(self, scale: int = 4, frame_s: float = 0.005) -> None:
        super().__init__(scale)
        if frame_s < 0:
            raise ValueError(f"Expected frame_s >= 0, but got {frame_s}")
        self.frame_s = frame_s

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        time.sleep(self.frame_s * len(frames))
        return super().upscale_batch(frames, size)

    def upscale_batch_yuv420(
        self, frames: np.ndarray, planes: Yuv420, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        time.sleep(self.frame_s * len(frames))
        n, h, w, _ = frames.shape
        height, width = size or self.output_size(h, w)
        out = np.empty((n, *planes.shape(height, width)), np.uint8)
        luma, chroma = out[:, :height], out[:, height:].reshape(n, 2, height // 2, width // 2)
        for frame, y, c in zip(frames, luma, chroma, strict=True):
            yuv = _yuv444(frame, planes)
            # Each output pixel, and each 2x2 block's chroma, from the source pixel that
            # nearest-neighbour puts at its top left.
            _nearest(yuv[0], y)
            for plane, into in zip(yuv[1:], c, strict=True):
                _nearest(plane, into, step=2)
        return out


def _yuv444(frame: np.ndarray, planes: Yuv420) -> np.ndarray:
    """One HWC RGB uint8 frame -> its (3, H, W) Y, Cb, Cr planes (swscale)."""
    rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), "rgb24")
    yuv = rgb.reformat(format="yuv444p", **planes.swscale)
    return yuv.to_ndarray().reshape(3, *frame.shape[:2])


def _nearest(plane: np.ndarray, out: np.ndarray, step: int = 1) -> None:
    """``plane`` into ``out`` (a larger plane) by nearest neighbour, sample i taken where
    output pixel ``i * step`` would be. Whole repeats (x2, x4) widen each row once and copy
    it down its block of rows: a pass over ``out`` at memory speed, as cheap for the CPU as
    a GPU's planes arriving."""
    h, w = plane.shape
    height, width = out.shape
    if height % h == 0 and height // h == width // w and width % w == 0:
        scale = height // h
        out.reshape(h, scale, width)[...] = np.repeat(plane, scale, axis=1)[:, None, :]
        return
    rows = np.arange(height) * step * h // (height * step)
    cols = np.arange(width) * step * w // (width * step)
    out[...] = plane[rows[:, None], cols]
