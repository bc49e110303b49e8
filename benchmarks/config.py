"""What ``python -m jobs.benchmark`` measures: one config, its flags generated from it."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rayapp.config import ReplicaConfig

__all__ = ["OFFLINE_MODELS", "BenchmarkConfig"]

OFFLINE_MODELS = ("realesr-animevideov3", "realesrgan-x4plus-anime", "realesrgan-x4plus")
Section = Literal[
    "forward",
    "pipeline",
    "steady",
    "cold",
    "dedup",
    "quality",
    "gpu",
    "train",
    "plan",
    "encode",
    "archive",
    "temporal",
    "interpolate",
    "faces",
]


class BenchmarkConfig(BaseModel):
    """What to measure; sections run in the order given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    section: tuple[Section, ...] = Field(("forward",), description="Sections to run, in order.")
    models: tuple[str, ...] = Field(OFFLINE_MODELS, description="Forward: offline registry models.")
    size: str | None = Field(
        None,
        pattern=r"^\d+x\d+$",
        description="Input WxH (e.g. 320x240); default: per section (forward: per model).",
    )
    frames: int = Field(3, ge=1, description="Forward: timed frames per variant (after a warm-up).")
    threads: int = Field(
        min(2, os.cpu_count() or 1), ge=1, description="CPU threads for torch and ncnn."
    )
    optimise: tuple[str, ...] = Field(
        ("realesr-animevideov3",),
        description="Forward: models also timed compiled (UpscaleConfig.compile; RRDB takes "
        "minutes); 'all' or 'none'.",
    )
    model: str = Field("realesr-animevideov3", description="Pipeline: the model.")
    outscale: float = Field(2.0, gt=0, description="Pipeline: final scale.")
    seconds: float = Field(4.0, gt=0, description="Pipeline: short clip length.")
    long: int = Field(4, ge=1, description="Pipeline: the long clip is this many times longer.")
    fps: int = Field(24, ge=1, description="Pipeline: clip frame rate.")
    segment_s: float = Field(1.0, gt=0, description="Pipeline: job segment_s.")
    chunk_frames: int = Field(12, ge=1, description="Pipeline: job chunk_frames.")
    min_replicas: int = Field(
        ReplicaConfig().min_replicas, ge=1, description="Pipeline: replicas kept."
    )
    max_replicas: int = Field(
        ReplicaConfig().max_replicas, ge=1, description="Pipeline: replicas at most."
    )
    bare_frames: int = Field(8, ge=1, description="Pipeline, steady: frames per bare pass.")
    steady_seconds: float = Field(10.0, gt=0, description="Steady: clip length.")
    steady_rounds: int = Field(3, ge=1, description="Steady: rounds of the three runs in turn.")
    cold_seconds: float = Field(2.0, gt=0, description="Cold: clip length.")
    dedup_seconds: float = Field(10.0, gt=0, description="Dedup: clip length (views held 2).")
    quality_seconds: float = Field(
        1.0, gt=0, description="Quality: clip length (160x120, every model)."
    )
    plan_seconds: float = Field(10.0, gt=0, description="Plan: clip length.")
    gpu_seconds: float = Field(10.0, gt=0, description="GPU: clip length (640x480, x4).")
    encode_frames: int = Field(24, ge=2, description="Encode: frames per encoder capacity run.")
    encode_seconds: float = Field(
        12.0, gt=0, description="Encode: clip length of the job with a simulated GPU (640x480)."
    )
    encode_rounds: int = Field(
        3, ge=1, description="Encode: rounds of the whole commands (jobs, ffmpeg) in turn."
    )
    archive_clips: int = Field(20, ge=1, description="Archive: clips in the archive.")
    archive_seconds: float = Field(2.0, gt=0, description="Archive: each clip's length.")
    temporal_seconds: float = Field(
        3.0, gt=0, description="Temporal: clip length (three scenes, 320x240 -> 640x480)."
    )
    temporal_rounds: int = Field(
        3, ge=1, description="Temporal: rounds of the plain and the --deflicker job in turn."
    )
    interpolate_seconds: float = Field(
        2.0, gt=0, description="Interpolate: clip length (two scenes, kept at --fps)."
    )
    interpolate_rounds: int = Field(
        3, ge=1, description="Interpolate: rounds of the interpolators in turn."
    )
    faces_seconds: float = Field(
        2.0, gt=0, description="Faces: length of the clip of a moving face."
    )
    faces_frames: int = Field(
        4, ge=1, description="Faces: frames each round times (a GFPGAN face is seconds)."
    )
    faces_rounds: int = Field(3, ge=1, description="Faces: rounds of the steps in turn.")

    @model_validator(mode="before")
    @classmethod
    def _optimise_all_or_none(cls, data: dict) -> dict:
        if isinstance(data, dict):
            optimise = tuple(data.get("optimise") or ())
            if optimise == ("all",):
                data = {**data, "optimise": data.get("models", OFFLINE_MODELS)}
            elif optimise == ("none",):
                data = {**data, "optimise": ()}
        return data

    def size_wh(self, default: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of ``size``, else ``default``."""
        if self.size is None:
            return default
        w, h = self.size.split("x")
        return int(w), int(h)
