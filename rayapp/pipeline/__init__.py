"""The jobs: a video job (run on Ray or in this process), the images job and the evaluation
job (Ray Data).

``run_video_job(config)`` is the one video job; its ``runner`` says who makes the chunks.
Progress goes to pluggable sinks (:mod:`rayapp.pipeline.progress`).

Each name is imported when first used (PEP 562): a job that fails on its input (a probe, a
missing file) says so before torch, spandrel and Ray Data are loaded (about 3 s here).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rayapp.pipeline._evaluate import EvaluationReport, EvaluationRow, run_evaluation
    from rayapp.pipeline._images import ImagesJobReport, run_images_job
    from rayapp.pipeline._records import ChunkRecord
    from rayapp.pipeline._stages import FrameUpscaler
    from rayapp.pipeline._video import Runner, VideoJobResult, job_output_size, run_video_job
    from rayapp.pipeline.progress import LogProgress, ProgressEvent, TqdmProgress

_MODULES = {
    "ChunkRecord": "_records",
    "EvaluationReport": "_evaluate",
    "EvaluationRow": "_evaluate",
    "FrameUpscaler": "_stages",
    "ImagesJobReport": "_images",
    "LogProgress": "progress",
    "ProgressEvent": "progress",
    "Runner": "_video",
    "TqdmProgress": "progress",
    "VideoJobResult": "_video",
    "job_output_size": "_video",
    "run_evaluation": "_evaluate",
    "run_images_job": "_images",
    "run_video_job": "_video",
}
__all__ = [
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
    "job_output_size",
    "run_evaluation",
    "run_images_job",
    "run_video_job",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whichever object the name is
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
