"""The decode stage (a CPU task on Ray): one segment -> its runs of consecutive frames, each
``{frames: NHWC uint8/uint16 RGB, pts: int64[N], captions, first_frame_index, before,
after}`` with the frames around it that a stage reading neighbours needs: low-resolution
frames travel through the object store."""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rayapp.errors import VideoError
from rayapp.video import (
    DecodedFrame,
    Run,
    Segment,
    decode_segment,
)

__all__ = ["decode_runs", "packed_captions", "segment_rows", "unpacked_captions"]


def segment_rows(
    segments: Sequence[Segment], runs: Sequence[Run]
) -> list[tuple[list[Run], dict[str, Any]]]:
    """Per segment that has runs to do: its runs, and the row ``decode_runs`` takes:
    ``{segment: pickled Segment, runs: [[start, stop, before, after], ...]}``."""
    by_segment: dict[int, list[Run]] = {}
    for run in runs:
        by_segment.setdefault(run.segment, []).append(run)
    return [
        (
            r,
            {
                "segment": pickle.dumps(segments[i]),
                "runs": [[x.start, x.stop, x.before, x.after] for x in r],
            },
        )
        for i, r in by_segment.items()
    ]


def decode_runs(row: dict[str, Any], *, uri: str, depth: int) -> Iterator[dict[str, Any]]:
    """Decode one segment row into its requested runs, each yielded as soon as it is whole,
    with the frames around it that a stage reading neighbours needs (``before`` frames
    first and ``after`` frames last in ``frames``, ``pts`` and ``captions``)."""
    segment: Segment = pickle.loads(row["segment"])
    wanted = deque(Run(segment.index, *map(int, r)) for r in row["runs"])
    count = len(wanted)
    reading: list[tuple[Run, list[DecodedFrame]]] = []
    emitted = 0
    every = segment.every  # decoded: every such frame planned, the first of each source frame
    for frame in decode_segment(uri, segment, depth=depth):
        while wanted and wanted[0].reads[0] <= frame.frame_index:
            reading.append((wanted.popleft(), []))
        for run, frames in reading:
            if run.reads[0] <= frame.frame_index:
                frames.append(frame)
        while reading and reading[0][0].reads[1] == frame.frame_index + every:
            run, frames = reading.pop(0)
            if len(frames) != (run.reads[1] - run.reads[0]) // every:
                break  # reported below: a run whose first frames never came
            yield _run_row(run, frames, segment)
            emitted += 1
    if emitted != count:
        raise VideoError(
            f"Segment {segment.index}: decoded {emitted} of {count} runs of frames "
            f"{segment.start}-{segment.stop - 1}"
        )


def _run_row(run: Run, frames: list[DecodedFrame], segment: Segment) -> dict[str, Any]:
    """A run's row; with ``Segment.every`` (frames made between the source's), ``frames``
    are its source frames (``before`` and ``after`` count those) and ``timeline`` holds the
    pts of every frame of its chunk."""
    every = segment.every
    row = {
        "frames": np.stack([f.image for f in frames]),
        "pts": np.asarray([f.pts for f in frames], np.int64),
        "captions": packed_captions([f.captions for f in frames]),
        "first_frame_index": run.start,
        "before": run.before // every,
        "after": run.after // every,
    }
    if every > 1:
        at = run.start - segment.start
        row["timeline"] = np.asarray(segment.frame_pts[at : at + run.frame_count], np.int64)
    return row


_CAPTION_ROW = 1 + 31 * 3


def packed_captions(captions: Sequence[bytes]) -> np.ndarray:
    """Each frame's caption bytes (``DecodedFrame.captions``) as rows of one array."""
    out = np.zeros((len(captions), _CAPTION_ROW), np.uint8)
    for row, data in zip(out, captions, strict=True):
        row[0] = len(data)
        row[1 : 1 + len(data)] = np.frombuffer(data, np.uint8)
    return out


def unpacked_captions(packed: np.ndarray | None, count: int) -> list[bytes]:
    """``packed_captions`` back to bytes per frame (none: b"" for each of ``count``)."""
    if packed is None:
        return [b""] * count
    return [bytes(row[1 : 1 + int(row[0])]) for row in packed]
