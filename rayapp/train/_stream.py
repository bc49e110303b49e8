"""One worker's batches: Ray tasks decode and degrade them a few steps ahead of the
optimiser, and each comes within ``data_timeout_s`` of being asked for, or the job ends.

The bound covers every way the data path can starve: tasks that wait for CPUs the cluster
does not free (Ray waits on resources without end), a decode that hangs. The error names
what the tasks ask for and what the cluster has free.

Plain tasks, not a Ray Data pipeline: a worker consumes its batches one at a time, so Ray
Data's executor would spend most of a run with its output queue full and no task running,
and its scheduling loop then polls without pause, holding the worker's GIL against the
optimiser's (on a loaded machine it slowed training many times over).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from rayapp.errors import StarvedError
from rayapp.train._config import TrainJobConfig
from rayapp.train.data import Clip, batch, step_items

__all__ = ["AHEAD", "ahead", "worker_batches"]

T = TypeVar("T")

# Steps whose batches are asked for before the optimiser needs them: the data path keeps
# this many tasks queued or running, so free CPUs work ahead while a step computes.
AHEAD = 3


def worker_batches(
    config: TrainJobConfig, clips: list[Clip], steps: range, rank: int
) -> Iterator[dict[str, Any]]:
    """Worker ``rank``'s batches of ``steps``, in order (``rayapp.train.data.batch``: ``hr``
    and ``lr``, NHWC uint8), each within ``config.data_timeout_s`` of being asked for
    (``StarvedError`` otherwise); ``config.data_cpus`` is resolved
    (``rayapp.train._resources``). A task's error is raised as the step's."""
    import ray
    from ray.exceptions import RayTaskError

    make = ray.remote(num_cpus=config.data_cpus)(_step_batch)
    shared = ray.put((config, clips))

    def fetch(ref: Any, timeout_s: float) -> dict[str, Any]:
        try:
            return ray.get(ref, timeout=timeout_s)
        except RayTaskError as e:  # the decode's own error, not Ray's wrapping of it
            raise (e.cause if isinstance(e.cause, Exception) else e) from None

    return ahead(
        steps,
        submit=lambda step: make.remote(shared, step, rank),
        fetch=fetch,
        cancel=ray.cancel,
        timeout_s=config.data_timeout_s,
        starved=partial(_starved, config, rank),
    )


def ahead(
    steps: range,
    *,
    submit: Callable[[int], T],
    fetch: Callable[[T, float], Any],
    cancel: Callable[[T], object],
    timeout_s: float,
    starved: Callable[[int], str],
) -> Iterator[Any]:
    """What ``fetch`` gives for each of ``steps``, in order, ``submit``-ted ``AHEAD`` steps
    before it is needed. ``fetch(handle, timeout_s)`` raises ``TimeoutError`` when the
    batch is not there in time: then ``StarvedError(starved(step))``. Handles still pending
    when the iteration ends, fails or is dropped are ``cancel``-led."""
    pending: collections.deque[tuple[int, T]] = collections.deque()
    upcoming = iter(steps)
    try:
        while True:
            while len(pending) < AHEAD and (step := next(upcoming, None)) is not None:
                pending.append((step, submit(step)))
            if not pending:
                return
            step, handle = pending.popleft()
            try:
                batch_ = fetch(handle, timeout_s)
            except TimeoutError:
                raise StarvedError(starved(step)) from None
            yield batch_
    finally:
        for _, handle in pending:
            cancel(handle)


def _step_batch(shared: tuple[TrainJobConfig, list[Clip]], step: int, rank: int) -> dict:
    config, clips = shared
    (item,) = step_items(clips, range(step, step + 1), rank, config.seed)
    return batch(item, batch_size=config.batch_size, patch=config.patch, scale=config.scale,
                 seed=config.seed, degrade_config=config.degrade)  # fmt: skip


def _starved(config: TrainJobConfig, rank: int, step: int) -> str:
    import ray

    free = ray.available_resources().get("CPU", 0.0)
    total = ray.cluster_resources().get("CPU", 0.0)
    return (
        f"the data path gave worker {rank} no batch for step {step + 1} in "
        f"{config.data_timeout_s:g} s (--data-timeout-s): its decode-and-degrade tasks ask "
        f"{config.data_cpus:g} CPU each, and {free:g} of the cluster's {total:g} CPUs are free"
    )
