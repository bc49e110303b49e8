"""``ResourceSampler`` for the benchmark's ``pipeline`` section: a background thread polling,
every ``interval_s``, the RSS of the driver and of the Ray processes it started (its process
tree), the object store's bytes in use, and the bytes under the directories whose peak size we
want (work prefix, spill); ``PhasePeaks`` holds what one phase saw.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["PhasePeaks", "ResourceSampler", "dir_size"]


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
        self._gcs = ""

    def __enter__(self) -> ResourceSampler:
        import ray

        self._gcs = ray.get_runtime_context().gcs_address
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
                if "UpscaleEncode" in title:
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
        from rayapp.pipeline.cluster.ray_internals import object_store_bytes

        return object_store_bytes(self._gcs)
