"""The certificate of a video job, ``<output>.report.json``: its integrity, checked from
packets before the output is published, and its sampled quality, measured per chunk by the
replicas (consistency, and the warping error inside chunks and across seams)."""

from __future__ import annotations

from rayapp.pipeline.certificate._report import (
    FAILED_REPORT,
    REPORT_SUFFIX,
    certify,
    check_assembled,
    integrity,
    quality,
    summary,
)
from rayapp.pipeline.certificate._sampled import chunk_quality, sampled_frames

__all__ = [
    "FAILED_REPORT",
    "REPORT_SUFFIX",
    "certify",
    "check_assembled",
    "chunk_quality",
    "integrity",
    "quality",
    "sampled_frames",
    "summary",
]
