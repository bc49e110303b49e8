"""The benchmark's ``gpu`` section, for a machine with an NVIDIA GPU: does the video job keep
its GPU busy, or what holds it back?

On a ``gpu_seconds`` 640x480 clip upscaled x4 (to 2560x1920): the model's frames/s
(``Upscaler.upscale_batch``, fp16, one frame a forward), the encoders' frames/s on this
node's CPUs (one single-threaded libx264 medium per CPU, side by side: what the job's
replicas run), and the Ray video job with 4 replicas at a quarter GPU each (``--codec
h264``: NVENC where the GPU has it, else libx264 and the reason): frames/s end to end and
at work, the share of the job's time the GPU was busy (``nvidia-smi``), GPU memory per
replica, and which stage bound it. Elsewhere it says it skipped.

    python -m jobs.benchmark --section gpu
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.encode import side_by_side_fps
from benchmarks.pipeline_report import window_fps
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.upscaler import Upscaler
from rayapp.video import encoder_usable, to_rgb

__all__ = ["section_gpu"]

MIB = 1024 * 1024


class _GpuBusy:
    """``nvidia-smi``'s GPU utilisation sampled every ``interval_s`` in a thread."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.samples: list[tuple[float, float]] = []  # (time.time(), percent)
        self.cpu: list[tuple[float, float]] = []  # (time.time(), percent of all CPUs)
        import ray  # noqa: F401 - puts the psutil that Ray vendors on sys.path

        self._psutil = importlib.import_module("psutil")
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _GpuBusy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=10,
            ).stdout  # fmt: skip
            if out.strip():
                self.samples.append((time.time(), float(out.splitlines()[0])))
            self.cpu.append((time.time(), self._psutil.cpu_percent()))

    def mean(self, start: float, end: float, cpu: bool = False) -> float:
        inside = [p for t, p in (self.cpu if cpu else self.samples) if start <= t <= end]
        return sum(inside) / len(inside) / 100 if inside else float("nan")


def _frames(clip: str) -> list[np.ndarray]:
    import av

    with av.open(clip) as container:
        return [to_rgb(f) for f in container.decode(video=0)]


def _model_fps(
    cfg: BenchmarkConfig, frames: list[np.ndarray]
) -> tuple[float, str, list[np.ndarray]]:
    """The model's frames/s, its precision, and 24 of its outputs spread over the clip
    (what the job's encoders get)."""
    up = Upscaler.load(cfg.model, device="cuda")  # precision auto: fp16 where allowed
    for f in frames[:3]:  # warm-up: cuDNN picks its kernels
        up.upscale_batch(f[None])
    torch.cuda.synchronize()
    started = time.perf_counter()
    for f in frames[:48]:
        up.upscale_batch(f[None])
    torch.cuda.synchronize()
    fps = min(48, len(frames)) / (time.perf_counter() - started)
    spread = [frames[i * (len(frames) - 1) // 23] for i in range(24)]
    return fps, up.precision, [up.upscale_batch(f[None])[0] for f in spread]


def _job(clip: str, tmp: str, cfg: BenchmarkConfig) -> tuple[VideoJobResult, float]:
    cpus = os.cpu_count() or 4
    config = VideoJobConfig(
        input=clip,
        output=f"{tmp}/out.mp4",
        upscale=UpscaleConfig(model=cfg.model),
        codec="h264",  # chunks cut by the job for every encoder of its replicas
        replicas=ReplicaConfig(
            min_replicas=4,
            max_replicas=4,
            num_gpus_per_replica=0.25,
            num_cpus_per_replica=max(1, cpus // 5),
            threads_per_replica=1,
        ),
    )
    started = time.monotonic()
    result = run_video_job(config, progress=())
    print(f"gpu: job done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return result, time.monotonic() - started


def section_gpu(cfg: BenchmarkConfig) -> str:
    if not torch.cuda.is_available():
        return "== gpu: skipped: no CUDA device on this machine"
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((640, 480))
    cpus = os.cpu_count() or 4
    with tempfile.TemporaryDirectory(prefix="rb-gpu-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.gpu_seconds, size=(w, h))
        frames = _frames(clip)
        model_fps, precision, outputs = _model_fps(cfg, frames)
        print(f"gpu: model {model_fps:.1f} frames/s", file=sys.stderr, flush=True)
        encoders_fps = side_by_side_fps(clip, outputs, "libx264", "medium", cpus)
        print(f"gpu: encoders {encoders_fps:.1f} frames/s", file=sys.stderr, flush=True)
        torch.cuda.empty_cache()
        with local_ray(tmp, cpus, gpus=1), _GpuBusy() as busy:
            result, wall = _job(clip, tmp, cfg)
    at_work, _, span = window_fps(result.chunks)
    first = min(c.started_at for c in result.chunks)
    last = max(c.finished_at for c in result.chunks)
    memory: dict[str, int] = {}
    for c in result.chunks:
        memory[c.replica] = max(memory.get(c.replica, 0), c.device_memory)
    per_replica = "/".join(f"{m / MIB:.0f}" for m in memory.values())
    encoder = ",".join(sorted({c.encoder for c in result.chunks}))
    bound = "model" if model_fps < encoders_fps else "encoders"
    why = encoder_usable("h264_nvenc")
    rows = [
        ["model (upscale_batch, 1 frame a forward)", precision, f"{model_fps:.1f}"],
        [f"encoders ({cpus} x libx264 medium, 1 thread each)", "-", f"{encoders_fps:.1f}"],
        ["Ray job, end to end", encoder, f"{result.frames / wall:.1f}"],
        ["Ray job, at work", encoder, f"{at_work:.1f}"],
    ]
    return "\n".join(
        [
            f"== gpu: {torch.cuda.get_device_name()}, {cpus} CPUs, {cfg.model} x4; a "
            f"{cfg.gpu_seconds:g} s {w}x{h} clip ({result.frames} frames) to {4 * w}x{4 * h}",
            table(["run", "precision / encoder", "frames/s"], rows),
            f"   job at work / the lesser of model and encoders ({bound}): "
            f"{at_work / min(model_fps, encoders_fps):.2f}; GPU busy {busy.mean(first, last):.0%} "
            f"of the time at work ({span:.1f} s; CPUs {busy.mean(first, last, cpu=True):.0%} "
            f"busy), {busy.mean(first - 60, time.time()):.0%} of the whole job ({wall:.1f} s); "
            f"GPU memory per replica {per_replica} MiB; NVENC: "
            f"{why or 'opens'}",
        ]
    )
