"""What ``python -m jobs.train`` does: one config, its flags generated from it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rayapp.train.degrade import DegradeConfig

__all__ = ["TrainJobConfig"]


class TrainJobConfig(BaseModel):
    """Fine-tune a model on frames streamed from videos (no frame is ever written to disk)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    videos: tuple[str, ...] = Field(
        ..., min_length=1, description="Training videos: URIs, prefixes or globs (s3:// too)."
    )
    val_videos: tuple[str, ...] = Field(
        (), description="Held-out videos; default: each training video's last segment."
    )
    model: str = Field(
        "realesr-animevideov3", description="Start from: a registry name or a checkpoint."
    )
    scale: int = Field(4, ge=1, le=8, description="The model's scale (checked against it).")
    steps: int = Field(1000, ge=1, description="Optimiser steps in all (a resumed run included).")
    batch_size: int = Field(8, ge=1, description="Patches per step and worker.")
    patch: int = Field(128, ge=8, description="High-resolution patch side, in pixels.")
    lr: float = Field(1e-4, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    workers: int = Field(1, ge=1, description="Ray Train workers (DDP: gloo on CPU, NCCL on GPU).")
    num_gpus_per_worker: float = Field(0, ge=0, description="GPUs per worker (0: CPU).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Mixed precision: auto is bf16 on a GPU that has it (else fp16 with loss "
        "scaling) and fp32 on CPU.",
    )
    cpus_per_worker: float | None = Field(
        None,
        gt=0,
        description="CPUs each worker reserves; default: half the cluster's CPUs shared by the "
        "workers (at most 1 for a GPU worker), the rest left to the data path.",
    )
    data_cpus: float | None = Field(
        None,
        gt=0,
        description="CPUs each decode-and-degrade task (the data path) reserves; default: 1, "
        "or what the workers leave divided among them when that is less.",
    )
    data_timeout_s: float = Field(
        300,
        gt=0,
        description="Seconds a step may wait for its batch (its tasks waiting for CPUs "
        "included) before the job fails, saying what starved.",
    )
    perceptual_weight: float = Field(
        0.0, ge=0, description="Weight of the VGG19 perceptual term added to L1 (0: off)."
    )
    perceptual_weights: str | None = Field(
        None, description="torchvision VGG19 weights (path or URI) for the perceptual term."
    )
    checkpoint_every: int = Field(100, ge=1, description="Validate and checkpoint every K steps.")
    segment_s: float = Field(0.5, gt=0, description="Keyframe segment length to decode per step.")
    val_frames: int = Field(4, ge=1, description="Held-out frames per validation video.")
    seed: int = Field(0, description="Data order, patches and degradations follow it.")
    output: str = Field(..., description="URI for checkpoints (step-N.safetensors and .json).")
    degrade: DegradeConfig = Field(default_factory=DegradeConfig)

    @model_validator(mode="after")
    def _patch_divides(self) -> TrainJobConfig:
        if self.patch % self.scale:
            raise ValueError(f"patch {self.patch} is not a multiple of scale {self.scale}")
        if self.perceptual_weight and not self.perceptual_weights:
            raise ValueError(
                "perceptual_weight needs perceptual_weights: VGG19 weights (path or URI)"
            )
        return self
