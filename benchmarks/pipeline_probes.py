"""Probes for the benchmark's ``pipeline`` section: what one video job costs besides the model.

- ``TimedUpscaleEncode``: the pipeline's replica stage, unchanged, plus one JSON line per
  chunk (model time inside the chunk, whole-chunk ``elapsed_s``, pid) appended to the file
  named by ``RAYAPP_BENCH_TIMINGS``. The driver of ``run_video_job`` drops the per-chunk
  rows, so this is the only way to see them without changing the library.
- ``ProgressTimes``: a logging handler that timestamps the job's progress line (one
  update per chunk arriving at the driver).

Memory, object store and disk peaks are sampled by ``benchmarks.sampler``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rayapp.config import UpscaleConfig
from rayapp.pipeline import _stages as stages
from rayapp.pipeline import _video as video
from rayapp.video import plan_segments, probe
from rayapp.video._decode import decode_segment

__all__ = [
    "TIMINGS_ENV",
    "BareForward",
    "ProgressTimes",
    "TimedUpscaleEncode",
    "TimedUpscaler",
    "decode_frames",
    "read_timings",
    "steady_fps",
    "time_frames",
    "timed_stage",
]

TIMINGS_ENV = "RAYAPP_BENCH_TIMINGS"


class TimedUpscaler:
    """Delegates to an Upscaler and adds up the wall time of ``upscale_batch``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.model_s = 0.0

    def upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = self._inner.upscale_batch(frames)
        self.model_s += time.perf_counter() - start
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def time_frames(upscaler: Any, frames: np.ndarray) -> list[float]:
    """Wall s/frame of ``upscale_batch`` on one frame at a time (the replica's micro-batch)."""
    times = []
    for frame in frames:
        start = time.perf_counter()
        upscaler.upscale_batch(frame[None])
        times.append(time.perf_counter() - start)
    return times


class BareForward:
    """The bare model in a Ray actor: what a replica's process gets without the pipeline
    around it (no decode tasks, no encoder, no Ray Data)."""

    def __init__(self, upscale: UpscaleConfig, threads: int) -> None:
        import torch

        from rayapp.upscaler import Upscaler

        torch.set_num_threads(threads)
        self._upscaler = Upscaler.from_config(upscale)

    def run(self, frames: np.ndarray) -> list[float]:
        return time_frames(self._upscaler, frames)


class TimedUpscaleEncode(stages.UpscaleEncode):
    """``UpscaleEncode`` that also logs each chunk's timing (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        started = time.time()
        super().__init__(*args, **kwargs)
        self._timed = TimedUpscaler(self._upscaler)
        self._upscaler = self._timed  # type: ignore[assignment]
        self._log({"event": "ready", "start": started, "end": time.time()})

    def _encode_run(self, batch: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        started, model_before = time.time(), self._timed.model_s
        row = super()._encode_run(batch, i)
        self._log({
            "event": "chunk",
            "start": started,
            "end": time.time(),
            "frames": int(row["frame_count"]),
            "elapsed_s": float(row["elapsed_s"]),
            "model_s": self._timed.model_s - model_before,
        })  # fmt: skip
        return row

    def _log(self, record: dict[str, Any]) -> None:
        path = os.environ.get(TIMINGS_ENV)
        if path:  # one short O_APPEND write per line: replicas never interleave bytes
            with open(path, "a") as f:
                f.write(json.dumps({**record, "pid": os.getpid()}) + "\n")


@contextlib.contextmanager
def timed_stage() -> Iterator[None]:
    """Run ``run_video_job`` with ``TimedUpscaleEncode`` as its replica stage."""
    original = video.UpscaleEncode
    video.UpscaleEncode = TimedUpscaleEncode  # type: ignore[misc]
    try:
        yield
    finally:
        video.UpscaleEncode = original  # type: ignore[misc]


def read_timings(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class ProgressTimes(logging.Handler):
    """(monotonic time, frames done) of every progress line the job logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.points: list[tuple[float, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        done = record.getMessage().split(" ", 2)[1].split("/")[0]  # "frames 12/48 (...)"
        self.points.append((time.monotonic(), int(done)))

    @contextlib.contextmanager
    def attached(self) -> Iterator[ProgressTimes]:
        logger = logging.getLogger("rayapp.progress")
        level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)


def decode_frames(uri: str) -> np.ndarray:
    """Every frame of ``uri``: NHWC uint8 RGB, the pipeline's own decode."""
    info = probe(uri)
    segments = plan_segments(info, 3600.0)
    return np.stack([f.image for s in segments for f in decode_segment(uri, s)])


def steady_fps(chunks: Sequence[dict[str, Any]]) -> tuple[float, int, float] | None:
    """(fps, frames, span_s) of the chunks finished after the first one, over the time from
    the first chunk's end to the last one's (None: fewer than two chunks)."""
    ends = sorted((c["end"], c["frames"]) for c in chunks)
    if len(ends) < 2 or ends[-1][0] <= ends[0][0]:
        return None
    frames = sum(f for _, f in ends[1:])
    span = ends[-1][0] - ends[0][0]
    return frames / span, frames, span
