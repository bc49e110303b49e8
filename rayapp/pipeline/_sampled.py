"""The certificate's sampled quality, measured per chunk by the replica that made it, while
the job runs, so that a job ends when its last chunk does.

The job samples pairs of consecutive frames (``sample_pairs``: half across chunk seams),
and sends the sampled frames with every chunk (``EncodeJob.sampled``). A replica that has
just encoded a chunk holding some of them decodes those frames back from the chunk (the
encoded pixels, as the output will hold them), downscales each to the source's size and
measures it against the source frame it still holds: PSNR and SSIM per frame, and for a
pair inside the chunk the flicker it adds. For a pair across a seam each side writes its
frame's luma difference (output minus source) beside the chunk; the driver reads the two
and takes the flicker from them (``report``). The measures, and the report they make,
are exactly those of ``rayapp.pipeline._report.quality`` on the finished output.
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.pipeline._sizing import torch_threads
from rayapp.video import Chunk, decode_encoded_frames, probe

__all__ = [
    "chunk_quality",
    "flicker",
    "measure_frames",
    "quality_report",
    "report",
    "sample_pairs",
    "sampled_frames",
]

OUTLIER_DB_BELOW_MEDIAN = 10.0
OUTLIER_FLOOR_DB = 20.0


def sample_pairs(frame_count: int, chunk_starts: Sequence[int], samples: int) -> list[int]:
    """First frames of the pairs (t, t + 1) to decode, at most ``samples`` frames in all:
    half the pairs across chunk seams (spread over the seams), the rest spread over the
    clip. A clip of ``samples`` frames or fewer is sampled whole."""
    if frame_count < 2:
        return []
    if frame_count <= samples:
        return list(range(frame_count - 1))
    pairs = max(1, samples // 2)
    seams = [s - 1 for s in chunk_starts if 0 < s < frame_count]
    chosen = set(_spread(seams, pairs // 2))
    chosen |= set(_spread(list(range(frame_count - 1)), pairs - len(chosen)))
    return sorted(chosen)


def _spread(items: list[int], count: int) -> list[int]:
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return items
    return [items[round(k * (len(items) - 1) / max(count - 1, 1))] for k in range(count)]


def sampled_frames(
    frame_count: int, chunk_starts: Sequence[int], samples: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(pairs, frames): the pairs' first frames and every frame to measure (one frame:
    no pair, frame 0 alone)."""
    starts = sorted(set(chunk_starts) | {0})
    pairs = sample_pairs(frame_count, starts, samples)
    frames = sorted({t for p in pairs for t in (p, p + 1)}) or [0]
    return tuple(pairs), tuple(frames)


def measure_frames(
    out: dict[int, np.ndarray], src: dict[int, np.ndarray], threads: int | None = None
) -> dict[int, tuple[float, float, np.ndarray]]:
    """Per frame: (PSNR, SSIM, luma difference) of the output frame downscaled to the
    source's size against the source frame (HxWx3, both uint8 or both uint16). ``threads``:
    torch's CPU threads for it (None: the process's own)."""
    from rayapp import quality as iq
    from rayapp.resize import resize_image  # torch

    frames = sorted(out)
    size = src[frames[0]].shape[:2]
    with torch_threads(threads):
        small = {t: resize_image(out[t], size) for t in frames}
        a = np.stack([small[t] for t in frames])
        b = np.stack([src[t] for t in frames])
        psnr, ssim = iq.psnr(a, b), iq.ssim(a, b)
    return {
        t: (float(p), float(s), iq.luma(small[t]) - iq.luma(src[t]))
        for t, p, s in zip(frames, psnr, ssim, strict=True)
    }


def chunk_quality(
    chunk: Chunk,
    source: np.ndarray,
    pairs: Sequence[int],
    frames: Sequence[int],
    depth: int,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """The measures of the sampled ``frames`` that ``chunk`` holds (None: it holds none),
    against ``source`` (its run's source frames, NHWC), as the chunk's record keeps them:
    ``{frames: {t: [psnr or None for inf, ssim]}, inside: {t: flicker}, edges: {t: uri}}``;
    the luma difference of a frame at a seam pair's end is written at ``edges[t]``.
    ``threads``: torch's CPU threads for the measures (``measure_frames``)."""
    first, stop = chunk.first_frame_index, chunk.stop
    mine = [t for t in frames if first <= t < stop]
    if not mine:
        return None
    pts = probe(chunk.uri).video.frame_pts
    decoded = decode_encoded_frames(chunk.uri, pts, [t - first for t in mine], depth=depth)
    measured = measure_frames(
        {t: decoded[t - first] for t in mine}, {t: source[t - first] for t in mine}, threads
    )
    edges = {}
    for t in mine:
        if (t + 1 == stop and t in pairs) or (t == first and t - 1 in pairs):
            edges[str(t)] = uri = f"{chunk.uri}.luma-diff-{t}.npy"
            buffer = io.BytesIO()
            np.save(buffer, measured[t][2])
            storage.write_bytes(uri, buffer.getvalue())
    return {
        "frames": {str(t): [_num(p), s] for t, (p, s, _) in measured.items()},
        "inside": {
            str(t): flicker(measured[t][2], measured[t + 1][2])
            for t in pairs
            if first <= t and t + 1 < stop
        },
        "edges": edges,
    }


def report(
    pairs: Sequence[int],
    frames: Sequence[int],
    chunk_starts: Sequence[int],
    measured: Sequence[dict[str, Any] | None],
) -> dict[str, Any] | None:
    """The certificate's ``quality`` from the chunks' measures (in any order); None when a
    sampled frame or pair has no measure (chunks from a run that sampled other frames)."""
    per_frame: dict[int, list[float | None]] = {}
    inside: dict[int, float] = {}
    edges: dict[int, str] = {}
    for m in filter(None, measured):
        per_frame.update({int(t): v for t, v in m["frames"].items()})
        inside.update({int(t): v for t, v in m["inside"].items()})
        edges.update({int(t): v for t, v in m["edges"].items()})
    if set(per_frame) < set(frames):
        return None
    added: dict[int, float] = {}
    for t in pairs:
        if t in inside:
            added[t] = inside[t]
        elif t in edges and t + 1 in edges:
            added[t] = flicker(_load(edges[t]), _load(edges[t + 1]))
        else:
            return None
    psnr = [math.inf if per_frame[t][0] is None else per_frame[t][0] for t in frames]
    ssim = [per_frame[t][1] for t in frames]
    return quality_report(list(pairs), list(frames), chunk_starts, psnr, ssim, added)


def quality_report(
    pairs: list[int],
    frames: list[int],
    chunk_starts: Sequence[int],
    psnr: Sequence[float],
    ssim: Sequence[float],
    added: dict[int, float],
) -> dict[str, Any]:
    """The certificate's ``quality``: consistency per sampled frame, flicker per chunk."""
    starts = sorted(set(chunk_starts) | {0})
    return {
        "sampled_frames": frames,
        "consistency": _consistency(frames, psnr, ssim),
        "flicker": _flicker_per_chunk(pairs, starts, added),
    }


def flicker(before: np.ndarray, after: np.ndarray) -> float:
    """What the upscale adds to the change from one frame to the next: the mean absolute
    difference of the two frames' luma differences (output minus source)."""
    return float(np.abs(after - before).mean())


def _load(uri: str) -> np.ndarray:
    return np.load(io.BytesIO(storage.read_bytes(uri)))


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


def _flicker_per_chunk(
    pairs: list[int], starts: list[int], added: dict[int, float]
) -> dict[str, Any]:
    per_chunk: dict[int, dict[str, Any]] = {}
    for t in pairs:
        chunk = max(s for s in starts if s <= t + 1)
        entry = per_chunk.setdefault(chunk, {"first_frame_index": chunk, "seam": None,
                                             "inside": []})  # fmt: skip
        if t + 1 == chunk and chunk > 0:
            entry["seam"] = added[t]
        else:
            entry["inside"].append(added[t])
    chunks = [
        {**c, "inside": float(np.mean(c["inside"])) if c["inside"] else None}
        for _, c in sorted(per_chunk.items())
    ]
    values = [v for c in chunks for v in (c["seam"], c["inside"]) if v is not None]
    return {"max": max(values, default=0.0), "per_chunk": chunks}


def _num(value: float) -> float | None:
    """JSON has no infinity: identical frames (PSNR inf) are reported as null."""
    return float(value) if np.isfinite(value) else None
