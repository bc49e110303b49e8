"""The video job: plan, make the chunks an earlier run did not, assemble, certify; on a
runner of its own, or on one an archive shares (``video_on``); and its growing preview."""

from __future__ import annotations

from rayapp.pipeline.video._job import (
    Started,
    VideoJobResult,
    job_upscaler,
    model_identity,
    run_video_job,
    video_on,
)
from rayapp.pipeline.video._preview import PLAYLIST, Preview, preview_uri

__all__ = [
    "PLAYLIST",
    "Preview",
    "Started",
    "VideoJobResult",
    "job_upscaler",
    "model_identity",
    "preview_uri",
    "run_video_job",
    "video_on",
]
