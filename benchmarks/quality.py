"""The benchmark's ``quality`` section: how good each offline model's upscale is, measured
without a ground truth and with one.

- consistency: the bundled photograph upscaled and downscaled back (bicubic, antialiased)
  against itself; a generated clip through the video job (local runner), from its
  certificate (median and lowest sampled frame, warping error inside chunks);
- store small, upscale on read: the evaluation job on the photograph and frames of the
  clip at x2 and x4, each model next to plain bicubic: quality against bytes saved.
"""

from __future__ import annotations

import importlib.resources
import sys
import tempfile

from benchmarks.bare import decode_frames
from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp import quality, storage
from rayapp.config import EvaluateJobConfig, ReplicaConfig, UpscaleConfig, VideoJobConfig
from rayapp.images import decode_image, encode_image
from rayapp.pipeline import run_evaluation, run_video_job
from rayapp.resize import resize_image
from rayapp.upscaler import Upscaler

__all__ = ["section_quality"]

_CLIP_SIZE = (160, 120)
_EVALUATED_FRAMES = 3


def _photo_row(model: str, photo) -> list[str]:  # noqa: ANN001 - an HWC array
    up = Upscaler.from_config(UpscaleConfig(model=model))
    back = resize_image(up.upscale(photo), photo.shape[:2])
    psnr = quality.psnr(back, photo)[0]
    ssim = quality.ssim(back, photo)[0]
    return [model, up.precision, f"{psnr:.2f}", f"{ssim:.4f}"]


def _clip_row(model: str, clip: str, tmp: str) -> list[str]:
    config = VideoJobConfig(
        input=clip, output=f"{tmp}/{model}.mp4", upscale=UpscaleConfig(model=model)
    )
    result = run_video_job(config, runner="local", progress=())
    print(f"quality: {config.output} done", file=sys.stderr, flush=True)
    measured = result.report["quality"]
    psnr = measured["consistency"]["psnr_db"]
    inside = measured["temporal"]["inside"]
    return [
        model,
        "ok" if result.report["integrity"]["ok"] else "FAILED",
        f"{psnr['median']:.2f}",
        f"{psnr['min']:.2f}",
        f"{measured['consistency']['ssim']['mean']:.4f}",
        f"{inside['mean']:.3f} ({inside['bicubic_mean']:.3f})",
    ]


def section_quality(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    photo_bytes = (importlib.resources.files("rayapp") / "data" / "astronaut.png").read_bytes()
    photo = decode_image(photo_bytes)
    photo_rows = [_photo_row(m, photo) for m in cfg.models]
    with tempfile.TemporaryDirectory(prefix="rb-quality-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.quality_seconds, size=_CLIP_SIZE)
        clip_rows = [_clip_row(m, clip, tmp) for m in cfg.models]
        storage.write_bytes(f"{tmp}/originals/astronaut.png", photo_bytes)
        frames = decode_frames(clip)
        step = max(1, len(frames) // _EVALUATED_FRAMES)
        for i in range(0, len(frames), step)[:_EVALUATED_FRAMES]:
            storage.write_bytes(f"{tmp}/originals/frame{i:03d}.png", encode_image(frames[i]))
        with local_ray(tmp, cfg.threads):
            evaluation = run_evaluation(
                EvaluateJobConfig(
                    input=f"{tmp}/originals",
                    output=f"{tmp}/evaluation",
                    models=(*cfg.models, "bicubic"),
                    scales=(2.0, 4.0),
                    replicas=ReplicaConfig(min_replicas=1, max_replicas=1),
                )
            )
    w, h = _CLIP_SIZE
    return "\n".join(
        [
            f"== quality: consistency (upscale, then downscale back, against the input); "
            f"photograph {photo.shape[1]}x{photo.shape[0]}",
            table(["model", "precision", "PSNR dB", "SSIM"], photo_rows),
            f"   clip {w}x{h}, {cfg.quality_seconds:g} s, x264 crf 18: the video job's "
            "certificate (sampled frames)",
            table(
                [
                    "model",
                    "integrity",
                    "PSNR median",
                    "PSNR min",
                    "SSIM",
                    "warping error (bicubic)",
                ],
                clip_rows,
            ),  # fmt: skip
            f"   store small, upscale on read: the photograph and {_EVALUATED_FRAMES} frames of "
            "the clip, stored as PNG, against the originals",
            evaluation.table(),
        ]
    )
