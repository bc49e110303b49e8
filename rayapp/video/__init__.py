"""Video I/O: probe, keyframe segments, decode, chunk encode and final assembly (PyAV).

The pieces are plain functions and frozen dataclasses with no global state, so the Ray
pipeline can run them in tasks and actors; :func:`upscale_video_local` chains them in
one process.
"""

from __future__ import annotations

from rayapp.video._assemble import AssembledVideo, assemble, check_coverage
from rayapp.video._codecs import CODECS, EncodeSettings
from rayapp.video._colour import Colour
from rayapp.video._containers import OUTPUT_FORMATS, OutputPlan, plan_output
from rayapp.video._decode import DecodedFrame, decode_segment
from rayapp.video._encode import Chunk, ChunkEncoder, chunk_uri
from rayapp.video._info import (
    AudioStreamInfo,
    Keyframe,
    MediaInfo,
    OtherStreamInfo,
    SubtitleStreamInfo,
    VideoStreamInfo,
)
from rayapp.video._local import FrameUpscaler, UpscaleResult, upscale_video_local
from rayapp.video._plan import JobPlan, plan_job
from rayapp.video._probe import probe
from rayapp.video._segments import Run, Segment, plan_runs, plan_segments

__all__ = [
    "CODECS",
    "OUTPUT_FORMATS",
    "AssembledVideo",
    "AudioStreamInfo",
    "Chunk",
    "ChunkEncoder",
    "Colour",
    "DecodedFrame",
    "EncodeSettings",
    "FrameUpscaler",
    "JobPlan",
    "Keyframe",
    "MediaInfo",
    "OtherStreamInfo",
    "OutputPlan",
    "Run",
    "Segment",
    "SubtitleStreamInfo",
    "UpscaleResult",
    "VideoStreamInfo",
    "assemble",
    "check_coverage",
    "chunk_uri",
    "decode_segment",
    "plan_job",
    "plan_output",
    "plan_runs",
    "plan_segments",
    "probe",
    "upscale_video_local",
]
