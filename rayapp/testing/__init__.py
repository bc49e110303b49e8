"""Small real media for tests and demos: PyAV-generated videos and a trivial upscaler.

Every generated frame carries its own frame index as a visible pattern (see
:mod:`rayapp.testing.patterns`), so a test can check which frames came out, in which
order, after any encode, split or upscale.

This package lives in ``rayapp`` (not under ``tests/``) because Ray workers import
:class:`NearestUpscaler` by name.
"""

from __future__ import annotations

from rayapp.testing.faces import FaceNearestUpscaler
from rayapp.testing.gpu import SimulatedGpuUpscaler
from rayapp.testing.make import SubtitleCue, held_drawings, make_audio_only, make_test_video
from rayapp.testing.patterns import NearestUpscaler, frame_pattern, read_frame_index
from rayapp.testing.readback import Decoded, decode_video, stream_packets, subtitle_cues

__all__ = [
    "Decoded",
    "FaceNearestUpscaler",
    "NearestUpscaler",
    "SimulatedGpuUpscaler",
    "SubtitleCue",
    "decode_video",
    "frame_pattern",
    "held_drawings",
    "make_audio_only",
    "make_test_video",
    "read_frame_index",
    "stream_packets",
    "subtitle_cues",
]
