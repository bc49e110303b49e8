"""The benchmark's ``plan`` section: ``rayapp plan``'s estimate against the job's actual
duration, on 10 s clips (each view held 1 and 2 frames), the job started as a user starts it
(``run_video_job``, which starts its own local Ray), its config the plan's.

    python -m jobs.benchmark --section plan
"""

from __future__ import annotations

import os
import tempfile
import time

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import estimate_video

__all__ = ["section_plan"]


def section_plan(cfg: BenchmarkConfig) -> str:
    import ray

    from rayapp.pipeline import run_video_job
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((160, 120))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rb-plan-", dir="/tmp") as tmp:
        for hold in (1, 2):
            clip = make_sample_video(
                f"{tmp}/hold{hold}.mp4", seconds=cfg.plan_seconds, fps=cfg.fps, size=(w, h),
                hold=hold,
            )  # fmt: skip
            job = VideoJobConfig(
                input=clip, output=f"{tmp}/out-{hold}.mp4", work=f"{tmp}/work",
                upscale=UpscaleConfig(model=cfg.model, outscale=cfg.outscale),
                replicas=ReplicaConfig(max_replicas=cfg.max_replicas),
            )  # fmt: skip
            started = time.monotonic()
            plan = estimate_video(job)
            planned = time.monotonic() - started
            started = time.monotonic()
            result = run_video_job(job, progress=())
            actual = time.monotonic() - started
            ray.shutdown()
            skipped = sum(c.frames_skipped for c in result.chunks) / result.frames
            rows.append([
                f"hold {hold}", str(plan.frames), f"{plan.duplicate_share:.0%} / {skipped:.0%}",
                f"{planned:.1f}", f"{plan.estimated_s:.1f}", f"{actual:.1f}",
                f"{plan.estimated_s / actual:.2f}",
            ])  # fmt: skip
            os.remove(job.output)
    head = ["clip", "frames", "repeats plan / job", "plan s", "estimate s", "actual s", "ratio"]
    return (
        f"plan: estimate vs actual, {cfg.plan_seconds:g} s {w}x{h} clips, {cfg.model} "
        f"x{cfg.outscale:g}, {cfg.max_replicas} replicas, {os.cpu_count()} CPUs\n"
        + table(head, rows)
    )
