"""The benchmark's ``gpu`` section, for a machine with an NVIDIA GPU: the fp16 forward at
1280x720, and the Ray video job with 4 replicas at ``num_gpus=0.25`` on one GPU (NVENC, and
libx264 for comparison): frames/s and GPU memory per replica. Elsewhere it says it skipped.

    python -m jobs.benchmark --section gpu
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.pipeline_report import window_fps
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.upscaler import Upscaler

__all__ = ["section_gpu"]

MIB = 1024 * 1024


def _forward(cfg: BenchmarkConfig) -> list[str]:
    up = Upscaler.load(cfg.model, device="cuda")  # precision auto: fp16 where allowed
    x = torch.rand(1, 3, 720, 1280, device="cuda")
    for _ in range(3):  # warm-up: cuDNN picks its kernels
        up.forward(x)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(cfg.frames * 5):
        up.forward(x)
    torch.cuda.synchronize()
    fps = cfg.frames * 5 / (time.perf_counter() - started)
    memory = torch.cuda.max_memory_allocated() / MIB
    return ["forward 1280x720", up.precision, f"{fps:.1f}", "-", f"{memory:.0f}", "-"]


def _job(clip: str, tmp: str, cfg: BenchmarkConfig, codec: str) -> tuple[VideoJobResult, float]:
    cpus = os.cpu_count() or 4
    config = VideoJobConfig(
        input=clip,
        output=f"{tmp}/{codec}.mp4",
        upscale=UpscaleConfig(model=cfg.model),
        codec=codec,
        replicas=ReplicaConfig(
            min_replicas=4,
            max_replicas=4,
            num_gpus_per_replica=0.25,
            num_cpus_per_replica=max(1, cpus // 5),
            threads_per_replica=max(1, cpus // 5),
        ),
    )
    started = time.monotonic()
    result = run_video_job(config, progress=())
    print(f"gpu: {codec} job done", file=sys.stderr, flush=True)
    return result, time.monotonic() - started


def _job_row(name: str, result: VideoJobResult, wall: float) -> list[str]:
    at_work, _, _ = window_fps(result.chunks)
    memory: dict[str, int] = {}
    for c in result.chunks:
        memory[c.replica] = max(memory.get(c.replica, 0), c.device_memory)
    per_replica = "/".join(f"{m / MIB:.0f}" for m in memory.values())
    encoders = ",".join(sorted({c.encoder for c in result.chunks}))
    return [
        name, encoders, f"{result.frames / wall:.1f}", f"{at_work:.1f}",
        "-", per_replica,
    ]  # fmt: skip


def section_gpu(cfg: BenchmarkConfig) -> str:
    if not torch.cuda.is_available():
        return "== gpu: skipped: no CUDA device on this machine"
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((640, 480))
    rows = [_forward(cfg)]
    with tempfile.TemporaryDirectory(prefix="rb-gpu-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.gpu_seconds, size=(w, h))
        with local_ray(tmp, os.cpu_count() or 4, gpus=1):
            for codec in ("h264", "libx264"):
                result, wall = _job(clip, tmp, cfg, codec)
                rows.append(_job_row(f"Ray job, 4 x 0.25 GPU, --codec {codec}", result, wall))
    name = torch.cuda.get_device_name()
    return "\n".join(
        [
            f"== gpu: {name}, {cfg.model}; the job on a {cfg.gpu_seconds:g} s {w}x{h} clip "
            f"(x4: {4 * w}x{4 * h}), end to end and at work (first frame into a replica to "
            "the last chunk out)",
            table(
                ["run", "encoder / precision", "fps", "at work fps", "GPU MiB", "GPU MiB/replica"],
                rows,
            ),
        ]
    )
