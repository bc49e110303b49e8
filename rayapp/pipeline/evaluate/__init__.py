"""The evaluation job: would a small copy, upscaled on read, be good enough? Every image at
each scale through each model, measured against the original, with its bytes as stored."""

from __future__ import annotations

from rayapp.pipeline.evaluate._job import run_evaluation
from rayapp.pipeline.evaluate._report import EvaluationReport, EvaluationRow

__all__ = ["EvaluationReport", "EvaluationRow", "run_evaluation"]
