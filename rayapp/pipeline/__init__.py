"""The Ray Data pipelines: the video job and the images job."""

from __future__ import annotations

from rayapp.pipeline.cluster import ensure_ray
from rayapp.pipeline.video import VideoJobResult, run_video_job

__all__ = ["VideoJobResult", "ensure_ray", "run_video_job"]
