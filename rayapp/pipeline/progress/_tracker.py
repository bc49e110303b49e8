"""Progress of a video job: one event per finished chunk, handed to pluggable sinks.

A sink is any callable taking a :class:`ProgressEvent` (fsspec's ``Callback`` is the model):
:class:`LogProgress` logs the familiar line, :class:`TqdmProgress` draws a bar,
:class:`RayKvProgress` publishes the event as JSON in the cluster's key-value store, where
the Serve jobs API reads it (:func:`read_job_state`). Nothing prints progress as text for
another program to parse back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayapp.pipeline.work import ChunkRecord

__all__ = [
    "LogProgress",
    "ProgressEvent",
    "ProgressSink",
    "ProgressTracker",
    "RayKvProgress",
    "TqdmProgress",
    "forget_job_state",
    "job_state_ids",
    "publish_job_state",
    "read_job_state",
]

log = logging.getLogger("rayapp.progress")


@dataclass(frozen=True)
class ProgressEvent:
    """Where a job stands after a chunk finished (``chunk``), or at its start (None)."""

    frames_done: int
    frames_total: int
    frames_skipped: int  # of the frames done: repeats that skipped the network
    chunks_done: int
    chunks_total: int
    elapsed_s: float  # since the job's pipeline started
    fps: float  # frames made by this run per second (reused chunks do not count)
    eta_s: float | None
    chunk: ChunkRecord | None = None

    @property
    def percent(self) -> float:
        return 100.0 * self.frames_done / max(self.frames_total, 1)

    def line(self) -> str:
        eta = "?" if self.eta_s is None else f"{self.eta_s:.0f} s"
        return (
            f"frames {self.frames_done}/{self.frames_total} ({self.percent:.1f}%), "
            f"{self.fps:.2f} fps, ETA {eta}, {self.frames_skipped} repeats skipped"
        )

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "chunk"}
        out["percent"] = round(self.percent, 2)
        return out


ProgressSink = Callable[[ProgressEvent], None]


class ProgressTracker:
    """Counts finished chunks and hands each event to every sink."""

    def __init__(
        self,
        sinks: Iterable[ProgressSink],
        *,
        frames_total: int,
        chunks_total: int,
        reused: Iterable[ChunkRecord] = (),
    ) -> None:
        self._sinks = list(sinks)
        reused = list(reused)
        self._frames_total, self._chunks_total = frames_total, chunks_total
        self._frames_done = sum(c.frame_count for c in reused)
        self._skipped = sum(c.frames_skipped for c in reused)
        self._chunks_done = len(reused)
        self._made = 0
        self._started = time.monotonic()
        self._emit(None)

    def chunk_done(self, chunk: ChunkRecord) -> None:
        self._frames_done += chunk.frame_count
        self._skipped += chunk.frames_skipped
        self._chunks_done += 1
        self._made += chunk.frame_count
        self._emit(chunk)

    def _emit(self, chunk: ChunkRecord | None) -> None:
        elapsed = time.monotonic() - self._started
        fps = self._made / elapsed if elapsed > 0 else 0.0
        left = self._frames_total - self._frames_done
        eta = left / fps if fps > 0 else (0.0 if left == 0 else None)
        event = ProgressEvent(
            self._frames_done, self._frames_total, self._skipped, self._chunks_done,
            self._chunks_total, elapsed, fps, eta, chunk,
        )  # fmt: skip
        for sink in self._sinks:
            sink(event)


class LogProgress:
    """Logs ``frames D/T (P%), F fps, ETA E s`` on the ``rayapp.progress`` logger."""

    def __call__(self, event: ProgressEvent) -> None:
        if event.chunk is not None:
            log.info(event.line())


class TqdmProgress:
    """A tqdm bar of frames (the ``rayapp video`` command's)."""

    def __init__(self, desc: str = "upscale") -> None:
        self._desc = desc
        self._bar: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=event.frames_total, initial=event.frames_done,
                             unit="frame", desc=self._desc)  # fmt: skip
        self._bar.n = event.frames_done
        self._bar.refresh()
        if event.frames_done >= event.frames_total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


_KV_NAMESPACE = "rayapp"


def _kv_key(job_id: str) -> bytes:
    return f"job-state/{job_id}".encode()


class RayKvProgress:
    """Publishes each event as JSON under the Ray job's submission id in the cluster's
    key-value store (the Serve jobs API reads it with :func:`read_job_state`)."""

    def __init__(self, job_id: str) -> None:
        self._job_id = job_id

    def __call__(self, event: ProgressEvent) -> None:
        publish_job_state(self._job_id, {"progress": event.to_json()})


def publish_job_state(job_id: str, state: dict[str, Any]) -> None:
    """Merge ``state`` into the job's published state (progress or error), joining the
    job's cluster first if this process has not yet."""
    from rayapp.pipeline.cluster import ensure_ray
    from rayapp.pipeline.cluster.ray_internals import kv_get, kv_put

    ensure_ray()
    key = _kv_key(job_id)
    current = kv_get(key, _KV_NAMESPACE)
    merged = {**(json.loads(current) if current else {}), **state}
    kv_put(key, json.dumps(merged).encode(), _KV_NAMESPACE)


def read_job_state(job_id: str) -> dict[str, Any]:
    """What the job published: ``{"progress": {...}, "error": {...}}`` (either may be absent)."""
    from rayapp.pipeline.cluster.ray_internals import kv_get

    value = kv_get(_kv_key(job_id), _KV_NAMESPACE)
    return json.loads(value) if value else {}


def forget_job_state(job_id: str) -> None:
    """Drop what the job published (the Serve jobs API forgets a deleted or expired job)."""
    from rayapp.pipeline.cluster.ray_internals import kv_del

    kv_del(_kv_key(job_id), _KV_NAMESPACE)


def job_state_ids() -> list[str]:
    """The jobs that have published a state, by id."""
    from rayapp.pipeline.cluster.ray_internals import kv_keys

    prefix = _kv_key("")
    return [key[len(prefix) :].decode() for key in kv_keys(prefix, _KV_NAMESPACE)]
