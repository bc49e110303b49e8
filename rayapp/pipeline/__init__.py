"""The jobs: a video job (run on Ray or in this process), the images job and the evaluation
job (Ray Data).

``run_video_job(config)`` is the one video job; its ``runner`` says who makes the chunks.
Progress goes to pluggable sinks (:mod:`rayapp.pipeline.progress`).
"""

from __future__ import annotations

from rayapp.pipeline._evaluate import EvaluationReport, EvaluationRow, run_evaluation
from rayapp.pipeline._images import ImagesJobReport, run_images_job
from rayapp.pipeline._records import ChunkRecord
from rayapp.pipeline._stages import FrameUpscaler
from rayapp.pipeline._video import Runner, VideoJobResult, run_video_job
from rayapp.pipeline.progress import LogProgress, ProgressEvent, TqdmProgress

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
    "run_evaluation",
    "run_images_job",
    "run_video_job",
]
