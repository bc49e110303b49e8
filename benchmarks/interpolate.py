"""The benchmark's ``interpolate`` section: frames between frames against a ground truth.

A clip at twice the frame rate (``rayapp.testing.motion``: two scenes of pans of several
pixels a frame over photographs, a cut between) loses every other frame; each interpolator
makes them again from their neighbours (never across the cut). For each: mean PSNR and
SSIM of the new frames against the dropped ones, and frames made per second on this
machine's CPU, in rounds taken in turn (each round's and the median):

- ``flow``: ``rayapp.interpolate.interpolate_flow`` (DIS flow both ways, no weights);
- FFmpeg's motion-compensated interpolation (``minterpolate``, ``mi_mode=mci``);
- blending the two neighbours (the baseline).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.interpolate import blend_frames, interpolate_flow
from rayapp.quality import psnr, ssim
from rayapp.testing.motion import minterpolated, photographs, scene_truth

__all__ = ["section_interpolate"]

PANS = ((4.3, 1.2), (-3.1, 2.4))  # truth pixels a frame, at the doubled rate


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

    ways: dict[str, Callable[[], list[np.ndarray]]] = {
        "flow (DIS, both ways)": by_flow,
        "FFmpeg minterpolate (mci)": by_ffmpeg,
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
        rows.append([
            name,
            f"{np.mean([psnr(f, t)[0] for f, t in zip(frames, truths, strict=True)]):.2f}",
            f"{np.mean([ssim(f, t)[0] for f, t in zip(frames, truths, strict=True)]):.4f}",
            " ".join(f"{r:.1f}" for r in rates[name]),
            f"{statistics.median(rates[name]):.1f}",
        ])  # fmt: skip
    head = (
        f"== interpolate: {len(kept)} frames at {cfg.fps} fps, {w}x{h}, every other frame of "
        f"a {2 * cfg.fps} fps truth dropped and made again ({len(pairs)} new frames, none "
        f"across the cut at {cut}); CPU"
    )
    header = ["interpolator", "PSNR dB", "SSIM", "frames/s each round", "median"]
    return "\n".join([head, table(header, rows)])
