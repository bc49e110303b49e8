"""One model replica (an actor on Ray, or the local runner's own): runs in, chunks out, up
to its encoder pool's chunks at once. High-resolution frames never leave it."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from rayapp.config import UpscaleConfig
from rayapp.errors import ChunkFailedError, RayappError
from rayapp.pipeline.cluster import encoder_pool
from rayapp.pipeline.progress import NoMetrics, ReplicaMetrics
from rayapp.pipeline.stages._encode import encode_run, keep_chunk
from rayapp.pipeline.stages._upscaler import FrameUpscaler, device_type
from rayapp.pipeline.work import EncodeJob
from rayapp.video import (
    EncodeSettings,
)

if TYPE_CHECKING:
    from rayapp.interpolate import Interpolator

__all__ = ["UpscaleEncode"]


class UpscaleEncode:
    """One model replica: upscales runs of frames and encodes each into a chunk, up to
    ``pool.encoders`` chunks at once (``encode_chunk`` is called from that many threads:
    while one chunk's frames go through the model, the others' encode).

    The model comes from ``upscale`` (loaded once, here, with torch on ``threads`` threads),
    or is given ready as ``upscaler`` (any ``FrameUpscaler``; tests use
    ``rayapp.testing.NearestUpscaler``). ``cpus``: the CPUs this replica may keep busy (its
    share of the node), which size its encoders (``rayapp.pipeline.cluster._sizing``; ``encoders``
    as configured). ``metrics`` exports Ray metrics (inside Ray only).
    """

    def __init__(
        self,
        upscale: UpscaleConfig | None = None,
        *,
        upscaler: FrameUpscaler | None = None,
        threads: int | None = None,
        cpus: float | None = None,
        encoders: int | None = None,
        metrics: bool = False,
    ) -> None:
        self._started_at = time.time()
        if upscaler is None:
            from rayapp.pipeline.cluster import load_replica

            upscaler = load_replica(upscale or UpscaleConfig(), threads)
        self._upscaler = upscaler
        self.pool = encoder_pool(
            cpus or threads or os.cpu_count() or 1,
            model_on_gpu=self.model_on_gpu,
            encoders=encoders,
        )
        # A replica whose model runs on a GPU gives its CPUs to its encoders: the sampled
        # frames' measures take one thread beside them, not torch's one per core.
        self._measure_threads = 1 if self.model_on_gpu else None
        self._replica = f"{os.getpid()}@{socket.gethostname()}"
        self._metrics = ReplicaMetrics(upscaler.name) if metrics else NoMetrics()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._interpolators: dict[str, Interpolator] = {}
        self._ready_at = time.time()

    def _interpolator(self, spec: str) -> Interpolator:
        """The interpolator ``spec`` names, loaded once, on this replica's device."""
        with self._lock:
            if spec not in self._interpolators:
                from rayapp.pipeline.stages._interpolator import load_interpolator

                device = str(self._upscaler.device)
                self._interpolators[spec] = load_interpolator(spec, device)
            return self._interpolators[spec]

    @property
    def model_on_gpu(self) -> bool:
        return device_type(self._upscaler) == "cuda"

    def describe(self, settings: EncodeSettings) -> dict[str, Any]:
        """Who this replica is, how it runs its model, which encoder its chunks of a job
        with ``settings`` get (its device decides a codec family's) and how many chunks it
        encodes at once: for the job's log and the scheduler."""
        up = self._upscaler
        return {
            "replica": self._replica,
            "model": up.name,
            "device": str(up.device),
            "precision": up.precision,
            "encoder": settings.for_device(device_type(up)).spec.name,
            "encoders": self.pool.encoders,
            "encoder_threads": self.pool.threads,
        }

    def encode_chunk(self, job: EncodeJob, run: dict[str, Any]) -> dict[str, Any]:
        """One run row of ``decode_runs`` -> one chunk of ``job`` (a row of its timings)."""
        frames, pts = run["frames"], run["pts"]
        first = int(run["first_frame_index"])
        between = self._interpolator(job.interpolator) if job.interpolate > 1 else None
        before, after = int(run.get("before", 0)), int(run.get("after", 0))
        started = time.time()
        with self._lock:
            alongside = self._in_flight
            self._in_flight += 1
        try:
            with self._metrics.busy():
                made = encode_run(
                    self._upscaler,
                    job,
                    frames,
                    pts,
                    first,
                    threads=self.pool.threads,
                    captions=run.get("captions"),
                    before=before,
                    after=after,
                    timeline=run.get("timeline"),
                    interpolator=between,
                )
        except RayappError as e:
            last = first + job.interpolate * (len(frames) - before - after) - 1
            raise ChunkFailedError(f"Frames {first}-{last} failed: {e}") from e
        finally:
            with self._lock:
                self._in_flight -= 1
        chunk = made.chunk
        source = frames[before : len(frames) - after]
        quality = keep_chunk(job, chunk, source, made.frames_skipped, self._measure_threads)
        finished = time.time()
        self._metrics.chunk_done(chunk.frame_count, made.frames_skipped, finished - started)
        return {
            "chunk_uri": chunk.uri,
            "first_frame_index": chunk.first_frame_index,
            "frame_count": chunk.frame_count,
            "frames_skipped": made.frames_skipped,
            "replica": self._replica,
            "replica_started_at": self._started_at,
            "replica_ready_at": self._ready_at,
            "started_at": started,
            "finished_at": finished,
            "model_s": made.model_s,
            "encoder": made.encoder,
            "device_memory": self._upscaler.device_memory(),
            "alongside": alongside,
            "quality": quality,
        }
