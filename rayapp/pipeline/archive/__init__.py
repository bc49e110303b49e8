"""An archive of videos as one job: listed, each the video job on one shared runner, a row
of its table per video; and its plan."""

from __future__ import annotations

from rayapp.pipeline.archive._estimate import ArchiveEstimate, estimate_for, estimate_task
from rayapp.pipeline.archive._job import run_archive_job
from rayapp.pipeline.archive._list import check_archive, is_archive
from rayapp.pipeline.archive._table import ArchiveResult

__all__ = [
    "ArchiveEstimate",
    "ArchiveResult",
    "check_archive",
    "is_archive",
    "estimate_for",
    "estimate_task",
    "run_archive_job",
]
