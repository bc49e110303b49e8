"""The benchmark's ``steady`` section: a 10 s clip through `rayapp video`'s runner (the local
one) and the Ray job, each in steady state (from the first frame into a replica to the last
chunk out), next to the bare forward on the same frames measured just before and after each
run; the Ray job once more with x264's veryfast preset, to show the encoder's share. In
rounds (``steady_rounds``), the three runs in turn; the medians are shown, and each round's
ratio."""

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
from benchmarks.rounds import each
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import Runner, VideoJobResult, run_video_job
from rayapp.upscaler import Upscaler

__all__ = ["section_steady"]

HEADER = ["run", "frames", "wall s", "fps", "at work fps", "vs bare", "each round", "what"]


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


RUNS = (
    ("rayapp video (local runner)", "local", {}, "1 process, in-process model"),
    ("Ray job", "ray", {}, "x264 medium (default)"),
    ("Ray job, veryfast", "ray", {"preset": "veryfast"}, "x264 veryfast"),
)


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
        # name -> (fps at work, wall s, vs the bare passes just before and after) per round
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, *_ in RUNS}
        with local_ray(tmp, cfg.threads):
            for r in range(cfg.steady_rounds):
                for name, runner, fields, _ in RUNS:
                    config = _job(clip, tmp, f"{runner}-{len(passes)}", cfg, **fields)
                    result, wall = _timed(config, runner)
                    passes.append(bare_pass())
                    fps, _, _ = window_fps(result.chunks)
                    bare_fps = 2 / (passes[-2] + passes[-1])
                    runs[name].append((fps, wall, fps / bare_fps))
                line = ", ".join(f"{name} {v[-1][2]:.2f}" for name, v in runs.items())
                print(f"steady: round {r + 1}/{cfg.steady_rounds}, vs bare: {line}",
                      file=sys.stderr, flush=True)  # fmt: skip
    replicas = f"{cfg.max_replicas} replicas x {max(1, cfg.threads // cfg.max_replicas)} thr"
    best = 1 / min(passes)
    rows = [
        ["bare forward", str(len(pick)), "-", f"{best:.2f}", f"{best:.2f}", "1.00", "-",
         f"upscale_batch, {cfg.threads} threads, {bare.precision}, median s/frame of the "
         f"passes {each(passes, 3)}"],
    ]  # fmt: skip
    for name, runner, _, what in RUNS:
        fps, wall, ratio = (list(v) for v in zip(*runs[name], strict=True))
        rows.append(
            [name, str(result.frames), f"{statistics.median(wall):.1f}",
             f"{result.frames / statistics.median(wall):.2f}", f"{statistics.median(fps):.2f}",
             f"{statistics.median(ratio):.2f}", each(ratio, 2),
             what if runner == "local" else f"{replicas}, {what}"]
        )  # fmt: skip
    return "\n".join(
        [
            f"== steady: {cfg.model} x{result.output_size[0] // w}, {w}x{h}, "
            f"{cfg.steady_seconds:g} s clip ({len(frames)} frames), {cfg.threads} CPUs, "
            f"{cfg.steady_rounds} rounds in turn (medians); at work = frames / time from the "
            "first frame into a replica to the last chunk out (start-up and assembly left "
            "out); vs bare = against the bare passes just before and after the run; wall = "
            "the job call, model load (and replicas' start) in",
            table(HEADER, rows),
        ]
    )
