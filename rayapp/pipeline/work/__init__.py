"""A video job's work: what crosses between the job, its runner and its certificate (the
records of every chunk), and the work prefix where chunks live, which a rerun finds."""

from __future__ import annotations

from rayapp.pipeline.work._records import ChunkRecord, EncodeJob, OnChunk, PipelineWork
from rayapp.pipeline.work._resume import (
    finished_chunks,
    output_fingerprint,
    record_chunk,
    work_base,
    work_prefix,
)

__all__ = [
    "ChunkRecord",
    "EncodeJob",
    "OnChunk",
    "PipelineWork",
    "finished_chunks",
    "output_fingerprint",
    "record_chunk",
    "work_base",
    "work_prefix",
]
