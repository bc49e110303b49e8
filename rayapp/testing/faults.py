"""Faults for tests: an upscaler whose process dies on a chosen frame.

It lives in ``rayapp`` (not under ``tests/``) because Ray workers import it by name.
"""

from __future__ import annotations

import os

import numpy as np

from rayapp.testing.patterns import NearestUpscaler, read_frame_index

__all__ = ["DiesOnceUpscaler", "DyingUpscaler"]


class DyingUpscaler(NearestUpscaler):
    """:class:`NearestUpscaler` whose process exits at once (``os._exit``, as a crash or
    the OOM killer would end it: no exception, no cleanup) when a batch holds the frame
    whose drawn index is ``die_at``. Every attempt at that frame dies."""

    def __init__(self, die_at: int, scale: int = 2) -> None:
        super().__init__(scale)
        self.die_at = die_at

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        if any(read_frame_index(frame) == self.die_at for frame in frames):
            os._exit(1)
        return super().upscale_batch(frames, size)


class DiesOnceUpscaler(NearestUpscaler):
    """:class:`DyingUpscaler` that dies only the first time it meets ``die_at``: it leaves
    ``marker`` (a local path, shared by every process of the machine) before it exits, and a
    later attempt finds it there."""

    def __init__(self, die_at: int, marker: str, scale: int = 2) -> None:
        super().__init__(scale)
        self.die_at, self.marker = die_at, marker

    def upscale_batch(self, frames: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        if any(read_frame_index(f) == self.die_at for f in frames) and not os.path.exists(
            self.marker
        ):
            open(self.marker, "w").close()
            os._exit(1)
        return super().upscale_batch(frames, size)
