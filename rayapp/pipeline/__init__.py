"""Every job as plan -> stages -> runner: the video job (on Ray or in this process; one
video, or an archive of them), the images job (on Ray or in this process), the evaluation
job, the plan and estimate of a video job before it runs, and the cluster they run on.

Each name is imported when first used (PEP 562): a job that fails on its input (a probe, a
missing file) says so before torch, spandrel and Ray are loaded (about 3 s here).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayapp.pipeline._archive import run_archive_job
    from rayapp.pipeline._archive_list import check_archive, is_archive
    from rayapp.pipeline._archive_plan import ArchivePlan, plan_for, plan_task
    from rayapp.pipeline._archive_table import ArchiveResult
    from rayapp.pipeline._cluster import ensure_ray, submission_id
    from rayapp.pipeline._estimate import (
        STORED,
        Calibration,
        VideoPlan,
        estimate_s,
        parse_duration,
        plan_video,
    )
    from rayapp.pipeline._evaluate import run_evaluation
    from rayapp.pipeline._evaluate_report import EvaluationReport, EvaluationRow
    from rayapp.pipeline._images import ImagesJobReport, run_images_job, upscale_image_file
    from rayapp.pipeline._plan import job_output_size, plan_video_job
    from rayapp.pipeline._preview import PLAYLIST, preview_uri
    from rayapp.pipeline._records import ChunkRecord
    from rayapp.pipeline._report import summary
    from rayapp.pipeline._runners import Runner
    from rayapp.pipeline._stages import FrameUpscaler
    from rayapp.pipeline._video import VideoJobResult, run_video_job
    from rayapp.pipeline.progress import LogProgress, ProgressEvent, TqdmProgress

_MODULES = {
    "PLAYLIST": "_preview",
    "ArchiveResult": "_archive_table",
    "STORED": "_estimate",
    "Calibration": "_estimate",
    "ChunkRecord": "_records",
    "EvaluationReport": "_evaluate_report",
    "EvaluationRow": "_evaluate_report",
    "FrameUpscaler": "_stages",
    "ImagesJobReport": "_images",
    "LogProgress": "progress",
    "ProgressEvent": "progress",
    "Runner": "_runners",
    "TqdmProgress": "progress",
    "VideoJobResult": "_video",
    "VideoPlan": "_estimate",
    "check_archive": "_archive_list",
    "ensure_ray": "_cluster",
    "is_archive": "_archive_list",
    "estimate_s": "_estimate",
    "job_output_size": "_plan",
    "parse_duration": "_estimate",
    "plan_task": "_archive_plan",
    "plan_for": "_archive_plan",
    "ArchivePlan": "_archive_plan",
    "plan_video": "_estimate",
    "plan_video_job": "_plan",
    "preview_uri": "_preview",
    "run_archive_job": "_archive",
    "run_evaluation": "_evaluate",
    "run_images_job": "_images",
    "run_video_job": "_video",
    "submission_id": "_cluster",
    "summary": "_report",
    "upscale_image_file": "_images",
}
__all__ = [
    "PLAYLIST",
    "STORED",
    "ArchivePlan",
    "ArchiveResult",
    "Calibration",
    "ChunkRecord",
    "EvaluationReport",
    "EvaluationRow",
    "FrameUpscaler",
    "ImagesJobReport",
    "LogProgress",
    "ProgressEvent",
    "Runner",
    "TqdmProgress",
    "VideoJobResult",
    "VideoPlan",
    "check_archive",
    "ensure_ray",
    "is_archive",
    "estimate_s",
    "job_output_size",
    "parse_duration",
    "plan_for",
    "plan_task",
    "plan_video",
    "plan_video_job",
    "preview_uri",
    "run_archive_job",
    "run_evaluation",
    "run_images_job",
    "run_video_job",
    "submission_id",
    "summary",
    "upscale_image_file",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whichever object the name is
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
