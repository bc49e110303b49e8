"""The certificate of a video job: what proves the output whole and good, written beside it
as ``<output>.report.json`` (docs/architecture.md, "The video job").

- ``integrity`` (packets only, nothing decoded): every source frame at its source pts, the
  duration within a frame of the source's, every audio packet byte for byte, every subtitle
  cue (time and text, also when converted to another text format), the colour tags, the
  rotation, the field order (progressive where the job deinterlaced), the sample aspect
  ratio, the start timecode, the HDR10 metadata (mastering display, light level) and the
  video packets carrying captions (CEA-608/708).
  ``ok`` only when all hold.
- ``quality`` (decoded, sampled over ``samples`` frames spread across the clip, in pairs of
  consecutive frames, half of them across the seams inside scenes; measured per chunk by
  the replicas while the job runs, ``rayapp.pipeline.certificate._sampled``, or here on the finished
  output when the chunks lack a measure):
  - consistency: each output frame downscaled back to the source size (bicubic,
    antialiased) against the decoded source frame, PSNR and SSIM (``rayapp.quality``). No
    ground truth needed: a colour shift, a misaligned or a broken frame shows up. Outliers:
    frames more than 10 dB below the median, or under 20 dB.
  - temporal: per pair of consecutive frames (never across a scene cut), the warping
    error at the output's size (``rayapp.temporal``: frame t brought onto frame t + 1
    along the source's motion), beside the same on a bicubic upscale of the source: for
    pairs inside chunks, and for the seams between chunks that fall inside a scene, the
    worst of them named (where a keyframe steps, it shows there).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from rayapp import storage
from rayapp.errors import FrameAccountingError
from rayapp.pipeline.certificate._sampled import (
    measure_frames,
    pair_error,
    quality_report,
    sampled_frames,
)
from rayapp.pipeline.certificate._sampled import report as sampled_report
from rayapp.pipeline.work import ChunkRecord
from rayapp.video import (
    Colour,
    Deinterlace,
    MediaInfo,
    VideoStreamInfo,
    decode_frames_at,
    probe,
    stream_cues,
    stream_payloads,
)

__all__ = [
    "FAILED_REPORT",
    "REPORT_SUFFIX",
    "certify",
    "check_assembled",
    "integrity",
    "quality",
    "summary",
]

REPORT_SUFFIX = ".report.json"
FAILED_REPORT = "failed" + REPORT_SUFFIX  # in the work prefix: an output that failed


def check_assembled(
    source: MediaInfo,
    path: str,
    output_uri: str,
    chunks: Sequence[ChunkRecord],
    *,
    elapsed_s: float,
    failed_uri: str,
    deinterlace: Deinterlace | None = None,
    every: int = 1,
    scene_starts: Sequence[int] = (0,),
) -> dict[str, Any]:
    """The ``integrity`` of the output assembled at the local ``path``, checked before it
    is published at ``output_uri`` (``certify`` then certifies it). When it fails, nothing
    is published: ``FrameAccountingError`` carries the report (integrity and speed, no
    quality), also written at ``failed_uri`` (in the work prefix, which a failed job
    keeps), and whatever ``output_uri`` held stays. ``deinterlace``, ``every`` and
    ``scene_starts``: as ``certify``'s."""
    checks = integrity(source, probe(path), deinterlace, every, scene_starts)
    if checks["ok"]:
        return checks
    report = {
        "input": source.uri,
        "output": output_uri,
        "integrity": checks,
        "quality": None,
        "speed": _speed(source, chunks, elapsed_s),
    }
    storage.write_bytes(failed_uri, json.dumps(report, indent=1).encode())
    failed = [k for k, v in checks.items() if k != "ok" and not v["ok"]]
    error = FrameAccountingError(
        f"{output_uri} failed its integrity checks ({', '.join(failed)}) and was not "
        f"written; see {failed_uri}"
    )
    error.report = report  # the job publishes it with its error
    raise error


def certify(
    source: MediaInfo,
    output_uri: str,
    chunks: Sequence[ChunkRecord],
    *,
    checks: dict[str, Any],
    samples: int,
    elapsed_s: float,
    measure: Callable[..., dict[str, Any]],
    estimate: dict[str, float] | None = None,
    made_by: str | None = None,
    deinterlace: Deinterlace | None = None,
    scene_starts: Sequence[int] = (0,),
    every: int = 1,
) -> dict[str, Any]:
    """The certificate of the job that made ``output_uri`` from ``source`` in ``chunks``,
    written beside the output: ``checks``, its integrity as ``check_assembled`` found it
    before it was published, and its sampled quality. The sampled quality comes from the
    chunks' own measures; where they lack one (chunks from a run that sampled other
    frames), ``measure`` runs ``quality`` on the output where torch is loaded (a runner's
    ``call``). ``estimate``: the plan's estimated seconds against the actual ones, when the
    job was planned. ``made_by``: the fingerprint of what decides the output
    (``_resume.output_fingerprint``): a rerun of an archive skips a video whose
    certificate is ok and names the same. ``deinterlace``: how the job deinterlaced the
    source (None: it did not); at field rate, ``source`` is at field rate too.
    ``scene_starts``: the first frame of each scene (no pair crosses a cut). ``every``:
    frames per source frame (``--interpolate``; ``source`` at that rate, ``multiplied_rate``):
    only source frames are measured (``sampled_frames``)."""
    starts = [c.chunk.first_frame_index for c in chunks]
    measured = None
    if samples:
        count = source.video.frame_count
        pairs, frames = sampled_frames(count, starts, scene_starts, samples, every)
        kept = [c.quality for c in chunks]
        measured = sampled_report(pairs, frames, starts, scene_starts, kept, every)
        if measured is None:
            output = probe(output_uri)
            measured = measure(
                quality, source, output, starts, samples, deinterlace, tuple(scene_starts), every
            )
    report = {
        "input": source.uri,
        "output": output_uri,
        "integrity": checks,
        "quality": measured,
        "speed": _speed(source, chunks, elapsed_s),
    }
    if estimate is not None:
        report["estimate"] = estimate
    if made_by is not None:
        report["made_by"] = made_by
    storage.write_bytes(output_uri + REPORT_SUFFIX, json.dumps(report, indent=1).encode())
    return report


def _speed(source: MediaInfo, chunks: Sequence[ChunkRecord], elapsed_s: float) -> dict[str, Any]:
    made = [c for c in chunks if not c.reused]
    return {
        "elapsed_s": elapsed_s,
        "frames_per_s": source.video.frame_count / elapsed_s if elapsed_s else None,
        "replica_s": sum(c.elapsed_s for c in made),
        "frames_skipped": sum(c.frames_skipped for c in chunks),
        "chunks": len(chunks),
        "chunks_reused": len(chunks) - len(made),
    }


def summary(report: dict[str, Any]) -> str:
    """One line of what the certificate says, and where it is."""
    checks = report["integrity"]
    line = f"certificate: integrity {'ok' if checks['ok'] else 'FAILED'} "
    line += f"({checks['frames']['output']} frames"
    if made := checks.get("interpolated"):
        line += f", {made['new_frames']} made between"
    line += f", {len(checks['audio']['streams'])} audio, {len(checks['subtitles']['streams'])}"
    line += " subtitle stream(s))"
    measured = report["quality"]
    if measured:
        psnr = measured["consistency"]["psnr_db"]
        shown = [f"{v:.1f}" if v is not None else "inf" for v in (psnr["median"], psnr["min"])]
        line += f"; consistency PSNR median {shown[0]} dB, min {shown[1]} dB"
        if measured["consistency"]["outliers"]:
            line += f", outliers at frames {measured['consistency']['outliers']}"
        line += "; " + _temporal_line(measured["temporal"])
    if estimate := report.get("estimate"):
        line += (
            f"; planned {estimate['estimated_s']:.1f} s, took {estimate['actual_s']:.1f} s "
            f"(x{estimate['ratio']:.2f})"
        )
    return f"{line} -> {report['output']}{REPORT_SUFFIX}"


def _temporal_line(temporal: dict[str, Any]) -> str:
    """The temporal quality in a few words: inside chunks, and the worst seam in a scene."""
    inside, seams = temporal["inside"], temporal["seams"]
    line = "warping error"
    if inside["pairs"]:
        line += f" {inside['mean']:.3f} inside chunks (bicubic {inside['bicubic_mean']:.3f})"
    if worst := seams["worst"]:
        line += (
            f", worst seam {worst['warping_error']:.3f} into frame {worst['first_frame_index']}"
            f" (bicubic {worst['bicubic']:.3f})"
        )
    elif not seams["inside_scenes"]:
        line += ", no seam inside a scene"
    return line


def integrity(
    source: MediaInfo,
    output: MediaInfo,
    deinterlace: Deinterlace | None = None,
    every: int = 1,
    scene_starts: Sequence[int] = (0,),
) -> dict[str, Any]:
    """What the output must keep of the source, checked from packets (module docstring);
    ``deinterlace``: how the job deinterlaced, the output then progressive (at field rate,
    ``source`` at field rate: twice the frames). ``every``: frames per source frame
    (``--interpolate``; ``source`` at that rate): which frames are made, and where they
    repeat a scene's last frame (``scene_starts``) instead."""
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
        "field_order": _field_order(src.field_order, out.field_order, deinterlace),
        "sample_aspect_ratio": {"source": _sar(src), "output": _sar(out)},
        "timecode": {"source": src.timecode, "output": out.timecode},
        "captions": {"source": src.caption_packets, "output": out.caption_packets},
        "hdr": {
            "source": src.hdr.describe() if src.hdr else None,
            "output": out.hdr.describe() if out.hdr else None,
            "ok": src.hdr.same_as(out.hdr) if src.hdr else out.hdr is None,
        },
    }
    if every > 1:
        checks["interpolated"] = _interpolated(src.frame_count, every, scene_starts)
    checks["frames"]["ok"] = src.frame_count == out.frame_count
    checks["pts"]["ok"] = mismatch is None
    checks["duration_s"]["ok"] = abs(out.duration_s - src.duration_s) <= frame_s + 1e-9
    for name in ("colour", "rotation", "sample_aspect_ratio", "timecode", "captions"):
        checks[name]["ok"] = checks[name]["source"] == checks[name]["output"]
    ok = all(c["ok"] for c in checks.values())
    return {"ok": ok, **checks}


def _interpolated(count: int, every: int, scene_starts: Sequence[int]) -> dict[str, Any]:
    """What ``--interpolate`` planned of ``count`` frames: ``every`` per source frame, the
    first of each the source frame, the rest made between it and the next; those after a
    scene's last frame repeat it (no next frame in its scene)."""
    ends = sorted({*scene_starts, count} - {0})
    return {
        "frames_per_source_frame": every,
        "source_frames": count // every,
        "new_frames": count - count // every,
        "new": f"every frame whose number is not a multiple of {every}",
        "repeating_scene_ends": [end - k for end in ends for k in range(every - 1, 0, -1)],
        "ok": count % every == 0,
    }


def _field_order(source: str, output: str, deinterlace: Deinterlace | None) -> dict[str, Any]:
    """The output is progressive (or says nothing): upscaled frames have no fields, whether
    the job deinterlaced them (``deinterlace``: with its parity, field matched first with
    ivtc, a frame per field at field rate) or scaled woven ones."""
    ok = output == "progressive" or (deinterlace is None and output == "unknown")
    how = deinterlace or Deinterlace("")
    return {
        "source": source, "output": output, "deinterlaced": deinterlace and how.parity,
        "ivtc": how.ivtc, "field_rate": how.double, "ok": ok,
    }  # fmt: skip


def _sar(video: VideoStreamInfo) -> str:
    """The sample aspect ratio as a player reads it: none said is square."""
    sar = video.sample_aspect_ratio or Fraction(1)
    return f"{sar.numerator}:{sar.denominator}"


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


def quality(
    source: MediaInfo,
    output: MediaInfo,
    chunk_starts: Sequence[int],
    samples: int,
    deinterlace: Deinterlace | None = None,
    scene_starts: Sequence[int] = (0,),
    every: int = 1,
) -> dict[str, Any]:
    """Consistency and temporal quality on sampled frames of the finished output (module
    docstring), decoded from it: what the chunks' own measures add up to. Needs torch.
    ``every``: as ``certify``'s."""
    count = source.video.frame_count
    pairs, frames = sampled_frames(count, chunk_starts, scene_starts, samples, every)
    depth = 16 if source.video.bit_depth > 8 else 8
    src = decode_frames_at(source, frames, depth=depth, deinterlace=deinterlace, every=every)
    out = decode_frames_at(output, frames, depth=depth)
    measured = measure_frames(out, src)
    errors = {t: pair_error(out[t], out[t + every], src[t], src[t + every]) for t in pairs}
    return quality_report(
        list(frames),
        chunk_starts,
        scene_starts,
        [measured[t][0] for t in frames],
        [measured[t][1] for t in frames],
        errors,
        every,
    )
