"""The benchmark's ``interpolate`` section: frames between frames against a ground truth.

A clip at twice the frame rate (``rayapp.testing.motion``: two scenes of pans of several
pixels a frame over photographs, a cut between) loses every other frame; each interpolator
makes them again from their neighbours (never across the cut). For each: mean PSNR and
SSIM of the new frames against the dropped ones, and frames made per second on this
machine's CPU, in rounds taken in turn (each round's and the median):

- ``flow``: ``rayapp.interpolate.interpolate_flow`` (DIS flow both ways, no weights);
- FFmpeg's motion-compensated interpolation (``minterpolate``, ``mi_mode=mci``);
- a RIFE network of the 4.6 architecture (``rayapp.rife``) with random weights: its speed
  only (RIFE's weights cannot be downloaded here; a user gives a checkpoint);
- blending the two neighbours (the baseline).

Where it runs, the ``flow`` interpolator with the model (``--model``, x2): the clip area-
downscaled to half its size is the source; its frames are upscaled and the new frames made
between the upscales (flow measured on the source, scaled), against new frames made between
the source frames and then upscaled. PSNR of the new frames against the dropped truth, and
the milliseconds each new frame costs (the interpolation, and the model where it runs on
the new frames too).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.interpolate import blend_frames, flows_between, interpolate_flow
from rayapp.quality import psnr, ssim
from rayapp.rife import IFNet, RifeInterpolator
from rayapp.testing.motion import area_downscaled, minterpolated, photographs, scene_truth
from rayapp.upscaler import Upscaler

__all__ = ["section_interpolate"]

PANS = ((4.3, 1.2), (-3.1, 2.4))  # truth pixels a frame, at the doubled rate
RANDOM_RIFE = "RIFE 4.6 architecture, random weights"  # its speed only


def section_interpolate(cfg: BenchmarkConfig) -> str:
    w, h = cfg.size_wh((320, 240))
    per_scene = round(cfg.interpolate_seconds * 2 * cfg.fps / 2)  # truth frames a scene
    coffee, _, astronaut = photographs()
    truth = scene_truth(
        [(coffee, per_scene, PANS[0]), (astronaut, per_scene, PANS[1])], h, w
    )  # fmt: skip
    kept, dropped = truth[::2], truth[1::2]
    cut = per_scene // 2  # the first kept frame of the second scene
    pairs = [i for i in range(len(kept) - 1) if i + 1 != cut]

    def by_flow() -> list[np.ndarray]:
        return [interpolate_flow(kept[i], kept[i + 1], [0.5])[0] for i in pairs]

    def by_ffmpeg() -> list[np.ndarray]:
        made = minterpolated(kept)
        return [made[2 * i + 1] for i in pairs if 2 * i + 1 < len(made)]

    def by_blend() -> list[np.ndarray]:
        return [blend_frames(kept[i], kept[i + 1], [0.5])[0] for i in pairs]

    import torch

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    rife = RifeInterpolator(IFNet("4.6"))

    def by_rife() -> list[np.ndarray]:
        return [rife.between(kept[i], kept[i + 1], [0.5])[0] for i in pairs]

    ways: dict[str, Callable[[], list[np.ndarray]]] = {
        "flow (DIS, both ways)": by_flow,
        "FFmpeg minterpolate (mci)": by_ffmpeg,
        RANDOM_RIFE: by_rife,
        "blend the neighbours": by_blend,
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    made: dict[str, list[np.ndarray]] = {}
    for _ in range(cfg.interpolate_rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            made[name] = way()
            rates[name].append(len(made[name]) / (time.perf_counter() - started))
    rows = []
    for name, frames in made.items():
        truths = [dropped[i] for i in pairs[: len(frames)]]
        scores = [(psnr(f, t)[0], ssim(f, t)[0]) for f, t in zip(frames, truths, strict=True)]
        db, similar = np.mean(scores, axis=0)
        quality = ["-", "-"] if name == RANDOM_RIFE else [f"{db:.2f}", f"{similar:.4f}"]
        rows.append([
            name, *quality, " ".join(f"{r:.1f}" for r in rates[name]),
            f"{statistics.median(rates[name]):.1f}",
        ])  # fmt: skip
    head = (
        f"== interpolate: {len(kept)} frames at {cfg.fps} fps, {w}x{h}, every other frame of "
        f"a {2 * cfg.fps} fps truth dropped and made again ({len(pairs)} new frames, none "
        f"across the cut at {cut}); CPU"
    )
    header = ["interpolator", "PSNR dB", "SSIM", "frames/s each round", "median"]
    return "\n".join([head, table(header, rows), _where(cfg, truth, pairs)])


def _where(cfg: BenchmarkConfig, truth: np.ndarray, pairs: list[int]) -> str:
    """The flow interpolator after the upscale against before it (module docstring)."""
    source = area_downscaled(truth, 2)
    kept, dropped = source[::2], truth[1::2]
    import torch

    torch.set_num_threads(cfg.threads)
    upscaler = Upscaler.load(cfg.model, device="cpu", outscale=2)
    upscaler.upscale_batch(kept[:1])  # warm
    started = time.perf_counter()
    big = upscaler.upscale_batch(kept)
    model_ms = 1000 * (time.perf_counter() - started) / len(kept)
    started = time.perf_counter()
    after = [
        interpolate_flow(big[i], big[i + 1], [0.5], flows_between(kept[i], kept[i + 1]))[0]
        for i in pairs
    ]
    after_ms = 1000 * (time.perf_counter() - started) / len(pairs)
    started = time.perf_counter()
    small = np.stack([interpolate_flow(kept[i], kept[i + 1], [0.5])[0] for i in pairs])
    small_ms = 1000 * (time.perf_counter() - started) / len(pairs)
    before = upscaler.upscale_batch(small)

    def mean_psnr(frames: Sequence[np.ndarray]) -> str:
        scores = [psnr(f, dropped[i])[0] for f, i in zip(frames, pairs, strict=True)]
        return f"{np.mean(scores):.2f}"

    h, w = kept.shape[1:3]
    rows = [
        ["after the upscale", mean_psnr(after), f"{after_ms:.1f}", "-", f"{after_ms:.1f}"],
        ["before the upscale", mean_psnr(before), f"{small_ms:.1f}", f"{model_ms:.1f}",
         f"{small_ms + model_ms:.1f}"],
    ]  # fmt: skip
    kept_db = np.mean([psnr(big[i], truth[2 * i])[0] for i in range(len(kept))])
    head = (
        f"-- where: {cfg.model} x2 on the CPU, {w}x{h} -> {2 * w}x{2 * h}, {len(pairs)} new "
        f"frames (the source's own frames upscaled: {kept_db:.2f} dB against the truth)"
    )
    header = ["new frames made", "PSNR dB", "interpolate ms", "model ms", "ms a new frame"]
    return "\n".join([head, table(header, rows)])
