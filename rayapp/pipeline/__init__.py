"""Every job as plan -> stages -> runner, a subpackage each: ``video`` (one video, on Ray or
in this process), ``archive`` (a folder of videos on one runner), ``images``, ``evaluate``;
and what they share: ``planning`` (the plan and its estimate), ``stages``, ``runners``,
``certificate``, ``work`` (records and resume), ``progress``, ``cluster``.

These are the names entry points use. Each is imported when first used (PEP 562): a job
that fails on its input (a probe, a missing file) says so before torch, spandrel and Ray
are loaded.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name, and the subpackage that holds it: the one list.
_MODULES = {
    "ArchiveEstimate": "archive",
    "ArchiveResult": "archive",
    "check_archive": "archive",
    "is_archive": "archive",
    "estimate_for": "archive",
    "estimate_task": "archive",
    "run_archive_job": "archive",
    "summary": "certificate",
    "ensure_ray": "cluster",
    "submission_id": "cluster",
    "EvaluationReport": "evaluate",
    "EvaluationRow": "evaluate",
    "run_evaluation": "evaluate",
    "ImagesJobReport": "images",
    "run_images_job": "images",
    "upscale_image_file": "images",
    "STORED": "planning",
    "Calibration": "planning",
    "VideoEstimate": "planning",
    "estimate_s": "planning",
    "job_output_size": "planning",
    "parse_duration": "planning",
    "estimate_video": "planning",
    "plan_video_job": "planning",
    "LogProgress": "progress",
    "ProgressEvent": "progress",
    "TqdmProgress": "progress",
    "Runner": "runners",
    "FrameUpscaler": "stages",
    "PLAYLIST": "video",
    "VideoJobResult": "video",
    "preview_uri": "video",
    "run_video_job": "video",
    "ChunkRecord": "work",
}
__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whichever object the name is
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
