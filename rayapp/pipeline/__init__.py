"""The Ray Data pipelines: the video job and the images job."""

from __future__ import annotations

from rayapp.pipeline.cluster import ensure_ray
from rayapp.pipeline.images import ImagesJobReport, run_images_job
from rayapp.pipeline.video import VideoJobResult, run_video_job

__all__ = ["ImagesJobReport", "VideoJobResult", "ensure_ray", "run_images_job", "run_video_job"]
