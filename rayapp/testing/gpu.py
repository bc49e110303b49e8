"""A GPU as the video pipeline sees it, on a machine that has none.

On a GPU node the model costs the CPUs next to nothing: they wait on the device while it
works. ``SimulatedGpuUpscaler`` waits the same way (asleep, off the CPU, a set time per
frame) and returns nearest-neighbour frames, on a device named ``cuda``: the pipeline sizes
its encoders as for a GPU replica, and a codec family asks for NVENC first (and, with no
NVIDIA driver here, falls back to the CPU encoder, as on a GPU without NVENC). Tests of
the scheduling and the benchmark's ``encode`` section use it.
"""

from __future__ import annotations

import time

import numpy as np

from rayapp.testing.patterns import NearestUpscaler

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
