"""What crosses the video pipeline's boundaries: what every chunk of a job shares
(``EncodeJob``, sent with each chunk to its replica), what a runner is given to make
(``PipelineWork``), and what each chunk cost (``ChunkRecord``, in the job's result and its
progress events, handed back through ``OnChunk``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rayapp.video import Chunk, EncodeSettings, Run, Segment, VideoStreamInfo

__all__ = ["ChunkRecord", "EncodeJob", "OnChunk", "PipelineWork"]


@dataclass(frozen=True)
class EncodeJob:
    """What every chunk of one job shares: the source stream (its frame list left out: a
    chunk's frames bring their own pts), the output frame size (height, width), the encoder,
    the work prefix and the frames per model forward. Small: it goes with every chunk."""

    source: VideoStreamInfo
    size: tuple[int, int]
    settings: EncodeSettings
    work: str
    micro_batch: int = 1
    dedup_threshold: float | None = None  # None: every frame through the network
    # The certificate's samples (rayapp.pipeline.certificate): pairs' first frames, and
    # every frame to measure; a chunk that holds some measures them.
    sampled_pairs: tuple[int, ...] = ()
    sampled: tuple[int, ...] = ()
    # --deflicker's strength (None: off): each chunk's run brings the frames around it.
    deflicker: float | None = None
    # --interpolate: frames per source frame (1: none made), made by --interpolator (flow,
    # or a RIFE checkpoint's path) after the upscale; each run brings the source frame after it.
    interpolate: int = 1
    interpolator: str = "flow"
    # --face-enhance: the upscaler's faces (``Upscaler.faces``) restored in each frame along
    # landmarks steadied over the frames around it, which each run brings.
    faces: bool = False

    @classmethod
    def of(cls, source: VideoStreamInfo, **fields: Any) -> EncodeJob:
        return cls(dataclasses.replace(source, frame_pts=(), keyframes=()), **fields)


@dataclass(frozen=True)
class PipelineWork:
    """What a runner makes: ``runs`` of the input at ``uri``, decoded at ``depth`` bits per
    channel from their ``segments``, each encoded into a chunk as ``job`` says."""

    uri: str
    depth: int
    segments: tuple[Segment, ...]
    runs: tuple[Run, ...]
    job: EncodeJob


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk of the output and what it cost.

    Times are wall clock (``time.time()``), comparable across the processes of a machine;
    ``model_s`` is the time inside the model (the rest of ``elapsed_s`` is colour
    conversion, encode and I/O). A chunk reused from an earlier run has no timings.
    """

    chunk: Chunk
    reused: bool = False
    frames_skipped: int = 0  # repeats that took the upscaled result of the frame before
    replica: str = ""  # "pid@host" of the replica that made it
    replica_started_at: float = 0.0  # when that replica's process began to load its model
    replica_ready_at: float = 0.0  # when it had loaded it
    started_at: float = 0.0
    finished_at: float = 0.0
    model_s: float = 0.0
    encoder: str = ""  # the encoder that made it (libx264, h264_nvenc, ...)
    device_memory: int = 0  # peak bytes the replica had reserved on its GPU (0: a CPU)
    alongside: int = 0  # other chunks its replica had in flight when it began this one
    quality: dict[str, Any] | None = None  # its sampled frames' measures (``_sampled``)

    @property
    def frame_count(self) -> int:
        return self.chunk.frame_count

    @property
    def elapsed_s(self) -> float:
        return self.finished_at - self.started_at

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ChunkRecord:
        """The record of an ``UpscaleEncode`` output row."""
        chunk = Chunk(str(row["chunk_uri"]), int(row["first_frame_index"]), int(row["frame_count"]))
        return cls(
            chunk,
            frames_skipped=int(row["frames_skipped"]),
            replica=str(row["replica"]),
            replica_started_at=float(row["replica_started_at"]),
            replica_ready_at=float(row["replica_ready_at"]),
            started_at=float(row["started_at"]),
            finished_at=float(row["finished_at"]),
            model_s=float(row["model_s"]),
            encoder=str(row["encoder"]),
            device_memory=int(row["device_memory"]),
            alongside=int(row["alongside"]),
            quality=row["quality"],
        )


OnChunk = Callable[[ChunkRecord], None]
