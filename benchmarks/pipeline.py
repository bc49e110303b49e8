"""The benchmark's ``pipeline`` section: the video job on generated clips (the Ray runner, and
the local runner) next to the bare model forward on the same frames, timed while
``ResourceSampler`` runs. Timings come from the job's own result (``VideoJobResult.chunks``)
and progress events: nothing in the library is replaced or patched."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.bare import BareForward, decode_frames, time_frames
from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.pipeline_report import TimedRun, pipeline_report
from benchmarks.sampler import ResourceSampler
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import LogProgress, ProgressEvent, Runner, run_video_job
from rayapp.upscaler import Upscaler


def _bare_passes(
    runners: dict[str, Callable[[np.ndarray], list[float]]],
    frames: np.ndarray,
    out: dict[str, list[list[float]]],
) -> None:
    """One pass of every runner (wall s/frame, 1 frame at a time), the first one last."""
    for label, run in reversed(runners.items()):
        out[label].append(run(frames))
    print(f"pipeline: bare passes {len(out[label])} done", file=sys.stderr, flush=True)


def _bare_runners(
    upscaler: Upscaler, total_threads: int, per_replica: int, cfg: BenchmarkConfig
) -> dict[str, Callable[[np.ndarray], list[float]]]:
    """The bare forward in this process at both thread counts (the replicas' total first:
    it is the reference), and in a Ray actor at one replica's."""
    import ray

    def in_driver(threads: int) -> Callable[[np.ndarray], list[float]]:
        def run(frames: np.ndarray) -> list[float]:
            torch.set_num_threads(threads)
            return time_frames(upscaler, frames)

        return run

    # num_cpus=0: it must not take the CPUs the jobs' replicas ask for; it idles meanwhile.
    actor = ray.remote(num_cpus=0)(BareForward).remote(
        UpscaleConfig(model=cfg.model, outscale=cfg.outscale), per_replica
    )
    return {
        f"bare {total_threads} thr": in_driver(total_threads),
        f"bare {per_replica} thr": in_driver(per_replica),
        f"bare {per_replica} thr, Ray actor": lambda f: ray.get(actor.run.remote(f)),
    }


def _run_job(
    name: str,
    clip: str,
    tmp: str,
    cfg: BenchmarkConfig,
    sampler: ResourceSampler,
    runner: Runner = "ray",
    upscaler: Upscaler | None = None,
) -> TimedRun:
    threads = max(1, cfg.threads // cfg.max_replicas)
    job = VideoJobConfig(
        input=clip,
        output=f"{tmp}/out/{name}.mp4",
        upscale=UpscaleConfig(model=cfg.model, outscale=cfg.outscale),
        segment_s=cfg.segment_s,
        chunk_frames=cfg.chunk_frames,
        replicas=ReplicaConfig(
            min_replicas=cfg.min_replicas,
            max_replicas=cfg.max_replicas,
            threads_per_replica=threads,
        ),
        work=f"{tmp}/work",
        dedup=False,  # every frame through the model, as the bare forward
    )
    points: list[tuple[float, int]] = []
    with sampler.phase() as peaks:
        started = time.monotonic()

        def record(event: ProgressEvent) -> None:
            points.append((time.monotonic() - started, event.frames_done))

        result = run_video_job(
            job, runner=runner, upscaler=upscaler, progress=[LogProgress(), record]
        )
        wall = time.monotonic() - started
    return TimedRun(
        name=name,
        result=result,
        wall_s=wall,
        output_bytes=os.path.getsize(job.output),
        peaks=peaks,
        points=points,
        local=runner == "local",
    )


def section_pipeline(cfg: BenchmarkConfig) -> str:
    """The video job end to end vs the bare model on the same frames, with its costs."""
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((160, 120))
    total_threads = max(1, cfg.threads // cfg.max_replicas) * cfg.max_replicas
    torch.set_num_threads(total_threads)
    with tempfile.TemporaryDirectory(prefix="rb-", dir="/tmp") as tmp:
        for d in ("clips", "out", "work", "spill"):
            os.makedirs(f"{tmp}/{d}")
        short = make_sample_video(
            f"{tmp}/clips/short.mp4", seconds=cfg.seconds, fps=cfg.fps, size=(w, h)
        )
        long = make_sample_video(
            f"{tmp}/clips/long.mp4", seconds=cfg.seconds * cfg.long, fps=cfg.fps, size=(w, h)
        )
        frames = decode_frames(short)
        step = max(1, len(frames) // cfg.bare_frames)
        pick = frames[::step][: cfg.bare_frames]
        upscaler = Upscaler.from_config(UpscaleConfig(model=cfg.model, outscale=cfg.outscale))
        with local_ray(tmp, cfg.threads) as ray_init_s:
            per_replica = max(1, cfg.threads // cfg.max_replicas)
            runners = _bare_runners(upscaler, total_threads, per_replica, cfg)
            for run in runners.values():
                run(pick[:1])  # warm-up: oneDNN picks its kernels here; the actor starts
            bare: dict[str, list[list[float]]] = {label: [] for label in runners}
            dirs = {"work": f"{tmp}/work", "spill": f"{tmp}/spill"}
            with ResourceSampler(dirs) as sampler:
                with sampler.phase() as idle:
                    _bare_passes(runners, pick, bare)
                runs = [_run_job("short", short, tmp, cfg, sampler)]
                _bare_passes(runners, pick, bare)
                runs.append(_run_job("local", short, tmp, cfg, sampler, "local", upscaler))
                runs.append(_run_job("long", long, tmp, cfg, sampler))
                _bare_passes(runners, pick, bare)
    return pipeline_report(cfg, (w, h), total_threads, ray_init_s, bare, runs, idle)
