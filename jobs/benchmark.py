"""Benchmark on this machine: ``python -m jobs.benchmark [--section forward] [--models a,b]``.

Sections (one function each, selected with ``--section``; later issues add more):
- ``forward``: the bare network, ours (eager, and compiled by ``rayapp._inductor``) next to the
  ncnn CPU run of the same model and this machine's matmul peak, all interleaved in one
  process so background load hits every variant alike.
- ``pipeline``: the Ray video job end to end on generated clips (a short one and one
  ``--long`` times longer) next to the bare model forward on the same decoded frames and
  the sequential driver, with where the time goes (Ray start, replica start-up, first chunk,
  steady state, assembly), peak memory of the driver and of the Ray processes, the object
  store's peak, and the peak temporary disk against the output's size.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from benchmarks.forward import OFFLINE_MODELS, section_forward
from benchmarks.pipeline import section_pipeline
from rayapp.config import ReplicaConfig


class BenchmarkConfig(BaseModel):
    """What to measure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sections: tuple[str, ...] = Field(("forward",), description="Sections to run, in order.")
    models: tuple[str, ...] = Field(OFFLINE_MODELS, description="Offline registry models.")
    size: tuple[int, int] | None = Field(
        None, description="Input (width, height) for every model; default: per model."
    )
    frames: int = Field(3, ge=1, description="Timed frames per variant (after one warm-up).")
    threads: int = Field(2, ge=1, description="CPU threads for torch and ncnn.")
    optimise: tuple[str, ...] = Field(
        ("realesr-animevideov3",),
        description="Models to also time through rayapp._inductor (compiling RRDB takes minutes).",
    )
    model: str = Field("realesr-animevideov3", description="Pipeline section: the model.")
    outscale: float = Field(2.0, gt=0, description="Pipeline section: final scale.")
    seconds: float = Field(2.0, gt=0, description="Pipeline section: short clip length.")
    long: int = Field(4, ge=1, description="Pipeline section: the long clip is this x longer.")
    fps: int = Field(24, ge=1, description="Pipeline section: clip frame rate.")
    segment_s: float = Field(1.0, gt=0, description="Pipeline section: job segment_s.")
    chunk_frames: int = Field(12, ge=1, description="Pipeline section: job chunk_frames.")
    min_replicas: int = Field(
        ReplicaConfig().min_replicas, ge=1, description="Pipeline section: replicas kept."
    )
    max_replicas: int = Field(
        ReplicaConfig().max_replicas, ge=1, description="Pipeline section: replicas at most."
    )
    bare_frames: int = Field(8, ge=1, description="Pipeline section: frames per bare pass.")


SECTIONS: dict[str, Callable[[BenchmarkConfig], str]] = {
    "forward": section_forward,
    "pipeline": section_pipeline,
}


PIPELINE_FLAGS = {
    "model": str, "outscale": float, "seconds": float, "long": int, "fps": int,
    "segment_s": float, "chunk_frames": int, "min_replicas": int, "max_replicas": int,
    "bare_frames": int,
}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> BenchmarkConfig:
    p = argparse.ArgumentParser(prog="python -m jobs.benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--section", default="forward", help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--models", default=",".join(OFFLINE_MODELS), help="comma list")
    p.add_argument("--size", default=None, help="WxH for every model, e.g. 320x240")
    p.add_argument("--frames", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--optimise",
        default=OFFLINE_MODELS[0],
        help="comma list of models to also run compiled by rayapp._inductor, 'all' or 'none'",
    )
    d = BenchmarkConfig.model_fields
    for flag, kind in PIPELINE_FLAGS.items():
        p.add_argument(
            f"--{flag.replace('_', '-')}",
            type=kind,
            default=d[flag].default,
            help=f"{d[flag].description} (default {d[flag].default})",
        )
    a = p.parse_args(argv)
    sections = tuple(s for s in a.section.split(",") if s)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section {unknown[0]!r}. Available: {', '.join(sorted(SECTIONS))}")
    size = None
    if a.size:
        try:
            w, h = (int(v) for v in a.size.lower().split("x"))
        except ValueError:
            p.error(f"--size must be WxH like 320x240, got {a.size!r}")
        size = (w, h)
    return BenchmarkConfig(
        sections=sections,
        models=tuple(m for m in a.models.split(",") if m),
        size=size,
        frames=a.frames,
        threads=a.threads,
        optimise=_names(a.optimise, a.models),
        **{k: getattr(a, k) for k in PIPELINE_FLAGS},
    )


def _names(value: str, models: str) -> tuple[str, ...]:
    if value == "all":
        value = models
    return tuple(m for m in value.split(",") if m and m != "none")


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_args(argv)
    for section in cfg.sections:
        print(SECTIONS[section](cfg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
