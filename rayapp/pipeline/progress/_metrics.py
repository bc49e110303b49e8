"""Ray metrics, exported on each node's metrics endpoint (and so on the Ray dashboard's
Grafana panels; cluster_configs/grafana/rayapp.json is rayapp's own dashboard):
- the model replicas': frames upscaled, frames skipped (repeats), chunk latency, replicas
  busy (tagged with the model);
- the job driver's: frames done and total, frames/s and ETA (tagged with the job: its
  output URI), chunks given out again after their replica died (tagged with the model).
Every name here is read back from a real run's endpoint by the dashboard's test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayapp.pipeline.progress._tracker import ProgressEvent

__all__ = ["JobMetrics", "NoMetrics", "ReplicaMetrics", "chunk_retries"]

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
        self._working = 0  # chunks in flight: a replica encodes several at once
        self._lock = threading.Lock()

    def chunk_done(self, frames: int, skipped: int, elapsed_s: float) -> None:
        self._frames.inc(frames)
        if skipped:
            self._skipped.inc(skipped)
        self._latency.observe(elapsed_s)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._working += 1
            self._busy.set(1)
        try:
            yield
        finally:
            with self._lock:
                self._working -= 1
                if not self._working:
                    self._busy.set(0)


class NoMetrics:
    """The same calls, doing nothing: a replica outside Ray (the local runner)."""

    def chunk_done(self, frames: int, skipped: int, elapsed_s: float) -> None:
        pass

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        yield


class JobMetrics:
    """A progress sink (``rayapp.pipeline.progress``) that sets the job's gauges."""

    def __init__(self, job: str) -> None:
        from ray.util import metrics

        def gauge(name: str, text: str) -> Any:
            g = metrics.Gauge(name, text, ("job",))
            g.set_default_tags({"job": job})
            return g

        self._done = gauge("rayapp_job_frames_done", "Frames of the job done (reused too).")
        self._total = gauge("rayapp_job_frames_total", "Frames in the job's input.")
        self._fps = gauge("rayapp_job_frames_per_s", "Frames this run makes per second.")
        self._eta = gauge("rayapp_job_eta_s", "Seconds until the last chunk, at this rate.")

    def __call__(self, event: ProgressEvent) -> None:
        self._done.set(event.frames_done)
        self._total.set(event.frames_total)
        self._fps.set(event.fps)
        self._eta.set(0.0 if event.frames_done == event.frames_total else event.eta_s or 0.0)


def chunk_retries(model: str) -> Any:
    """The counter of chunks given out again because their replica died."""
    from ray.util import metrics

    counter = metrics.Counter(
        "rayapp_chunk_retries", "Chunks given out again after their replica died.", ("model",)
    )
    counter.set_default_tags({"model": model})
    return counter
