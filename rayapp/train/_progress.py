"""A training run's lines on the driver: one per report of the first worker (the starting
model's score, then each checkpoint), as it comes. The worker puts its metrics on a Ray queue;
a thread of the driver logs them. Everything else the workers say stays in Ray's logs."""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["ReportLog", "report_line"]

log = logging.getLogger("rayapp.train")

CLOSE_TIMEOUT_S = 30.0  # for the last lines to be logged once the run is over


def report_line(metrics: dict[str, Any], steps: int) -> str:
    """``step 10/300: loss 0.0399, val PSNR 25.49 dB, SSIM 0.6968, data wait 0.301 s``."""
    parts = [f"loss {metrics['loss']:.4f}"] if "loss" in metrics else []
    if "val_psnr" in metrics:
        parts.append(f"val PSNR {metrics['val_psnr']:.2f} dB, SSIM {metrics['val_ssim']:.4f}")
    if "data_wait_s" in metrics:
        parts.append(f"data wait {metrics['data_wait_s']:.3f} s")
    return f"step {metrics['step']}/{steps}: {', '.join(parts)}"


class ReportLog:
    """Logs each metrics dict put on ``queue`` (a ``ray.util.queue.Queue`` the workers get),
    until ``close``."""

    def __init__(self, steps: int) -> None:
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})  # room or not, it must start
        self._steps = steps
        self._thread = threading.Thread(target=self._log, name="train-reports", daemon=True)
        self._thread.start()

    def _log(self) -> None:
        while (metrics := self.queue.get()) is not None:
            log.info(report_line(metrics, self._steps))

    def close(self) -> None:
        """Log what is left, then stop the queue: every report came before the run ended."""
        self.queue.put(None)
        self._thread.join(timeout=CLOSE_TIMEOUT_S)
        self.queue.shutdown()
