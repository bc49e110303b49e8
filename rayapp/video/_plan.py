"""plan_job: everything decided before the first frame is decoded: probe, output checks,
segments and chunks (``rayapp.pipeline`` derives a job's from its config, once)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from rayapp import storage
from rayapp.errors import ConfigError, ContainerError, UnsupportedCodecError
from rayapp.video._captions import CAPTION_CODECS
from rayapp.video._chunks import Cut, Run, cut_chunks, scene_frames, with_reach
from rayapp.video._codecs import EncodeSettings
from rayapp.video._containers import OutputPlan, output_format, plan_output
from rayapp.video._encode import frame_depth
from rayapp.video._film import film_frames, film_rate
from rayapp.video._idet import detected_field_order
from rayapp.video._info import Keyframe, MediaInfo, VideoStreamInfo
from rayapp.video._probe import check_video_header, probe
from rayapp.video._scenes import scene_cuts
from rayapp.video._segments import Deinterlace, Segment, job_segments

__all__ = ["JobPlan", "deinterlace_for", "field_rate", "plan_job", "preflight"]


@dataclass(frozen=True)
class JobPlan:
    info: MediaInfo
    output: OutputPlan
    settings: EncodeSettings  # the encoder of the job's chunks
    size: tuple[int, int]  # (height, width) of the output frames
    depth: int  # bits per channel the frames are decoded to (8 or 16)
    segments: tuple[Segment, ...]
    chunk_frames: int  # most frames per run: as asked, or SCENE_CHUNK_S seconds' worth
    runs: tuple[Run, ...]
    cut: Cut  # the scenes, and why a seam falls inside one
    # How the frames are deinterlaced (None: not). At field rate, ``info`` is the source's at
    # field rate (``field_rate``): every count and timestamp the job keeps is of that.
    deinterlace: Deinterlace | None = None
    # Frames planned per source frame (--interpolate; 1: none made): ``info`` is the source's
    # ``multiplied_rate``, and frame ``interpolate * i`` is source frame i, the frames after
    # it made between it and the next after the upscale. Every chunk starts at a source frame.
    interpolate: int = 1

    def is_new(self, frame: int) -> bool:
        """Whether frame ``frame`` of the output is made between source frames."""
        return frame % self.interpolate != 0


def preflight(input_uri: str, output_uri: str) -> None:
    """What can be checked without reading the input's packets: the output's scheme and
    container (its extension), and an input that is a media file with a video stream."""
    storage.check_scheme(output_uri)
    output_format(output_uri)
    check_video_header(input_uri)


def plan_job(
    input_uri: str,
    output_uri: str,
    settings: EncodeSettings,
    output_size: Callable[[MediaInfo], tuple[int, int]],
    *,
    segment_s: float,
    chunk_frames: int | None,
    lanes: int = 1,
    deinterlace: str = "auto",
    ivtc: bool = False,
    scenes: bool = True,
    reach: int = 0,
    interpolate: int = 1,
) -> JobPlan:
    """Probe the input and check the output (scheme, container, codec, frame size) before any
    work: ``output_size(info)`` is the output's (height, width). Chunks are cut at the
    source's scene cuts (``scenes``: found by a decode of every frame, else none), a scene
    split only where it holds more than ``chunk_frames`` (None: ``scene_frames``, 10 s
    worth, finer where that keeps ``lanes`` (chunks made at once) busy to the end); each
    chunk with the ``reach`` frames on either side, inside its scene, that a stage reading
    neighbours needs (``rayapp.video._chunks``). ``deinterlace``: auto (a source that says
    it is interlaced, or whose first frames ``idet`` finds so), on, off or double
    (``deinterlace_for``);
    ``ivtc``: telecined film, field matched back to its film frames first; an HDR source's
    encoder must keep it (``check_hdr``). ``interpolate``: frames planned per source frame
    (``JobPlan.interpolate``), each chunk whole source frames (``chunk_frames`` counts the
    frames planned) with the source frame after it inside its scene, which the frames made
    after its last one lie towards."""
    storage.check_scheme(output_uri)
    info = source = probe(input_uri)
    output = plan_output(info, output_uri, settings.codec)
    _check_aspect(info, output, settings)
    height, width = output_size(info)
    settings = settings.check_hdr(info.video)
    if info.video.caption_packets and settings.spec.family not in CAPTION_CODECS:
        raise UnsupportedCodecError(
            f"The source carries CEA-608/708 captions in its video stream, which rayapp "
            f"writes into {', '.join(CAPTION_CODECS)}; {settings.spec.name} would drop them: "
            "choose --codec h264, hevc or av1"
        )
    settings.check_size(height, width, settings.resolve_pix_fmt(info.video))
    how = deinterlace_for(info.video, deinterlace, ivtc=ivtc)
    if how is None and deinterlace == "auto" and (found := detected_field_order(info)):
        how = Deinterlace(found)  # woven fields in a stream that does not say so
    if interpolate > 1 and how is not None and (how.double or how.ivtc):
        raise ConfigError(
            "--interpolate makes frames between the source's; with --deinterlace double or "
            "--ivtc the source's frames are not yet known: use one or the other"
        )
    if how is not None and how.double:
        info = field_rate(info)
    elif how is not None and how.ivtc:
        if info.video.caption_packets:
            raise UnsupportedCodecError(
                "The source carries CEA-608/708 captions in its video stream; --ivtc drops "
                "a frame in five and its captions with it: upscale it without --ivtc"
            )
        how = replace(how, film=film_frames(info, how))
        info = film_rate(info, how.film)
    cuts = _planned_cuts(scene_cuts(source) if scenes else (), how)
    depth = frame_depth(settings, info.video)
    frame_bytes = info.video.width * info.video.height * 3 * depth // 8
    cut = cut_chunks(
        info.video.frame_count,
        (0, *cuts),
        chunk_frames=None if chunk_frames is None else max(1, chunk_frames // interpolate),
        scene_frames=scene_frames(_frame_rate(info), frame_bytes),
        lanes=lanes,
    )
    if interpolate > 1:  # cut on the source's frames, then planned
        info, cut = multiplied_rate(info, interpolate), cut.times(interpolate)
        if chunk_frames is not None:
            cut = replace(cut, why=f"--chunk-frames {chunk_frames}")
        chunks = with_reach(cut, 0, interpolate)
    else:
        chunks = with_reach(cut, reach)
    reads = [(start - before, stop + after) for start, stop, before, after in chunks]
    segments, members = job_segments(info, reads, segment_s, deinterlace=how, every=interpolate)
    return JobPlan(
        info=info,
        output=output,
        settings=settings,
        size=(height, width),
        depth=depth,
        segments=segments,
        chunk_frames=cut.most_frames,
        runs=tuple(Run(n, *c) for n, c in zip(members, chunks, strict=True)),
        cut=cut,
        deinterlace=how,
        interpolate=interpolate,
    )


def _planned_cuts(cuts: tuple[int, ...], how: Deinterlace | None) -> tuple[int, ...]:
    """Scene cuts found in the source's frames, on the timeline planned: at field rate a
    source frame's first field; at film rate the first frame kept from the cut on."""
    if how is not None and how.double:
        return tuple(2 * c for c in cuts)
    if how is not None and how.film is not None:
        return tuple(sorted({bisect.bisect_left(how.film.kept, c) for c in cuts}))
    return cuts


def _frame_rate(info: MediaInfo) -> float:
    video = info.video
    if video.average_rate:
        return float(video.average_rate)
    return video.frame_count / video.duration_s if video.duration_s > 0 else 24.0


def _check_aspect(info: MediaInfo, output: OutputPlan, settings: EncodeSettings) -> None:
    """An anamorphic source keeps its sample aspect ratio: H.264 and HEVC say it in their
    stream, AV1 and VP9 only through the container, which here only MP4 and MOV take."""
    sar = info.video.sample_aspect_ratio
    family = settings.spec.family
    if sar and sar != 1 and family in ("av1", "vp9") and output.format_name not in ("mp4", "mov"):
        raise ContainerError(
            f"The source's pixels are not square (sample aspect ratio {sar.numerator}:"
            f"{sar.denominator}); {family} in {output.extension} would show it squeezed: "
            "write .mp4 or .mov, or choose --codec h264 or hevc"
        )


def deinterlace_for(video: VideoStreamInfo, mode: str, *, ivtc: bool = False) -> Deinterlace | None:
    """How to deinterlace ``video``: with the parity of its field order (auto: each frame's
    flag when the order is not known); None when its frames go as decoded: ``mode`` off,
    or auto and the source says it is progressive or says nothing. ``mode`` double: a
    frame per field. ``ivtc`` (telecined film, whatever ``mode`` says): field matched, its
    field order, top first when it says none (NTSC film's pulldown; a telecine coded
    progressive has no flag to go by)."""
    if mode not in ("auto", "on", "off", "double"):
        raise ConfigError(f"Expected deinterlace auto, on, off or double, but got {mode!r}")
    known = video.field_order if video.field_order in ("tff", "bff") else None
    if ivtc:
        return Deinterlace(known or "tff", ivtc=True)
    if mode == "off" or (mode == "auto" and not video.interlaced):
        return None
    return Deinterlace(known or "auto", double=mode == "double")


def field_rate(info: MediaInfo) -> MediaInfo:
    """``info`` with its video at field rate (``multiplied_rate`` by 2): source frame i is
    frames 2i (at twice its pts) and 2i + 1 (halfway to the next frame), in half the time
    base."""
    return multiplied_rate(info, 2)


def multiplied_rate(info: MediaInfo, n: int) -> MediaInfo:
    """``info`` with ``n`` frames for each of its video's frames: source frame i is frames
    ``n * i + k`` (k < n) at ``k / n`` of the way from its pts to where it ends (the next
    frame's pts; the last frame's own duration), in ``1 / n`` of the time base: every pts
    exact, a variable rate's intervals each divided evenly, the duration unchanged."""
    if n < 1:
        raise ValueError(f"Expected n >= 1 frames per source frame, but got {n}")
    video = info.video
    pts, ends = video.frame_pts, video.frame_ends()
    return replace(
        info,
        video=replace(
            video,
            time_base=video.time_base / n,
            frame_pts=tuple(
                n * p + k * (end - p) for p, end in zip(pts, ends, strict=True) for k in range(n)
            ),
            frame_count=n * video.frame_count,
            average_rate=_times(video.average_rate, n),
            real_rate=_times(video.real_rate, n),
            last_frame_duration=ends[-1] - pts[-1] if pts else 0,
            keyframes=tuple(Keyframe(n * k.frame_index, n * k.pts) for k in video.keyframes),
        ),
    )


def _times(rate: Fraction | None, n: int) -> Fraction | None:
    return rate * n if rate else rate
