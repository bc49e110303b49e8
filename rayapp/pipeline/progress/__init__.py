"""What a job tells as it runs: progress events to pluggable sinks (a log, a bar, the
cluster's key-value store for the jobs API), and the Ray metrics of a job and its
replicas."""

from __future__ import annotations

from rayapp.pipeline.progress._metrics import (
    JobMetrics,
    NoMetrics,
    ReplicaMetrics,
    chunk_retries,
)
from rayapp.pipeline.progress._tracker import (
    LogProgress,
    ProgressEvent,
    ProgressSink,
    ProgressTracker,
    RayKvProgress,
    TqdmProgress,
    forget_job_state,
    job_state_ids,
    publish_job_state,
    read_job_state,
)

__all__ = [
    "JobMetrics",
    "LogProgress",
    "NoMetrics",
    "ProgressEvent",
    "ProgressSink",
    "ProgressTracker",
    "RayKvProgress",
    "ReplicaMetrics",
    "TqdmProgress",
    "chunk_retries",
    "forget_job_state",
    "job_state_ids",
    "publish_job_state",
    "read_job_state",
]
