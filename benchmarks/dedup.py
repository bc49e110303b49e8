"""The benchmark's ``dedup`` section: a clip whose views are held 2 frames (as animation holds
its drawings), x264 crf 18, through the Ray job with repeats skipped (the default) and with
``--no-dedup``, side by side: speed-up, repeats skipped, and how close the two outputs are."""

from __future__ import annotations

import sys
import tempfile
import time

from benchmarks.bare import decode_frames
from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.config import ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.testing.metrics import psnr

__all__ = ["section_dedup"]


def _run(clip: str, tmp: str, cfg: BenchmarkConfig, dedup: bool) -> tuple[VideoJobResult, float]:
    config = VideoJobConfig(
        input=clip,
        output=f"{tmp}/{'dedup' if dedup else 'every'}.mp4",
        upscale=UpscaleConfig(model=cfg.model),
        replicas=ReplicaConfig(min_replicas=cfg.max_replicas, max_replicas=cfg.max_replicas),
        dedup=dedup,
    )
    started = time.monotonic()
    result = run_video_job(config, progress=())
    print(f"dedup: {config.output} done", file=sys.stderr, flush=True)
    return result, time.monotonic() - started


def _busy(result: VideoJobResult) -> float:
    """Seconds from the first frame into a replica to the last chunk out."""
    return max(c.finished_at for c in result.chunks) - min(c.started_at for c in result.chunks)


def section_dedup(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((320, 240))
    with tempfile.TemporaryDirectory(prefix="rb-dedup-") as tmp:
        clip = make_sample_video(
            f"{tmp}/held.mp4", seconds=cfg.dedup_seconds, size=(w, h), hold=2, crf=18
        )
        with local_ray(tmp, cfg.threads):
            every, every_s = _run(clip, tmp, cfg, dedup=False)
            skipping, skipping_s = _run(clip, tmp, cfg, dedup=True)
        close = psnr(decode_frames(skipping.output_uri), decode_frames(every.output_uri))
    frames = every.frames
    rows = [
        ["--no-dedup", str(every.frames_skipped), f"{every_s:.1f}", f"{_busy(every):.1f}", "1.00",
         "1.00"],
        ["dedup (default)", str(skipping.frames_skipped), f"{skipping_s:.1f}",
         f"{_busy(skipping):.1f}", f"{every_s / skipping_s:.2f}",
         f"{_busy(every) / _busy(skipping):.2f}"],
    ]  # fmt: skip
    return "\n".join(
        [
            f"== dedup: {cfg.model}, {w}x{h}, {cfg.dedup_seconds:g} s clip ({frames} frames, "
            f"each view held 2 frames: {frames // 2} repeats), x264 crf 18; Ray job, "
            f"{cfg.max_replicas} replicas",
            f"   outputs (each x264 crf 18) within {close:.1f} dB PSNR of each other",
            table(["run", "skipped", "wall s", "at work s", "speed-up", "at work speed-up"], rows),
        ]
    )
