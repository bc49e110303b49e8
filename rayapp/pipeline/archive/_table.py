"""An archive's table: a row per input, rewritten whole under the output prefix as each
video ends (``rayapp-archive.csv`` and ``.json``), and the archive's totals for progress.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rayapp import storage

__all__ = ["ARCHIVE_TABLE", "ArchiveResult", "ArchiveRow", "ArchiveTable"]

log = logging.getLogger(__name__)

ARCHIVE_TABLE = "rayapp-archive"  # .csv and .json under the output prefix
_STATUSES = ("done", "skipped", "failed")


@dataclass(frozen=True)
class ArchiveRow:
    """One input's line of the archive's table."""

    input: str
    output: str
    status: str  # done, skipped (certified earlier) or failed
    frames: int = 0
    seconds: float = 0.0
    frames_per_s: float = 0.0
    repeats_skipped: int = 0
    chunks_reused: int = 0  # finished by an earlier run that stopped mid-way
    certificate_ok: bool | None = None
    error: str = ""


@dataclass(frozen=True)
class ArchiveResult:
    rows: tuple[ArchiveRow, ...]  # in the listing's order
    ignored: tuple[str, ...]
    table: str  # the .csv; the .json beside it
    elapsed_s: float

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def exit_code(self) -> int:
        """0: every video done or skipped; 1: some failed."""
        return 1 if self.count("failed") else 0

    def describe(self) -> str:
        """The archive's totals line."""
        frames = sum(r.frames for r in self.rows if r.status == "done")
        return (
            f"archive: {len(self.rows)} videos, {self.count('done')} done, "
            f"{self.count('skipped')} skipped, {self.count('failed')} failed, "
            f"{len(self.ignored)} other files ignored; {frames} frames in "
            f"{self.elapsed_s:.1f} s ({frames / max(self.elapsed_s, 1e-9):.2f} fps) -> "
            f"{self.table}"
        )


class ArchiveTable:
    """The archive's table under its output prefix, written whole (atomically) as each
    video ends: a crash leaves a correct table of the videos that ended."""

    def __init__(
        self,
        output: str,
        inputs: Sequence[str],
        started: float,
        on_video: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.uri = storage.join(output.rstrip("/"), ARCHIVE_TABLE)
        self.rows: list[ArchiveRow] = []
        self._rank = {uri: i for i, uri in enumerate(inputs)}
        self._total = len(inputs)
        self._started = started
        self._on_video = on_video

    def add(self, row: ArchiveRow) -> None:
        self.rows.append(row)
        self.rows.sort(key=lambda r: self._rank[r.input])  # the listing's order
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ArchiveRow.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(r) for r in self.rows)
        storage.write_bytes(self.uri + ".csv", buffer.getvalue().encode())
        rows = [asdict(r) for r in self.rows]
        storage.write_bytes(self.uri + ".json", json.dumps(rows, indent=1).encode())
        self._progress(row)

    def _progress(self, row: ArchiveRow) -> None:
        ended = len(self.rows)
        elapsed = time.monotonic() - self._started
        totals = {
            "videos_total": self._total,
            "videos_ended": ended,
            **{status: sum(r.status == status for r in self.rows) for status in _STATUSES},
            "frames_done": sum(r.frames for r in self.rows if r.status == "done"),
            "elapsed_s": round(elapsed, 1),
            "eta_s": round(elapsed / ended * (self._total - ended), 1),
            "table": self.uri + ".csv",
        }
        log.info(
            "archive: %d/%d videos (%s %s), %d frames, %.0f s, about %.0f s left",
            ended,
            self._total,
            row.status,
            row.input,
            totals["frames_done"],
            elapsed,
            totals["eta_s"],
        )
        if self._on_video is not None:
            self._on_video(totals)
