"""plan_job: everything decided before the first frame is decoded: probe, output checks,
segments and chunks (``rayapp.pipeline`` derives a job's from its config, once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rayapp import storage
from rayapp.errors import ConfigError, ContainerError, UnsupportedCodecError
from rayapp.video._captions import CAPTION_CODECS
from rayapp.video._codecs import EncodeSettings
from rayapp.video._containers import OutputPlan, output_format, plan_output
from rayapp.video._encode import frame_depth
from rayapp.video._info import MediaInfo, VideoStreamInfo
from rayapp.video._probe import check_video_header, probe
from rayapp.video._segments import Run, Segment, auto_chunk_frames, plan_runs, plan_segments

__all__ = ["JobPlan", "deinterlace_parity", "plan_job", "preflight"]


@dataclass(frozen=True)
class JobPlan:
    info: MediaInfo
    output: OutputPlan
    settings: EncodeSettings  # the encoder of the job's chunks
    size: tuple[int, int]  # (height, width) of the output frames
    depth: int  # bits per channel the frames are decoded to (8 or 16)
    segments: tuple[Segment, ...]
    chunk_frames: int  # most frames per run: as asked, or auto_chunk_frames'
    runs: tuple[Run, ...]
    deinterlace: str | None = None  # the parity the frames are deinterlaced with; None: not
    ivtc: bool = False  # field matched first (telecined film)


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
) -> JobPlan:
    """Probe the input and check the output (scheme, container, codec, frame size) before any
    work: ``output_size(info)`` is the output's (height, width). ``chunk_frames`` None: at most
    48, fewer where that keeps ``lanes`` (chunks made at once) busy to the end
    (``auto_chunk_frames``). ``deinterlace``: auto (an interlaced source), on, off
    (``deinterlace_parity``); ``ivtc``: telecined film, field matched back to its film frames
    first; an HDR source's encoder must keep it (``check_hdr``)."""
    storage.check_scheme(output_uri)
    info = probe(input_uri)
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
    parity = deinterlace_parity(info.video, deinterlace, ivtc=ivtc)
    segments = plan_segments(info, segment_s, deinterlace=parity, ivtc=ivtc)
    chunk_frames = chunk_frames or auto_chunk_frames(segments, lanes)
    return JobPlan(
        info=info,
        output=output,
        settings=settings,
        size=(height, width),
        depth=frame_depth(settings, info.video),
        segments=segments,
        chunk_frames=chunk_frames,
        runs=tuple(plan_runs(segments, chunk_frames)),
        deinterlace=parity,
        ivtc=ivtc,
    )


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


def deinterlace_parity(video: VideoStreamInfo, mode: str, *, ivtc: bool = False) -> str | None:
    """The parity to deinterlace ``video`` with (its field order; auto: each frame's flag
    when the order is not known), None when its frames go as decoded: ``mode`` off, or
    auto and the source says it is progressive or says nothing. ``ivtc`` (telecined film,
    whatever ``mode`` says): its field order, top first when it says none (NTSC film's
    pulldown; a telecine coded progressive has no flag to go by)."""
    if mode not in ("auto", "on", "off"):
        raise ConfigError(f"Expected deinterlace auto, on or off, but got {mode!r}")
    if ivtc:
        return video.field_order if video.field_order in ("tff", "bff") else "tff"
    if mode == "off" or (mode == "auto" and not video.interlaced):
        return None
    return video.field_order if video.field_order in ("tff", "bff") else "auto"
