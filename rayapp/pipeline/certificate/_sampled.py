"""The certificate's sampled quality, measured per chunk by the replica that made it, while
the job runs, so that a job ends when its last chunk does.

The job samples frames (``sampled_frames``): pairs of consecutive frames inside chunks,
spread over the clip, and the pairs across the seams between chunks that fall inside a
scene (a seam at a scene cut has no motion to follow: no pair crosses a cut). It sends the
sampled frames with every chunk (``EncodeJob.sampled``). A replica that has just encoded a
chunk holding some of them decodes those frames back from the chunk (the encoded pixels,
as the output will hold them) and measures them against the source frames it still holds:

- consistency, per frame: the output frame downscaled to the source's size against the
  source frame, PSNR and SSIM;
- temporal, per pair inside the chunk: the warping error at the output's size
  (``rayapp.temporal``), and the same on a bicubic upscale of the source, its reference.

For a pair across a seam each side writes its frame (output and source) beside the chunk;
the driver reads the two and measures the pair (``report``). The measures, and the report
they make, are exactly those of ``_report.quality`` on the finished output.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.pipeline.cluster import torch_threads
from rayapp.video import Chunk, decode_encoded_frames, probe

__all__ = [
    "chunk_quality",
    "measure_frames",
    "pair_error",
    "quality_report",
    "report",
    "sampled_frames",
]

OUTLIER_DB_BELOW_MEDIAN = 10.0
OUTLIER_FLOOR_DB = 20.0


def sampled_frames(
    frame_count: int,
    chunk_starts: Sequence[int],
    scene_starts: Sequence[int],
    samples: int,
    step: int = 1,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pairs, frames): the first frames of the pairs (t, t + 1) to measure, and every frame
    to measure, at most ``samples`` frames in all (one frame: no pair, frame 0 alone).
    Half the pairs are the seams inside scenes (spread over them when there are more), the
    rest spread over the clip; no pair crosses a scene cut. A clip of ``samples`` frames or
    fewer has every pair that crosses no cut. ``step``: frames made per source frame
    (``--interpolate``): only source frames are measured, a pair is (t, t + step), and
    every frame number given and returned is a multiple of ``step``."""
    if step > 1:
        pairs, frames = sampled_frames(
            frame_count // step,
            [s // step for s in chunk_starts],
            [s // step for s in scene_starts],
            samples,
        )
        return tuple(step * t for t in pairs), tuple(step * t for t in frames)
    cuts = set(scene_starts) - {0}
    allowed = [t for t in range(frame_count - 1) if t + 1 not in cuts]
    if frame_count <= samples:
        pairs = allowed
    else:
        budget = max(1, samples // 2)
        seams = [s - 1 for s in sorted(set(chunk_starts)) if 0 < s < frame_count and s not in cuts]
        chosen = set(_spread(seams, budget // 2))
        chosen |= set(_spread(allowed, budget - len(chosen)))
        pairs = sorted(chosen)
    frames = sorted({t for p in pairs for t in (p, p + 1)}) or [0]
    return tuple(pairs), tuple(frames)


def _spread(items: list[int], count: int) -> list[int]:
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return items
    return [items[round(k * (len(items) - 1) / max(count - 1, 1))] for k in range(count)]


def measure_frames(
    out: dict[int, np.ndarray], src: dict[int, np.ndarray], threads: int | None = None
) -> dict[int, tuple[float, float]]:
    """Per frame: (PSNR, SSIM) of the output frame downscaled to the source's size against
    the source frame (HxWx3, both uint8 or both uint16). ``threads``: torch's CPU threads
    for it (None: the process's own)."""
    from rayapp import quality as iq
    from rayapp.resize import resize_image  # torch

    frames = sorted(out)
    size = src[frames[0]].shape[:2]
    with torch_threads(threads):
        a = np.stack([resize_image(out[t], size) for t in frames])
        b = np.stack([src[t] for t in frames])
        psnr, ssim = iq.psnr(a, b), iq.ssim(a, b)
    return {t: (float(p), float(s)) for t, p, s in zip(frames, psnr, ssim, strict=True)}


def pair_error(
    out_a: np.ndarray, out_b: np.ndarray, src_a: np.ndarray, src_b: np.ndarray
) -> tuple[float, float]:
    """(warping error of the output pair, the same of a bicubic upscale of the source pair)
    along the source pair's motion (``rayapp.temporal``)."""
    from rayapp.temporal import bicubic, motion, warping_error

    moved = motion(src_a, src_b)
    size = out_a.shape[:2]
    reference = warping_error(bicubic(src_a, size), bicubic(src_b, size), moved)
    return warping_error(out_a, out_b, moved), reference


def chunk_quality(
    chunk: Chunk,
    source: np.ndarray,
    pairs: Sequence[int],
    frames: Sequence[int],
    depth: int,
    threads: int | None = None,
    *,
    step: int = 1,
) -> dict[str, Any] | None:
    """The measures of the sampled ``frames`` that ``chunk`` holds (None: it holds none),
    against ``source`` (its run's source frames, NHWC), as the chunk's record keeps them:
    ``{frames: {t: [psnr or None for inf, ssim]}, pairs: {t: [error, bicubic]}, edges:
    {t: uri}}``; a frame at a seam pair's end is written (output and source) at ``edges[t]``.
    ``threads``: torch's CPU threads for the measures (``measure_frames``). ``step``: as
    ``sampled_frames``' (chunk frame ``step * i`` was made from ``source[i]``)."""
    first, stop = chunk.first_frame_index, chunk.stop
    mine = [t for t in frames if first <= t < stop]
    if not mine:
        return None
    pts = probe(chunk.uri).video.frame_pts
    decoded = decode_encoded_frames(chunk.uri, pts, [t - first for t in mine], depth=depth)
    out = {t: decoded[t - first] for t in mine}
    src = {t: source[(t - first) // step] for t in mine}
    measured = measure_frames(out, src, threads)
    edges = {}
    for t in mine:
        if (t + step == stop and t in pairs) or (t == first and t - step in pairs):
            edges[str(t)] = uri = f"{chunk.uri}.edge-{t}"
            _write_edge(uri, out[t], src[t])
    inside = [t for t in pairs if first <= t and t + step < stop]
    return {
        "frames": {str(t): [_num(p), s] for t, (p, s) in measured.items()},
        "pairs": {
            str(t): list(pair_error(out[t], out[t + step], src[t], src[t + step])) for t in inside
        },
        "edges": edges,
    }


def report(
    pairs: Sequence[int],
    frames: Sequence[int],
    chunk_starts: Sequence[int],
    scene_starts: Sequence[int],
    measured: Sequence[dict[str, Any] | None],
    step: int = 1,
) -> dict[str, Any] | None:
    """The certificate's ``quality`` from the chunks' measures (in any order); None when a
    sampled frame or pair has no measure (chunks from a run that sampled other frames).
    ``step``: as ``sampled_frames``'."""
    per_frame: dict[int, list[float | None]] = {}
    per_pair: dict[int, tuple[float, float]] = {}
    edges: dict[int, str] = {}
    for m in filter(None, measured):
        if "pairs" not in m:
            return None  # kept by an earlier version, which measured no pairs
        per_frame.update({int(t): v for t, v in m["frames"].items()})
        per_pair.update({int(t): tuple(v) for t, v in m["pairs"].items()})
        edges.update({int(t): v for t, v in m["edges"].items()})
    if set(per_frame) < set(frames):
        return None
    for t in pairs:
        if t in per_pair:
            continue
        if t not in edges or t + step not in edges:
            return None
        (out_a, src_a), (out_b, src_b) = _read_edge(edges[t]), _read_edge(edges[t + step])
        per_pair[t] = pair_error(out_a, out_b, src_a, src_b)
    psnr = [math.inf if per_frame[t][0] is None else per_frame[t][0] for t in frames]
    ssim = [per_frame[t][1] for t in frames]
    errors = {t: per_pair[t] for t in pairs}
    return quality_report(list(frames), chunk_starts, scene_starts, psnr, ssim, errors, step)


def quality_report(
    frames: list[int],
    chunk_starts: Sequence[int],
    scene_starts: Sequence[int],
    psnr: Sequence[float],
    ssim: Sequence[float],
    errors: dict[int, tuple[float, float]],
    step: int = 1,
) -> dict[str, Any]:
    """The certificate's ``quality``: consistency per sampled frame; the temporal quality
    of each sampled pair (``errors``: the first frame -> (warping error, bicubic's)),
    inside chunks and across seams. ``step``: as ``sampled_frames``' (a pair's frames
    ``step`` apart, the frames between made by the job and not measured)."""
    report = {
        "sampled_frames": frames,
        "consistency": _consistency(frames, psnr, ssim),
        "temporal": _temporal(chunk_starts, scene_starts, errors, step),
    }
    if step > 1:
        report["made_frames"] = (
            f"not measured: frames made between source frames have no source frame to be "
            f"held against; the measured are source frames (every {step}th), a pair "
            f"{step} apart"
        )
    return report


def _temporal(
    chunk_starts: Sequence[int],
    scene_starts: Sequence[int],
    errors: dict[int, tuple[float, float]],
    step: int = 1,
) -> dict[str, Any]:
    cuts = set(scene_starts) - {0}
    seams_inside = sorted(set(chunk_starts) - cuts - {0})
    at_seam = {s - step for s in seams_inside}
    per_pair = [
        {"frame": t, "warping_error": e, "bicubic": b, "seam": t in at_seam}
        for t, (e, b) in sorted(errors.items())
    ]
    seams = [p for p in per_pair if p["seam"]]
    worst = max(seams, key=lambda p: p["warping_error"] - p["bicubic"], default=None)
    return {
        "measure": "warping error: each output frame brought onto the next along the "
        "source's motion, mean squared difference x1000 (pixels 0-1) where that motion can "
        "be trusted; bicubic: the same on a bicubic upscale of the source",
        "inside": _summary([p for p in per_pair if not p["seam"]]),
        "seams": {
            "inside_scenes": len(seams_inside),
            "at_scene_cuts": len(set(chunk_starts) & cuts),
            **_summary(seams),
            "worst": None
            if worst is None
            else {**worst, "first_frame_index": worst["frame"] + step},
        },
        "per_pair": per_pair,
    }


def _summary(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [p["warping_error"] for p in pairs]
    return {
        "pairs": len(pairs),
        "mean": float(np.mean(errors)) if errors else None,
        "max": max(errors, default=None),
        "bicubic_mean": float(np.mean([p["bicubic"] for p in pairs])) if pairs else None,
    }


def _write_edge(uri: str, out: np.ndarray, src: np.ndarray) -> None:
    """A frame at a seam, output and source, as two lossless PNGs (the least compression:
    they are read once, by the driver) at ``uri``.out.png and .src.png; 8 or 16 bit."""
    import cv2

    for part, image in (("out", out), ("src", src)):
        done, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not done:
            raise ValueError(f"Could not write the seam frame {uri} ({image.shape} {image.dtype})")
        storage.write_bytes(f"{uri}.{part}.png", data.tobytes())


def _read_edge(uri: str) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    out, src = (
        cv2.imdecode(np.frombuffer(storage.read_bytes(f"{uri}.{part}.png"), np.uint8), -1)
        for part in ("out", "src")
    )
    return out, src


def _consistency(frames: list[int], psnr: Sequence[float], ssim: Sequence[float]) -> dict[str, Any]:
    median = statistics.median(psnr)  # inf where most frames match exactly
    floor = max(OUTLIER_FLOOR_DB, median - OUTLIER_DB_BELOW_MEDIAN)
    outliers = [t for t, p in zip(frames, psnr, strict=True) if p < floor]
    return {
        "psnr_db": {"mean": _num(np.mean(psnr)), "min": _num(min(psnr)), "median": _num(median)},
        "ssim": {"mean": float(np.mean(ssim)), "min": float(min(ssim))},
        "per_frame": [
            {"frame": t, "psnr_db": _num(p), "ssim": float(s)}
            for t, p, s in zip(frames, psnr, ssim, strict=True)
        ],
        "outliers": outliers,
        "ok": not outliers,
    }


def _num(value: float) -> float | None:
    """JSON has no infinity: identical frames (PSNR inf) are reported as null."""
    return float(value) if np.isfinite(value) else None
