"""Typed configuration: the one home of every default.

The CLI, the jobs, the Serve YAML and the cluster configs use these names.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Device", "Precision", "UpscaleConfig"]

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Device = str  # "auto" | "cpu" | "cuda" | "cuda:<i>"

MAX_OUTSCALE = 16.0


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
