"""Typed configuration: the one home of every default.

The CLI, the jobs, the Serve YAML and the cluster configs use these names.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Device",
    "ImagesJobConfig",
    "Precision",
    "ReplicaConfig",
    "UpscaleConfig",
    "VideoJobConfig",
]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Device = str  # "auto" | "cpu" | "cuda" | "cuda:<i>"

MAX_OUTSCALE = 16.0
DEFAULT_SEGMENT_S = 4.0
DEFAULT_CHUNK_FRAMES = 48
# Batch 1 was measured fastest per frame on CPU; on a GPU larger batches may pay.
DEFAULT_MICRO_BATCH = 1


class UpscaleConfig(BaseModel):
    """How one model replica upscales: which model, on what, at what precision and scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        "realesr-animevideov3",
        description="Registry name (see `rayapp models`) or a checkpoint path/URI.",
    )
    weights: str | None = Field(
        None, description="Explicit checkpoint path/URI for a registry model (overrides sources)."
    )
    device: Device = Field("auto", description="auto | cpu | cuda | cuda:<index>.")
    precision: Precision = Field(
        "auto", description="auto: fp16 on CUDA where the architecture allows, fp32 on CPU."
    )
    outscale: float | None = Field(
        None,
        gt=0,
        le=MAX_OUTSCALE,
        description="Final scale relative to the input (e.g. 1.5, 2, 3); default: the model's.",
    )
    tile: int = Field(
        0, ge=0, description="Tile size in input pixels for large images; 0 = no tiling."
    )
    tile_overlap: int = Field(
        24, ge=0, description="Overlap between neighbouring tiles, in input pixels."
    )
    compile: bool = Field(
        False,
        description="CPU fp32: compile the network with TorchInductor at load (6-60 s, "
        "same outputs, ~5-35% faster on SRVGGNetCompact; minutes for RRDBNet).",
    )

    @field_validator("outscale")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"outscale must be a finite number, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        head, _, index = v.partition(":")
        if head not in ("auto", "cpu", "cuda") or (index and not index.isdigit()):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:<index>, got {v!r}")
        return v


class ReplicaConfig(BaseModel):
    """How many model replicas, and what each one asks of the cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(1, ge=1, description="Replicas kept while the job runs.")
    max_replicas: int = Field(2, ge=1, description="Replicas the pool may scale up to.")
    num_gpus_per_replica: float = Field(
        0.0, ge=0, le=8, description="GPUs per replica (fractional, e.g. 0.25); 0 on CPU clusters."
    )
    num_cpus_per_replica: float = Field(
        0.75, gt=0, description="Logical CPUs per replica (leave room for decode tasks)."
    )
    threads_per_replica: int | None = Field(
        None, ge=1, description="torch threads per replica; default: host cores / max_replicas."
    )


class VideoJobConfig(BaseModel):
    """One video job: input and output URIs, the model, the encoder, the replicas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(..., description="Source video URI (s3://, gs://, file path, memory://).")
    output: str = Field(..., description="Output URI; the container comes from its extension.")
    upscale: UpscaleConfig = Field(default_factory=UpscaleConfig)
    codec: str = Field("libx264", description="libx264 | libx265 | libsvtav1 | libvpx-vp9.")
    crf: int | None = Field(None, ge=0, le=63, description="Encoder quality; codec default.")
    preset: str | None = Field(None, description="Encoder preset; codec default.")
    segment_s: float = Field(
        DEFAULT_SEGMENT_S,
        gt=0,
        description="Target segment length in seconds (keyframe-aligned decode unit).",
    )
    chunk_frames: int = Field(
        DEFAULT_CHUNK_FRAMES,
        ge=1,
        description="Most frames per encoded chunk (the unit of retry and resume).",
    )
    micro_batch: int = Field(
        DEFAULT_MICRO_BATCH, ge=1, description="Frames per model forward inside a replica."
    )
    replicas: ReplicaConfig = Field(default_factory=ReplicaConfig)
    work: str | None = Field(
        None, description="Work prefix for chunks; default: next to the output (resumable)."
    )
    keep_work: bool = Field(False, description="Keep the work prefix after success.")
    max_chunk_retries: int = Field(
        3, ge=0, description="Retries of a chunk whose replica died (crashes, not bad frames)."
    )


class ImagesJobConfig(BaseModel):
    """Every image under an input prefix, upscaled to the same relative names under an
    output prefix; outputs that already exist are skipped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: str = Field(..., description="Input prefix URI (s3://b/lowres/, a directory, ...).")
    output: str = Field(..., description="Output prefix URI; same relative names as the input.")
    upscale: UpscaleConfig = Field(default_factory=UpscaleConfig)
    format: Literal["same", "png", "jpeg", "webp"] = Field(
        "same", description="Output format; 'same' keeps each input's format."
    )
    replicas: ReplicaConfig = Field(default_factory=ReplicaConfig)
    max_pixels: int = Field(64_000_000, gt=0, description="Refuse larger inputs (pixels).")
