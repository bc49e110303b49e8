"""Before a video job runs: its plan (probe, checks, scene cuts, chunks), the one the job
itself follows, and its estimate (time, cost, the stage that binds) made from that plan."""

from __future__ import annotations

from rayapp.pipeline.planning._estimate import (
    STORED,
    Calibration,
    Totals,
    VideoEstimate,
    estimate_job,
    estimate_s,
    estimate_video,
    parse_duration,
)
from rayapp.pipeline.planning._plan import (
    encode_settings,
    job_faces,
    job_output_size,
    lanes_on,
    plan_video_job,
)

__all__ = [
    "STORED",
    "Calibration",
    "Totals",
    "VideoEstimate",
    "encode_settings",
    "estimate_job",
    "estimate_s",
    "job_faces",
    "job_output_size",
    "lanes_on",
    "parse_duration",
    "estimate_video",
    "plan_video_job",
]
