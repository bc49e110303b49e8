"""What probe() reports: frozen, picklable descriptions of a media file and its streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from rayapp.video._colour import Colour, HdrMetadata

__all__ = [
    "Keyframe",
    "VideoStreamInfo",
    "AudioStreamInfo",
    "SubtitleStreamInfo",
    "OtherStreamInfo",
    "StreamInfo",
    "MediaInfo",
]


class Keyframe(NamedTuple):
    """A keyframe of the video stream: its rank among the frames, and its pts."""

    frame_index: int
    pts: int


@dataclass(frozen=True)
class VideoStreamInfo:
    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    average_rate: Fraction | None
    real_rate: Fraction | None
    time_base: Fraction
    rotation: int
    sample_aspect_ratio: Fraction | None
    colour: Colour
    frame_count: int
    duration_s: float
    language: str | None
    # Sorted pts of every frame: frame_pts[i] is the pts of frame_index i.
    frame_pts: tuple[int, ...] = field(repr=False)
    # Duration of the last frame in time_base units (the packet's, else the average step).
    last_frame_duration: int = 0
    keyframes: tuple[Keyframe, ...] = field(default=(), repr=False)
    # progressive, tff, bff, interlaced (the frames say so, not which field is first), unknown
    field_order: str = "unknown"
    hdr: HdrMetadata | None = None  # HDR10 static metadata (mastering display, light level)
    timecode: str | None = None  # the first frame's SMPTE timecode, "HH:MM:SS:FF"
    caption_packets: int = 0  # video packets carrying CEA-608/708 captions (A/53)

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tff", "bff", "interlaced")

    def frame_ends(self) -> tuple[int, ...]:
        """Where each frame ends: the next frame's pts; the last one's pts plus its duration
        (the step before it when unknown; 1 for a lone frame)."""
        pts = self.frame_pts
        if not pts:
            return ()
        last = self.last_frame_duration or (pts[-1] - pts[-2] if len(pts) > 1 else 1)
        return (*pts[1:], pts[-1] + last)


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    time_base: Fraction
    language: str | None


@dataclass(frozen=True)
class SubtitleStreamInfo:
    index: int
    codec: str
    time_base: Fraction
    language: str | None


@dataclass(frozen=True)
class OtherStreamInfo:
    """A data or attachment stream (timecode, fonts, ...)."""

    index: int
    kind: str
    codec: str | None
    time_base: Fraction | None


StreamInfo = VideoStreamInfo | AudioStreamInfo | SubtitleStreamInfo | OtherStreamInfo


# Container tag of a video stored small (a downscale job): the original's "WIDTHxHEIGHT",
# which an upscale job of it restores exactly.
ORIGINAL_SIZE_TAG = "rayapp_original_size"


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found. ``video`` is the first real video stream (not cover art).
    ``original_size``: (width, height) recorded by a downscale job, else None."""

    uri: str
    format_name: str
    duration_s: float | None
    video: VideoStreamInfo
    streams: tuple[StreamInfo, ...]
    original_size: tuple[int, int] | None = None

    @property
    def audio(self) -> tuple[AudioStreamInfo, ...]:
        return tuple(s for s in self.streams if isinstance(s, AudioStreamInfo))

    @property
    def subtitles(self) -> tuple[SubtitleStreamInfo, ...]:
        return tuple(s for s in self.streams if isinstance(s, SubtitleStreamInfo))
