"""The benchmark's ``steady`` section: a 10 s clip through `rayapp video`'s runner (the local
one) and the Ray job, each in steady state (from the first frame into a replica to the last
chunk out), next to the best bare forward on the same frames; the Ray job once more with
x264's veryfast preset, to show the encoder's share."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

from benchmarks.bare import decode_frames, time_frames
from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.pipeline_report import window_fps
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import Runner, VideoJobResult, run_video_job
from rayapp.upscaler import Upscaler

__all__ = ["section_steady"]

HEADER = ["run", "frames", "wall s", "fps", "at work fps", "vs bare", "what"]


def _job(clip: str, tmp: str, name: str, cfg: BenchmarkConfig, **fields: object) -> VideoJobConfig:
    return VideoJobConfig(
        input=clip,
        output=f"{tmp}/{name}.mp4",
        upscale=UpscaleConfig(model=cfg.model),
        replicas=ReplicaConfig(min_replicas=cfg.max_replicas, max_replicas=cfg.max_replicas),
        dedup=False,  # every frame through the model, as the bare forward (see --section dedup)
        **fields,
    )


def _timed(config: VideoJobConfig, runner: Runner) -> tuple[VideoJobResult, float]:
    started = time.monotonic()
    result = run_video_job(config, runner=runner, progress=())
    print(f"steady: {config.output} done", file=sys.stderr, flush=True)
    return result, time.monotonic() - started


def _row(
    name: str, result: VideoJobResult, wall: float, bare: tuple[float, float], what: str
) -> list[str]:
    """Against the bare forward's passes just before and just after the run (s/frame)."""
    fps, _, _ = window_fps(result.chunks)
    bare_fps = 2 / sum(bare)
    return [
        name, str(result.frames), f"{wall:.1f}", f"{result.frames / wall:.2f}", f"{fps:.2f}",
        f"{fps / bare_fps:.2f}", what,
    ]  # fmt: skip


def section_steady(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((320, 240))
    torch.set_num_threads(cfg.threads)
    with tempfile.TemporaryDirectory(prefix="rb-steady-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.steady_seconds, size=(w, h))
        frames = decode_frames(clip)
        pick = frames[:: max(1, len(frames) // cfg.bare_frames)][: cfg.bare_frames]
        bare = Upscaler.from_config(UpscaleConfig(model=cfg.model))
        time_frames(bare, pick[:1])  # warm-up

        def bare_pass() -> float:  # this machine's speed drifts: measured between the runs
            torch.set_num_threads(cfg.threads)
            return statistics.median(time_frames(bare, pick))

        passes = [bare_pass()]
        local, local_s = _timed(_job(clip, tmp, "local", cfg), "local")
        passes.append(bare_pass())
        with local_ray(tmp, cfg.threads):
            on_ray, ray_s = _timed(_job(clip, tmp, "ray", cfg), "ray")
            passes.append(bare_pass())
            fast, fast_s = _timed(_job(clip, tmp, "ray-veryfast", cfg, preset="veryfast"), "ray")
            passes.append(bare_pass())
    replicas = f"{cfg.max_replicas} replicas x {max(1, cfg.threads // cfg.max_replicas)} thr"
    best = 1 / min(passes)
    rows = [
        ["bare forward", str(len(pick)), "-", f"{best:.2f}", f"{best:.2f}", "1.00",
         f"upscale_batch, {cfg.threads} threads, {bare.precision}, median s/frame of the "
         "passes " + "/".join(f"{p:.3f}" for p in passes)],
        _row("rayapp video (local runner)", local, local_s, (passes[0], passes[1]),
             "1 process, in-process model"),
        _row("Ray job", on_ray, ray_s, (passes[1], passes[2]),
             replicas + ", x264 medium (default)"),
        _row("Ray job, veryfast", fast, fast_s, (passes[2], passes[3]),
             replicas + ", x264 veryfast"),
    ]  # fmt: skip
    return "\n".join(
        [
            f"== steady: {cfg.model} x{local.output_size[0] // w}, {w}x{h}, "
            f"{cfg.steady_seconds:g} s clip ({len(frames)} frames), {cfg.threads} CPUs; at work "
            "= frames / time from the first frame into a replica to the last chunk out (start-up "
            "and assembly left out); vs bare = against the bare passes just before and after the "
            "run; wall = the job call, model load (and replicas' start) in",
            table(HEADER, rows),
        ]
    )
