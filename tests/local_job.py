"""The video job on the local runner with a test upscaler, as the unit tests call it."""

from __future__ import annotations

from typing import Any

from rayapp.config import VideoJobConfig
from rayapp.pipeline import FrameUpscaler, VideoJobResult, run_video_job


def upscale_locally(src: str, out: str, upscaler: FrameUpscaler, **fields: Any) -> VideoJobResult:
    """``run_video_job`` of ``src`` into ``out`` in this process; ``fields`` are the
    ``VideoJobConfig``'s (segment_s, preset, work, keep_work, ...)."""
    config = VideoJobConfig(input=src, output=out, **fields)
    return run_video_job(config, runner="local", upscaler=upscaler, progress=())
