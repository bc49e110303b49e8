"""One worker's batches: Ray Data tasks decode and degrade them a few steps ahead of the
optimiser, and each comes within ``data_timeout_s`` of being asked for, or the job ends.

The bound covers every way the data path can starve: tasks that wait for CPUs the cluster
does not free (Ray Data waits on resources without end), a decode that hangs, an executor
that stalls. The error names what the tasks ask for and what the cluster has free.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from rayapp.errors import StarvedError
from rayapp.train._config import TrainJobConfig
from rayapp.train.data import Clip, batch, step_items

__all__ = ["worker_batches"]


def worker_batches(
    config: TrainJobConfig, clips: list[Clip], steps: range, rank: int
) -> Iterator[dict[str, Any]]:
    """Worker ``rank``'s batches of ``steps``, in order (``rayapp.train.data.batch``: ``hr``
    and ``lr``, NHWC uint8), each within ``config.data_timeout_s``; ``config.data_cpus`` is
    resolved (``rayapp.train._resources``)."""
    import ray.data

    if not steps:
        return iter(())
    context = ray.data.DataContext.get_current()
    # No bars redrawn from every worker: with no terminal, Ray Data logs its progress to
    # ray-data.log instead (turning bars off would make it warn of that on the console).
    context.use_ray_tqdm = False
    context.print_on_execution_start = False
    # Rows carry the step's offset only: a Segment does not convert to Arrow (Ray Data would
    # pickle it, and say so); each task draws its item from the plan, as step_items does.
    ds = ray.data.range(len(steps), override_num_blocks=len(steps)).map(
        partial(_step_batch, config=config, clips=clips, first=steps.start, rank=rank),
        num_cpus=config.data_cpus,
    )
    ds.context.execution_options.preserve_order = True
    starved = partial(_starved, config, rank, steps.start)
    return _within(ds.iter_rows(), config.data_timeout_s, starved)


def _step_batch(
    row: dict[str, Any], *, config: TrainJobConfig, clips: list[Clip], first: int, rank: int
) -> dict[str, Any]:
    step = first + int(row["id"])
    (item,) = step_items(clips, range(step, step + 1), rank, config.seed)
    return batch(item, batch_size=config.batch_size, patch=config.patch, scale=config.scale,
                 seed=config.seed, degrade_config=config.degrade)  # fmt: skip


def _starved(config: TrainJobConfig, rank: int, first: int, index: int) -> str:
    import ray

    free = ray.available_resources().get("CPU", 0.0)
    total = ray.cluster_resources().get("CPU", 0.0)
    return (
        f"the data path gave worker {rank} no batch for step {first + index + 1} in "
        f"{config.data_timeout_s:g} s (--data-timeout-s): its decode-and-degrade tasks ask "
        f"{config.data_cpus:g} CPU each, and {free:g} of the cluster's {total:g} CPUs are free"
    )


@dataclass(frozen=True)
class _Failed:
    error: Exception


_END = object()


def _within(items: Iterator[Any], timeout_s: float, starved: Callable[[int], str]) -> Iterator[Any]:
    """``items``, pulled ahead by a thread; ``StarvedError(starved(n))`` when item ``n`` comes
    more than ``timeout_s`` after it was asked for. An error of ``items`` is raised here."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)

    def pull() -> None:
        try:
            for item in items:
                ready.put(item)
        except Exception as e:  # noqa: BLE001 - handed over, raised by the consumer
            ready.put(_Failed(e))
        ready.put(_END)

    # A daemon: after a starved wait it may hang in Ray Data for good; the worker ends anyway.
    threading.Thread(target=pull, name="train-batches", daemon=True).start()
    for index in itertools.count():
        try:
            item = ready.get(timeout=timeout_s)
        except queue.Empty:
            # The nearest class rayapp.errors has (exit 1) until it has one for a starved path.
            raise StarvedError(starved(index)) from None
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item
