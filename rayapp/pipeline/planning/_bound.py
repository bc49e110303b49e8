"""Which stage binds a video job on its cluster, and what would lift it.

Three stages share a node: the model (on its GPUs, or on the CPUs), the encoders (CPU
threads, or NVENC on a GPU that has it) and the decoders (CPU). Each has a rate in frames/s
on the cluster, from one replica's measured (or stored) seconds per frame; the least of
them binds the job. On a GPU node it is usually the encoders: an H200 upscales 640x480 x4
in ~4.4 ms a frame, while libx264 medium at 2560x1920 does ~3 frames/s per core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["StageRates", "stage_rates"]

# Instance types in the cluster configs whose GPU has NVENC.
NVENC_INSTANCES = ("g5.xlarge (A10G)", "g6.xlarge (L4)")


@dataclass(frozen=True)
class StageRates:
    """Frames/s each stage can do on the cluster, the one that binds, and what lifts it."""

    model: float
    encoders: float
    decoders: float
    faster_presets: dict[str, float]  # the encoders' frames/s at faster --preset values

    @property
    def bound(self) -> str:
        rates = {"model": self.model, "encoders": self.encoders, "decoders": self.decoders}
        return min(rates, key=lambda k: rates[k])

    def lift(self, model_on_gpu: bool, encoder_on_gpu: bool) -> str:
        """What would raise the binding stage's rate."""
        if self.bound == "decoders":
            return "more CPUs per replica (the decode tasks run on them)"
        if self.bound == "model":
            if model_on_gpu:
                return "more GPUs (replicas at --num-gpus-per-replica), or a lighter model"
            return "a GPU (--num-gpus-per-replica), more CPUs, or a lighter model"
        if encoder_on_gpu:
            return "more GPUs with NVENC, or a faster --preset"
        faster = ", ".join(
            f"--preset {p}: {fps:.1f} frames/s" for p, fps in self.faster_presets.items()
        )
        return (
            "more CPUs per GPU, a faster preset"
            + (f" ({faster})" if faster else "")
            + f", or NVENC (a GPU that has it: {', '.join(NVENC_INSTANCES)})"
        )

    def describe(self, model_on_gpu: bool, encoder_on_gpu: bool) -> str:
        return (
            f"stages (frames/s on the cluster): model {_fps(self.model)}, encoders "
            f"{_fps(self.encoders)}, decoders {_fps(self.decoders)}; the {self.bound} "
            f"{'binds' if self.bound == 'model' else 'bind'} it; what would lift it: "
            f"{self.lift(model_on_gpu, encoder_on_gpu)}"
        )


def stage_rates(
    *,
    network_s: float,
    encode_s: float,
    decode_s: float,
    cpus: float,
    gpus: float,
    threads: int,
    model_on_gpu: bool,
    encoder_on_gpu: bool,
    faster_encode_s: dict[str, float] | None = None,
) -> StageRates:
    """The stages' rates from one replica's seconds per frame: ``network_s`` (repeats left
    out), ``encode_s`` (one encoder, single-threaded on a CPU or on NVENC) and ``decode_s``
    (one decoder); ``threads``: the model's torch threads on a CPU."""

    def encoders(seconds: float) -> float:
        return (max(gpus, 1e-9) if encoder_on_gpu else cpus) / seconds if seconds else math.inf

    if network_s <= 0:
        model = math.inf
    elif model_on_gpu:
        model = max(gpus, 1e-9) / network_s
    else:
        model = cpus / (network_s * threads)
    return StageRates(
        model=model,
        encoders=encoders(encode_s),
        decoders=cpus / decode_s if decode_s else math.inf,
        faster_presets={p: encoders(s) for p, s in (faster_encode_s or {}).items()},
    )


def _fps(rate: float) -> str:
    return "-" if math.isinf(rate) else f"{rate:.1f}"
