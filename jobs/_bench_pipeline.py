"""Probes for the benchmark's ``pipeline`` section: what one video job costs besides the model.

- ``TimedUpscaleEncode``: the pipeline's replica stage, unchanged, plus one JSON line per
  chunk (model time inside the chunk, whole-chunk ``elapsed_s``, pid) appended to the file
  named by ``RAYAPP_BENCH_TIMINGS``. The driver of ``run_video_job`` drops the per-chunk
  rows, so this is the only way to see them without changing the library.
- ``ResourceSampler``: a background thread polling, every ``interval_s``, the RSS of the
  driver and of the Ray processes it started (its process tree), the object store's bytes
  in use, and the bytes under the directories whose peak size we want (work prefix, spill).
- ``ProgressTimes``: a logging handler that timestamps the job's progress line (one
  update per chunk arriving at the driver).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rayapp.config import UpscaleConfig
from rayapp.pipeline import stages, video
from rayapp.video import plan_segments, probe
from rayapp.video.decode import decode_segment

__all__ = [
    "TIMINGS_ENV",
    "BareForward",
    "PhasePeaks",
    "ProgressTimes",
    "ResourceSampler",
    "TimedUpscaleEncode",
    "TimedUpscaler",
    "decode_frames",
    "dir_size",
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


def dir_size(path: str) -> tuple[int, set[str]]:
    """Bytes of the files under ``path`` (0 if absent), and the suffixes seen."""
    total, suffixes = 0, set()
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # published or removed meanwhile
                total += os.stat(os.path.join(root, name)).st_size
                suffixes.add(os.path.splitext(name)[1] or name)
    return total, suffixes


@dataclass
class PhasePeaks:
    """Peaks seen while one phase ran (bytes)."""

    driver_rss: int = 0
    ray_rss: int = 0  # sum over the Ray processes this driver started
    worker_rss: int = 0  # largest single Ray worker process
    replica_rss: int = 0  # largest single model replica (a Ray Data map actor)
    store_used: int = 0
    spilled: int = 0  # object store's spilled_bytes_total
    dirs: dict[str, int] = field(default_factory=dict)
    suffixes: set[str] = field(default_factory=set)
    samples: int = 0


class ResourceSampler:
    """Polls memory, object store and directory sizes in a daemon thread; ``phase(name)``
    collects the peaks seen while the block runs."""

    def __init__(self, dirs: dict[str, str], interval_s: float = 0.2) -> None:
        self._dirs = dirs
        import ray  # noqa: F401 - puts the psutil that Ray vendors on sys.path

        psutil = importlib.import_module("psutil")

        self._interval_s = interval_s
        self._psutil_error = psutil.Error
        self._me = psutil.Process()
        self._phase: PhasePeaks | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._state: Any = None

    def __enter__(self) -> ResourceSampler:
        import ray
        from ray._private.internal_api import get_state_from_address

        self._state = get_state_from_address(ray.get_runtime_context().gcs_address)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def phase(self) -> Iterator[PhasePeaks]:
        peaks = PhasePeaks()
        with self._lock:
            self._phase = peaks
        try:
            yield peaks
        finally:
            self._sample()  # the end state too (a short phase may see no tick)
            with self._lock:
                self._phase = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        driver = self._me.memory_info().rss
        ray_rss, worker, replica = 0, 0, 0
        for p in self._me.children(recursive=True):
            try:
                rss, title = p.memory_info().rss, " ".join(p.cmdline()[:1])
            except self._psutil_error:
                continue  # exited between listing and reading
            if "BareForward" in title:
                continue  # the benchmark's own probe, idle while the jobs run
            ray_rss += rss
            if title.startswith("ray::"):
                worker = max(worker, rss)
                if "MapWorker" in title or "UpscaleEncode" in title:
                    replica = max(replica, rss)
        stats = self._store_stats()
        sizes = {name: dir_size(path) for name, path in self._dirs.items()}
        with self._lock:
            peaks = self._phase
            if peaks is None:
                return
            peaks.samples += 1
            peaks.driver_rss = max(peaks.driver_rss, driver)
            peaks.ray_rss = max(peaks.ray_rss, ray_rss)
            peaks.worker_rss = max(peaks.worker_rss, worker)
            peaks.replica_rss = max(peaks.replica_rss, replica)
            peaks.store_used = max(peaks.store_used, stats[0])
            peaks.spilled = max(peaks.spilled, stats[1])
            for name, (size, suffixes) in sizes.items():
                peaks.dirs[name] = max(peaks.dirs.get(name, 0), size)
                peaks.suffixes |= suffixes

    def _store_stats(self) -> tuple[int, int]:
        from ray._private.internal_api import get_memory_info_reply

        s = get_memory_info_reply(self._state, timeout_seconds=10).store_stats
        return s.object_store_bytes_used, s.spilled_bytes_total


def steady_fps(chunks: Sequence[dict[str, Any]]) -> tuple[float, int, float] | None:
    """(fps, frames, span_s) of the chunks finished after the first one, over the time from
    the first chunk's end to the last one's (None: fewer than two chunks)."""
    ends = sorted((c["end"], c["frames"]) for c in chunks)
    if len(ends) < 2 or ends[-1][0] <= ends[0][0]:
        return None
    frames = sum(f for _, f in ends[1:])
    span = ends[-1][0] - ends[0][0]
    return frames / span, frames, span
