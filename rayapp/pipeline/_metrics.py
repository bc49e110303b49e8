"""Ray metrics of the model replicas, exported on each node's metrics endpoint (and so on
the Ray dashboard's Grafana panels): frames upscaled, frames skipped (repeats), chunk
latency, replicas busy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["NoMetrics", "ReplicaMetrics"]

_LATENCY_BOUNDARIES_S = [0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320]


class ReplicaMetrics:
    def __init__(self, model: str) -> None:
        from ray.util import metrics

        tags = {"model": model}
        self._frames = metrics.Counter(
            "rayapp_frames_upscaled", "Frames upscaled by the model replicas.", ("model",)
        )
        self._skipped = metrics.Counter(
            "rayapp_frames_skipped",
            "Repeated frames that reused the upscaled result of the frame before.",
            ("model",),
        )
        self._latency = metrics.Histogram(
            "rayapp_chunk_latency_s",
            "Seconds to upscale and encode one chunk.",
            _LATENCY_BOUNDARIES_S,
            ("model",),
        )
        self._busy = metrics.Gauge(
            "rayapp_replicas_busy", "Replicas working on a chunk right now.", ("model",)
        )
        for m in (self._frames, self._skipped, self._latency, self._busy):
            m.set_default_tags(tags)

    def chunk_done(self, frames: int, skipped: int, elapsed_s: float) -> None:
        self._frames.inc(frames)
        if skipped:
            self._skipped.inc(skipped)
        self._latency.observe(elapsed_s)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self._busy.set(1)
        try:
            yield
        finally:
            self._busy.set(0)


class NoMetrics:
    """The same calls, doing nothing: a replica outside Ray (the local runner)."""

    def chunk_done(self, frames: int, skipped: int, elapsed_s: float) -> None:
        pass

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        yield
