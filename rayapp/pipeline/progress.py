"""The job-level progress line: frames done/total, fps and ETA."""

from __future__ import annotations

import logging
import time

__all__ = ["ProgressLine"]

log = logging.getLogger("rayapp.progress")


class ProgressLine:
    def __init__(self, total: int, already_done: int = 0) -> None:
        self.total = total
        self.done = already_done
        self._start_done = already_done
        self._started = time.monotonic()

    def update(self, frames: int) -> str:
        self.done += frames
        elapsed = max(time.monotonic() - self._started, 1e-9)
        fps = (self.done - self._start_done) / elapsed
        remaining = self.total - self.done
        eta = f"{remaining / fps:.0f} s" if fps > 0 else "?"
        line = (
            f"frames {self.done}/{self.total} ({100 * self.done / max(self.total, 1):.1f}%), "
            f"{fps:.2f} fps, ETA {eta}"
        )
        log.info(line)
        return line
