"""Output containers: which one an output URI asks for, and how each source stream gets in.

Checked before any work starts, so a job that cannot write its output fails in seconds,
not after hours of upscaling. Audio is only ever stream-copied (packets unchanged); text
subtitles are converted to the container's text format when it cannot carry the source's
(mov_text for MP4/MOV, WebVTT for WebM); bitmap subtitles (DVD, Blu-ray, DVB) are copied
into Matroska; anything else that does not fit is a ``ContainerError`` naming the stream
and the containers that would take it.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from dataclasses import dataclass

import av

from rayapp.errors import ContainerError
from rayapp.video._info import AudioStreamInfo, MediaInfo, OtherStreamInfo, SubtitleStreamInfo

__all__ = ["OUTPUT_FORMATS", "VIDEO_SUFFIXES", "OutputPlan", "output_format", "plan_output"]

log = logging.getLogger(__name__)

# Output file extension -> FFmpeg muxer.
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# Names that say "a video" in a folder of them (an archive, a training set).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts")
_TEXT_SUBTITLE_TARGET = {
    "mp4": "mov_text",
    "mov": "mov_text",
    "webm": "webvtt",
    "matroska": "subrip",
}
_TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})
# Where a bitmap subtitle stream (DVD, Blu-ray PGS, DVB) is copied: Matroska keeps each
# cue's time and duration; MP4 stretches every cue to the next one (no gaps between samples).
_BITMAP_SUBTITLE_FORMATS = ("matroska",)


@dataclass(frozen=True)
class OutputPlan:
    """How the output is built: muxer, streams copied, subtitles converted, streams left out."""

    format_name: str
    extension: str
    copy_streams: tuple[int, ...]
    # (source stream index, target subtitle codec)
    convert_subtitles: tuple[tuple[int, str], ...]
    dropped: tuple[str, ...]


def output_format(output_uri: str) -> tuple[str, str]:
    """(muxer name, extension) for ``output_uri``, from its extension."""
    ext = os.path.splitext(output_uri.rstrip("/"))[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise ContainerError(
            f"Cannot tell the output container from {output_uri!r}: expected an extension "
            f"among {', '.join(OUTPUT_FORMATS)}, but got {ext or 'none'}"
        )
    return OUTPUT_FORMATS[ext], ext


@functools.cache
def _supported(format_name: str) -> frozenset[str]:
    """The codecs ``format_name`` carries, by the names a probe gives them ("dts",
    "dvd_subtitle") as well as by their coders' ("dca", "dvdsub"), which are all FFmpeg
    lists."""
    with av.open(io.BytesIO(), "w", format=format_name) as container:
        names = container.supported_codecs
    return frozenset(names) | {_codec_name(name) for name in names}


def _codec_name(coder: str) -> str:
    """The codec's own name for the decoder or encoder ``coder``."""
    try:
        return av.Codec(coder, "r").canonical_name
    except av.codec.codec.UnknownCodecError:
        return av.Codec(coder, "w").canonical_name


def _is_bitmap(codec: str) -> bool:
    """Whether ``codec`` (a probe's name) is a bitmap subtitle format (DVD, PGS, DVB)."""
    try:
        return av.Codec(codec, "r").bitmap_sub
    except av.codec.codec.UnknownCodecError:
        return False


def _takers(codec: str, formats: tuple[str, ...] | None = None) -> str:
    """The output extensions whose container carries ``codec`` (of ``formats``: all)."""
    exts = [
        e
        for e, f in OUTPUT_FORMATS.items()
        if (formats is None or f in formats) and codec in _supported(f)
    ]
    return ", ".join(exts) or "none of " + ", ".join(OUTPUT_FORMATS)


def plan_output(source: MediaInfo, output_uri: str, video_codec: str) -> OutputPlan:
    """Check every source stream against the output container; raise ContainerError early."""
    format_name, ext = output_format(output_uri)
    supported = _supported(format_name)
    if video_codec not in supported:
        raise ContainerError(
            f"{ext} cannot carry {video_codec} video; containers that can: {_takers(video_codec)}"
        )
    copy, convert, dropped = [], [], []
    for stream in source.streams:
        if isinstance(stream, AudioStreamInfo):
            if stream.codec not in supported:
                raise ContainerError(
                    f"The source's audio stream #{stream.index} ({stream.codec}) cannot be "
                    f"carried in {ext} without re-encoding it; containers that can: "
                    f"{_takers(stream.codec)}"
                )
            copy.append(stream.index)
        elif isinstance(stream, SubtitleStreamInfo):
            formats = _BITMAP_SUBTITLE_FORMATS if _is_bitmap(stream.codec) else None
            if stream.codec in supported and (formats is None or format_name in formats):
                copy.append(stream.index)
            elif stream.codec in _TEXT_SUBTITLES:
                convert.append((stream.index, _TEXT_SUBTITLE_TARGET[format_name]))
            else:
                raise ContainerError(
                    f"The source's subtitle stream #{stream.index} ({stream.codec}, not text) "
                    f"cannot be carried in {ext}; containers that can: "
                    f"{_takers(stream.codec, formats)}"
                )
        elif isinstance(stream, OtherStreamInfo) and stream.kind != "timecode":
            # A timecode track is not copied: the video stream's start timecode makes one.
            dropped.append(f"#{stream.index} ({stream.kind}, {stream.codec or 'unknown'})")
    if dropped:
        log.warning("not carried into %s: %s", output_uri, ", ".join(dropped))
    return OutputPlan(format_name, ext, tuple(copy), tuple(convert), tuple(dropped))
