"""A training step never waits without end: each batch comes within its bound, in order,
or the wait ends with the line that names what starved; an error of the data path is the
error the worker raises. Each report then makes one line on the driver."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from rayapp.errors import RayappError, describe
from rayapp.train._progress import report_line
from rayapp.train._stream import AHEAD, ahead


def test_batches_come_in_order_asked_ahead_and_an_error_of_the_data_path_is_raised() -> None:
    submitted: list[int] = []
    cancelled: list[int] = []

    def make(step: int) -> int:
        if step == 3:
            raise ValueError("segment 4 does not decode")
        return step * 10

    with ThreadPoolExecutor(2) as pool:

        def submit(step: int) -> Future[int]:
            submitted.append(step)
            future = pool.submit(make, step)
            future.step = step  # type: ignore[attr-defined]
            return future

        batches = ahead(
            range(0, 8), submit=submit, fetch=lambda f, t: f.result(timeout=t),
            cancel=lambda f: cancelled.append(f.step), timeout_s=30.0, starved=str,
        )  # fmt: skip
        assert next(batches) == 0
        assert submitted == list(range(AHEAD))  # the next steps asked for before they are due
        got = [0]
        with pytest.raises(ValueError, match="segment 4 does not decode"):
            for batch in batches:
                got.append(batch)
    assert got == [0, 10, 20]
    assert submitted == list(range(3 + AHEAD))  # never more than AHEAD waiting
    assert cancelled == list(range(4, 3 + AHEAD))  # what was asked for and not used


def test_a_batch_that_does_not_come_ends_the_wait_naming_what_starved() -> None:
    stalled = threading.Event()
    cancelled: list[int] = []

    def make(step: int) -> str:
        if step == 1:
            stalled.wait(timeout=60)  # a data path that makes no progress
        return f"step {step + 1}"

    with ThreadPoolExecutor(AHEAD) as pool:
        futures: dict[Future[str], int] = {}

        def submit(step: int) -> Future[str]:
            future = pool.submit(make, step)
            futures[future] = step
            return future

        steps = ahead(
            range(0, 10), submit=submit, fetch=lambda f, t: f.result(timeout=t),
            cancel=lambda f: cancelled.append(futures[f]), timeout_s=0.2,
            starved=lambda step: f"no batch for step {step + 1}",
        )  # fmt: skip
        assert next(steps) == "step 1"
        with pytest.raises(RayappError, match="^no batch for step 2$") as starved:
            next(steps)
        stalled.set()
    assert describe(starved.value).exit_code == 1
    assert cancelled == [2, 3]


def test_each_report_is_one_line_of_step_loss_quality_and_data_wait() -> None:
    checkpoint = {"step": 10, "loss": 0.039885, "data_wait_s": 0.30061,
                  "val_psnr": 25.49275, "val_ssim": 0.696811}  # fmt: skip
    assert report_line(checkpoint, 300) == (
        "step 10/300: loss 0.0399, val PSNR 25.49 dB, SSIM 0.6968, data wait 0.301 s"
    )
    start = {"step": 0, "val_psnr": 22.89619, "val_ssim": 0.632249}
    assert report_line(start, 300) == "step 0/300: val PSNR 22.90 dB, SSIM 0.6322"
