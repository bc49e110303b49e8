"""The benchmark's ``cold`` section: ``python -m jobs.upscale_video`` on a 2 s clip as a user
runs it (a fresh process, its own embedded Ray), against the bare forward on the clip's
frames, with where the seconds go until the first frame enters a model and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from benchmarks.bare import decode_frames, time_frames
from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.config import UpscaleConfig
from rayapp.upscaler import Upscaler

__all__ = ["section_cold"]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_job(clip: str, tmp: str, cfg: BenchmarkConfig) -> tuple[dict, float, float]:
    """The job's result, and the wall times at which its process started and ended."""
    result_json = f"{tmp}/result.json"
    command = [
        sys.executable, "-m", "jobs.upscale_video", "--input", clip, "--output",
        f"{tmp}/out.mp4", "--model", cfg.model, "--result-json", result_json,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own Ray
    started = time.time()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the job failed: {done.stderr.strip()[-2000:]}")
    with open(result_json) as f:
        return json.load(f), started, ended


def section_cold(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((320, 240))
    with tempfile.TemporaryDirectory(prefix="rb-cold-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.cold_seconds, size=(w, h))
        frames = decode_frames(clip)
        result, started, ended = _run_job(clip, tmp, cfg)
        torch.set_num_threads(cfg.threads)
        bare = Upscaler.from_config(UpscaleConfig(model=cfg.model))
        time_frames(bare, frames[:1])  # warm-up
        bare_s = sum(time_frames(bare, frames))
    chunks = result["chunks"]
    replica_start = min(c["replica_started_at"] for c in chunks)
    replica_ready = min(c["replica_ready_at"] for c in chunks)
    first_in = min(c["started_at"] for c in chunks)
    last_out = max(c["finished_at"] for c in chunks)
    total = ended - started
    steps = [
        ("python start and imports", result["started_at"] - started),
        ("embedded Ray up", result["cluster_at"] - result["started_at"]),
        ("first replica process spawned", replica_start - result["cluster_at"]),
        ("replica imports torch, loads the model", replica_ready - replica_start),
        ("first frame enters a model", first_in - replica_ready),
        ("frames through the replicas", last_out - first_in),
        ("assembly, read-back, exit", ended - last_out),
    ]
    rows = [[name, f"{s:.1f}", f"{s / total:.0%}"] for name, s in steps]
    return "\n".join(
        [
            f"== cold: python -m jobs.upscale_video, {cfg.model}, {w}x{h}, {cfg.cold_seconds:g} "
            f"s clip ({len(frames)} frames), {cfg.threads} CPUs, a fresh process and Ray",
            f"   job {total:.1f} s; bare forward on the same frames {bare_s:.1f} s "
            f"({cfg.threads} threads, {bare.precision}); above the bare forward: "
            f"{total - bare_s:.1f} s; first frame into a model {first_in - started:.1f} s "
            "after the process started",
            table(["step", "s", "share"], rows),
        ]
    )
