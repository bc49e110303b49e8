"""Video I/O with PyAV: what a media file holds (``probe``), and the codecs and containers a
video job can write.

The job's own pieces (keyframe segments, decode, chunk encode, final assembly) are plain
functions and frozen dataclasses in this package's private modules; ``rayapp.pipeline``
runs them.
"""

from __future__ import annotations

from rayapp.video._codecs import CODECS
from rayapp.video._colour import Colour
from rayapp.video._containers import OUTPUT_FORMATS
from rayapp.video._info import (
    AudioStreamInfo,
    Keyframe,
    MediaInfo,
    OtherStreamInfo,
    SubtitleStreamInfo,
    VideoStreamInfo,
)
from rayapp.video._probe import probe

__all__ = [
    "CODECS",
    "OUTPUT_FORMATS",
    "AudioStreamInfo",
    "Colour",
    "Keyframe",
    "MediaInfo",
    "OtherStreamInfo",
    "SubtitleStreamInfo",
    "VideoStreamInfo",
    "probe",
]
