"""The Ray Data pipelines: the video job and the images job."""

from __future__ import annotations

from rayapp.pipeline._cluster import ensure_ray
from rayapp.pipeline._images import ImagesJobReport, run_images_job
from rayapp.pipeline._video import VideoJobResult, run_video_job

__all__ = ["ImagesJobReport", "VideoJobResult", "ensure_ray", "run_images_job", "run_video_job"]
