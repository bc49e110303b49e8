"""The bare model, timed: ``Upscaler.upscale_batch`` one frame at a time, in this process or
in a Ray actor (what a replica's process gets without the pipeline around it)."""

from __future__ import annotations

import time

import av
import numpy as np

from rayapp import storage
from rayapp.config import UpscaleConfig
from rayapp.video import to_rgb

__all__ = ["BareForward", "decode_frames", "time_frames"]


def time_frames(upscaler: object, frames: np.ndarray) -> list[float]:
    """Wall s/frame of ``upscale_batch`` on one frame at a time (the replica's micro-batch)."""
    times = []
    for frame in frames:
        start = time.perf_counter()
        upscaler.upscale_batch(frame[None])  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
    return times


class BareForward:
    """The bare model in a Ray actor: no decode tasks, no encoder, no Ray Data."""

    def __init__(self, upscale: UpscaleConfig, threads: int) -> None:
        import torch

        from rayapp.upscaler import Upscaler

        torch.set_num_threads(threads)
        self._upscaler = Upscaler.from_config(upscale)

    def run(self, frames: np.ndarray) -> list[float]:
        return time_frames(self._upscaler, frames)


def decode_frames(uri: str) -> np.ndarray:
    """Every frame of ``uri``'s first video stream: NHWC uint8 RGB."""
    with storage.open_input(uri) as f, av.open(f) as container:
        return np.stack([to_rgb(fr) for fr in container.decode(video=0)])
