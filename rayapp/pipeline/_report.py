"""The certificate of a video job: what proves the output whole and good, written beside it
as ``<output>.report.json`` (docs/architecture.md, "The video job").

- ``integrity`` (packets only, nothing decoded): every source frame at its source pts, the
  duration within a frame of the source's, every audio packet byte for byte, every subtitle
  cue (time and text, also when converted to another text format), the colour tags and the
  rotation. ``ok`` only when all hold.
- ``quality`` (decoded, sampled over ``samples`` frames spread across the clip, in pairs of
  consecutive frames, half of them across the seams between chunks):
  - consistency: each output frame downscaled back to the source size (bicubic,
    antialiased) against the decoded source frame, PSNR and SSIM (``rayapp.quality``). No
    ground truth needed: a colour shift, a misaligned or a broken frame shows up. Outliers:
    frames more than 10 dB below the median, or under 20 dB.
  - flicker: per pair, the mean absolute difference (luma, 0-255) between the frame-to-frame
    change of the output (downscaled) and that of the source: what the upscale adds to the
    motion. Reported per chunk, for the pair across its seam and for a pair inside it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.errors import FrameAccountingError
from rayapp.pipeline._records import ChunkRecord
from rayapp.video import (
    Colour,
    MediaInfo,
    decode_frames_at,
    probe,
    stream_cues,
    stream_payloads,
)

__all__ = ["REPORT_SUFFIX", "certify", "integrity", "quality", "sample_pairs", "summary"]

REPORT_SUFFIX = ".report.json"
OUTLIER_DB_BELOW_MEDIAN = 10.0
OUTLIER_FLOOR_DB = 20.0


def certify(
    source: MediaInfo,
    output_uri: str,
    chunks: Sequence[ChunkRecord],
    *,
    samples: int,
    elapsed_s: float,
    measure: Callable[..., dict[str, Any]],
    estimate: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The certificate of the job that made ``output_uri`` from ``source`` in ``chunks``,
    written beside the output; ``FrameAccountingError`` when the output fails its integrity.
    ``measure`` runs ``quality`` where torch is loaded (a runner's ``call``); ``estimate``:
    the plan's estimated seconds against the actual ones, when the job was planned."""
    output = probe(output_uri)
    starts = [c.chunk.first_frame_index for c in chunks]
    made = [c for c in chunks if not c.reused]
    report = {
        "input": source.uri,
        "output": output_uri,
        "integrity": integrity(source, output),
        "quality": measure(quality, source, output, starts, samples) if samples else None,
        "speed": {
            "elapsed_s": elapsed_s,
            "frames_per_s": source.video.frame_count / elapsed_s if elapsed_s else None,
            "replica_s": sum(c.elapsed_s for c in made),
            "frames_skipped": sum(c.frames_skipped for c in chunks),
            "chunks": len(chunks),
            "chunks_reused": len(chunks) - len(made),
        },
    }
    if estimate is not None:
        report["estimate"] = estimate
    uri = output_uri + REPORT_SUFFIX
    storage.write_bytes(uri, json.dumps(report, indent=1).encode())
    if not report["integrity"]["ok"]:
        failed = [k for k, v in report["integrity"].items() if k != "ok" and not v["ok"]]
        raise FrameAccountingError(
            f"{output_uri} fails its integrity checks ({', '.join(failed)}); see {uri}"
        )
    return report


def summary(report: dict[str, Any]) -> str:
    """One line of what the certificate says, and where it is."""
    checks = report["integrity"]
    line = f"certificate: integrity {'ok' if checks['ok'] else 'FAILED'} "
    line += f"({checks['frames']['output']} frames"
    line += f", {len(checks['audio']['streams'])} audio, {len(checks['subtitles']['streams'])}"
    line += " subtitle stream(s))"
    measured = report["quality"]
    if measured:
        psnr = measured["consistency"]["psnr_db"]
        shown = [f"{v:.1f}" if v is not None else "inf" for v in (psnr["median"], psnr["min"])]
        line += f"; consistency PSNR median {shown[0]} dB, min {shown[1]} dB"
        if measured["consistency"]["outliers"]:
            line += f", outliers at frames {measured['consistency']['outliers']}"
        line += f"; flicker max {measured['flicker']['max']:.2f}"
    if estimate := report.get("estimate"):
        line += (
            f"; planned {estimate['estimated_s']:.1f} s, took {estimate['actual_s']:.1f} s "
            f"(x{estimate['ratio']:.2f})"
        )
    return f"{line} -> {report['output']}{REPORT_SUFFIX}"


def integrity(source: MediaInfo, output: MediaInfo) -> dict[str, Any]:
    """What the output must keep of the source, checked from packets (module docstring)."""
    src, out = source.video, output.video
    # In the output's time base (Matroska counts in milliseconds): what it can hold exactly.
    src_pts = [round(p * src.time_base / out.time_base) for p in src.frame_pts]
    out_pts = list(out.frame_pts)
    pairs = zip(src_pts, out_pts, strict=False)
    mismatch = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    if mismatch is None and len(src_pts) != len(out_pts):
        mismatch = min(len(src_pts), len(out_pts))  # one ends early
    steps = [b - a for a, b in zip(src.frame_pts, src.frame_pts[1:], strict=False)]
    frame_s = float(max(steps, default=0) * src.time_base) or src.duration_s
    checks = {
        "frames": {"source": src.frame_count, "output": out.frame_count},
        "pts": {"first_mismatch": mismatch},
        "duration_s": {"source": src.duration_s, "output": out.duration_s},
        "audio": _same_streams(
            stream_payloads(source.uri, "audio"), stream_payloads(output.uri, "audio")
        ),  # fmt: skip
        "subtitles": _same_streams(stream_cues(source.uri), stream_cues(output.uri)),
        "colour": {"source": _colour(src.colour), "output": _colour(out.colour)},
        "rotation": {"source": src.rotation, "output": out.rotation},
    }
    checks["frames"]["ok"] = src.frame_count == out.frame_count
    checks["pts"]["ok"] = mismatch is None
    checks["duration_s"]["ok"] = abs(out.duration_s - src.duration_s) <= frame_s + 1e-9
    for name in ("colour", "rotation"):
        checks[name]["ok"] = checks[name]["source"] == checks[name]["output"]
    ok = all(c["ok"] for c in checks.values())
    return {"ok": ok, **checks}


def _colour(colour: Colour) -> str:
    """The tags as a player reads them: an unspecified range of YUV video is tv range (a VP9
    stream cannot say "unspecified" and says tv)."""
    return replace(colour, range=colour.range or 1).describe()


def _same_streams(source: list[list[Any]], output: list[list[Any]]) -> dict[str, Any]:
    streams = [
        {"items": len(src), "identical": i < len(output) and output[i] == src}
        for i, src in enumerate(source)
    ]
    return {"streams": streams, "ok": len(output) == len(source) and all(
        s["identical"] for s in streams)}  # fmt: skip


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


def quality(
    source: MediaInfo, output: MediaInfo, chunk_starts: Sequence[int], samples: int
) -> dict[str, Any]:
    """Consistency and flicker on sampled frames (module docstring). Needs torch."""
    from rayapp import quality as iq

    starts = sorted(set(chunk_starts) | {0})
    pairs = sample_pairs(source.video.frame_count, starts, samples)
    frames = sorted({t for p in pairs for t in (p, p + 1)}) or [0]  # one frame: no pair
    depth = 16 if source.video.bit_depth > 8 else 8
    src = decode_frames_at(source, frames, depth=depth)
    out = _downscaled(decode_frames_at(output, frames, depth=depth), source)
    a = np.stack([out[t] for t in frames])
    b = np.stack([src[t] for t in frames])
    psnr, ssim = iq.psnr(a, b), iq.ssim(a, b)
    return {
        "sampled_frames": frames,
        "consistency": _consistency(frames, psnr, ssim),
        "flicker": _flicker(
            pairs,
            starts,
            {t: iq.luma(out[t]) for t in frames},
            {t: iq.luma(src[t]) for t in frames},
        ),  # fmt: skip
    }


def _downscaled(frames: dict[int, np.ndarray], source: MediaInfo) -> dict[int, np.ndarray]:
    from rayapp.resize import resize_image  # torch

    size = (source.video.height, source.video.width)
    return {t: resize_image(image, size) for t, image in frames.items()}


def _consistency(frames: list[int], psnr: np.ndarray, ssim: np.ndarray) -> dict[str, Any]:
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


def _flicker(
    pairs: list[int], starts: list[int], out: dict[int, np.ndarray], src: dict[int, np.ndarray]
) -> dict[str, Any]:
    per_chunk: dict[int, dict[str, Any]] = {}
    for t in pairs:
        added = float(np.abs((out[t + 1] - out[t]) - (src[t + 1] - src[t])).mean())
        chunk = max(s for s in starts if s <= t + 1)
        entry = per_chunk.setdefault(chunk, {"first_frame_index": chunk, "seam": None,
                                             "inside": []})  # fmt: skip
        if t + 1 == chunk and chunk > 0:
            entry["seam"] = added
        else:
            entry["inside"].append(added)
    chunks = [
        {**c, "inside": float(np.mean(c["inside"])) if c["inside"] else None}
        for _, c in sorted(per_chunk.items())
    ]
    values = [v for c in chunks for v in (c["seam"], c["inside"]) if v is not None]
    return {"max": max(values, default=0.0), "per_chunk": chunks}


def _num(value: float) -> float | None:
    """JSON has no infinity: identical frames (PSNR inf) are reported as null."""
    return float(value) if np.isfinite(value) else None
