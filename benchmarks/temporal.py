"""The benchmark's ``temporal`` section: seams and flicker at the output's size, against a
ground truth (``rayapp.testing.motion``: three scenes of sub-pixel pans over photographs,
made twice the source's size and area-downscaled to it), the video job on the local runner.

- flicker: lossless output (x264 crf 0) with and without ``--deflicker``, in rounds taken
  in turn: the warping error (``rayapp.temporal``) against the truth's and a bicubic
  upscale's, consistency PSNR (the certificate's), mean gradient magnitude (detail), PSNR
  against the truth (all frames, and those either side of a cut), frames/s;
- seams: the largest step of any pair over one x264 pass over the same upscaled frames,
  at crf 18 and 28: chunks cut by frame count (the old default on this clip: two of 36)
  against chunks at the scene cuts (the default);
- scene cuts: what finding them costs, frames/s of the detector on the source.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.config import UpscaleConfig, VideoJobConfig
from rayapp.pipeline import VideoJobResult, run_video_job
from rayapp.quality import psnr
from rayapp.temporal import bicubic, gradient_magnitude, motion, warping_error
from rayapp.testing.motion import area_downscaled, photographs, scene_truth, write_clip
from rayapp.video import probe, scene_cuts, to_rgb

__all__ = ["section_temporal"]

PANS = ((1.4, 0.3), (-0.9, 0.5), (1.1, -0.6))  # truth pixels a frame: sub-pixel in the source
OLD_CUT = {"scene_cuts": False, "chunk_frames": 36}  # the old default's two chunks on this clip


def section_temporal(cfg: BenchmarkConfig) -> str:
    w, h = cfg.size_wh((320, 240))
    per_scene = round(cfg.temporal_seconds * cfg.fps / 3)
    with tempfile.TemporaryDirectory(prefix="rb-temporal-") as tmp:
        scenes = [(p, per_scene, pan) for p, pan in zip(photographs(), PANS, strict=True)]
        truth = scene_truth(scenes, 2 * h, 2 * w)
        clip = write_clip(f"{tmp}/clip.mp4", area_downscaled(truth, 2), fps=cfg.fps)
        cuts = (per_scene, 2 * per_scene)
        source = _frames(clip)
        moves = {t: motion(source[t], source[t + 1]) for t in range(len(source) - 1)}
        moves = {t: m for t, m in moves.items() if t + 1 not in cuts}
        job = _Job(clip, tmp, cfg)
        flicker = _flicker(job, truth, source, moves, cuts, cfg.temporal_rounds)
        seams = _seams(job, moves)
        detect = _detection(clip, tmp, truth)
    head = (
        f"== temporal: {cfg.model} x2, {w}x{h} -> {2 * w}x{2 * h}, {len(source)} frames "
        f"({cfg.fps} fps, scenes cut at {list(cuts)}), local runner; warping error x1000"
    )
    return "\n".join([head, flicker, seams, detect])


class _Job:
    def __init__(self, clip: str, tmp: str, cfg: BenchmarkConfig) -> None:
        self._clip, self._tmp, self._model = clip, tmp, cfg.model
        self._runs = 0

    def __call__(self, **fields: object) -> tuple[VideoJobResult, np.ndarray, float]:
        self._runs += 1
        out = f"{self._tmp}/out-{self._runs}.mkv"
        config = VideoJobConfig(
            input=self._clip, output=out, upscale=UpscaleConfig(model=self._model, outscale=2),
            **fields,
        )  # fmt: skip
        started = time.monotonic()
        result = run_video_job(config, runner="local", progress=())
        elapsed = time.monotonic() - started
        print(f"temporal: {fields} {elapsed:.1f} s", file=sys.stderr, flush=True)
        return result, _frames(out), elapsed


def _flicker(job, truth, source, moves, cuts, rounds: int) -> str:  # noqa: ANN001
    size = truth.shape[1:3]
    reference = np.stack([bicubic(f, size) for f in source])
    rows = {
        "truth": _measure(truth, truth, moves, cuts),
        "bicubic": _measure(reference, truth, moves, cuts),
    }
    times: dict[str, list[float]] = {"plain": [], "--deflicker": []}
    job(crf=0, report_frames=0)  # untimed: the first job loads what every later one reuses
    for _ in range(rounds):  # in turn, so that background load hits both alike
        for name, fields in (("plain", {}), ("--deflicker", {"deflicker": True})):
            result, frames, elapsed = job(crf=0, **fields)
            times[name].append(len(frames) / elapsed)
            rows[name] = _measure(frames, truth, moves, cuts)
            rows[name]["consistency"] = result.report["quality"]["consistency"]["psnr_db"]["mean"]
    floor = rows["truth"]["error"]
    table_rows = []
    for name, m in rows.items():
        fps = times.get(name)
        table_rows.append(
            [
                name, f"{m['error']:.3f}", f"{m['error'] - floor:+.3f}",
                "-" if m.get("consistency") is None else f"{m['consistency']:.2f}",
                f"{m['gradient']:.3f}", "-" if name == "truth" else f"{m['psnr']:.2f}",
                "-" if name == "truth" else f"{m['near_cut']:.2f}",
                "-" if not fps else " ".join(f"{v:.2f}" for v in fps),
                "-" if not fps else f"{statistics.median(fps):.2f}",
            ]
        )  # fmt: skip
    plain, steady = rows["plain"], rows["--deflicker"]
    share = (steady["error"] - floor) / (plain["error"] - floor)
    cost = statistics.median(times["plain"]) / statistics.median(times["--deflicker"])
    detail = steady["gradient"] / plain["gradient"]
    db, near = steady["psnr"] - plain["psnr"], steady["near_cut"] - plain["near_cut"]
    return "\n".join(
        [
            f"-- flicker (lossless, crf 0): --deflicker's excess over the truth {share:.2f}x "
            f"the plain job's, gradient {detail:.3f}x, PSNR {db:+.2f} dB ({near:+.2f} beside "
            f"cuts), time {cost:.2f}x",
            table(
                ["frames", "warping error", "excess", "consistency dB", "gradient",
                 "PSNR vs truth", "beside cuts", "frames/s each round", "median"],
                table_rows,
            ),
        ]
    )  # fmt: skip


def _measure(frames, truth, moves, cuts) -> dict[str, float]:  # noqa: ANN001
    db = psnr(frames, truth)
    near = [t for c in cuts for t in (c - 2, c - 1, c, c + 1)]
    errors = [warping_error(frames[t], frames[t + 1], m) for t, m in moves.items()]
    return {
        "error": float(np.mean(errors)),
        "gradient": float(np.mean([gradient_magnitude(f) for f in frames])),
        "psnr": float(np.mean(db[np.isfinite(db)])) if np.isfinite(db).any() else float("inf"),
        "near_cut": float(np.mean(db[near])),
    }  # fmt: skip


def _seams(job, moves) -> str:  # noqa: ANN001
    rows = []
    for crf in (18, 28):
        _, one_pass, _ = job(crf=crf, scene_cuts=False, chunk_frames=10_000)
        base = {t: warping_error(one_pass[t], one_pass[t + 1], m) for t, m in moves.items()}
        for name, fields in (("by frame count (old)", OLD_CUT), ("at scene cuts (new)", {})):
            result, frames, _ = job(crf=crf, **fields)
            starts = {c.chunk.first_frame_index for c in result.chunks} - {0}
            step = {
                t: warping_error(frames[t], frames[t + 1], m) - base[t] for t, m in moves.items()
            }
            at_seams = [step[t] for t in step if t + 1 in starts]
            inside = [step[t] for t in step if t + 1 not in starts]
            rows.append(
                [
                    str(crf), name, str(len(result.chunks)), str(len(at_seams)),
                    f"{max(at_seams):+.3f}" if at_seams else "-",
                    f"{max(inside):+.3f}", f"{np.mean(list(base.values())):.3f}",
                ]
            )  # fmt: skip
    return "\n".join(
        [
            "-- seams: each pair's warping error less one x264 pass's over the same frames",
            table(
                ["crf", "chunks cut", "chunks", "seams in scenes", "max step at them",
                 "max step elsewhere", "one pass mean"],
                rows,
            ),
        ]
    )  # fmt: skip


def _detection(clip: str, tmp: str, truth: np.ndarray) -> str:
    """The scene-cut detector's frames/s on the source, and on the truth (twice its size)."""
    larger = write_clip(f"{tmp}/truth.mp4", truth)
    rates = []
    for uri in (clip, larger):
        info = probe(uri)
        started = time.perf_counter()
        found = scene_cuts(info)
        rate = info.video.frame_count / (time.perf_counter() - started)
        video = info.video
        rates.append(
            f"{video.width}x{video.height} {rate:.0f} frames/s (cuts {list(found)}; an hour at "
            f"25 fps: {90_000 / rate:.0f} s)"
        )
    return "-- scene cuts: " + "; ".join(rates)


def _frames(uri: str) -> np.ndarray:
    with av.open(str(Path(uri))) as container:
        return np.stack([to_rgb(f, 8) for f in container.decode(video=0)])
