"""A training step never waits without end: each batch comes within its bound, in order,
or the wait ends with the line that names what starved; an error of the data path is the
error the worker raises. Each report then makes one line on the driver."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from rayapp.errors import RayappError, describe
from rayapp.train._progress import report_line
from rayapp.train._stream import _within


def test_batches_come_in_order_and_an_error_of_the_data_path_is_raised() -> None:
    def batches() -> Iterator[int]:
        yield from (1, 2, 3)
        raise ValueError("segment 4 does not decode")

    got = []
    with pytest.raises(ValueError, match="segment 4 does not decode"):
        for batch in _within(batches(), 30.0, str):
            got.append(batch)
    assert got == [1, 2, 3]


def test_a_batch_that_does_not_come_ends_the_wait_naming_what_starved() -> None:
    stalled = threading.Event()

    def batches() -> Iterator[str]:
        yield "step 1"
        stalled.wait(timeout=60)  # a data path that makes no progress
        yield "step 2"

    steps = _within(batches(), 0.2, lambda index: f"no batch for step {index + 1}")
    assert next(steps) == "step 1"
    with pytest.raises(RayappError, match="^no batch for step 2$") as starved:
        next(steps)
    stalled.set()
    assert describe(starved.value).exit_code == 1


def test_each_report_is_one_line_of_step_loss_quality_and_data_wait() -> None:
    checkpoint = {"step": 10, "loss": 0.039885, "data_wait_s": 0.30061,
                  "val_psnr": 25.49275, "val_ssim": 0.696811}  # fmt: skip
    assert report_line(checkpoint, 300) == (
        "step 10/300: loss 0.0399, val PSNR 25.49 dB, SSIM 0.6968, data wait 0.301 s"
    )
    start = {"step": 0, "val_psnr": 22.89619, "val_ssim": 0.632249}
    assert report_line(start, 300) == "step 0/300: val PSNR 22.90 dB, SSIM 0.6322"
