"""``run_training``, the driver of a run: Ray Train's ``TorchTrainer`` over workers
(``rayapp.train._worker``) that each stream their own batches of ``rayapp.train.data``.

The inputs are planned and checked before any cluster starts; the workers' and the data
tasks' CPUs fit the cluster or the run is refused before any worker starts
(``rayapp.train._resources``). A run started again on the same output resumes from its
latest checkpoint, at its step, with the same data. Nothing waits without end: a batch
that does not come within ``data_timeout_s`` or workers that find no room in
``START_TRIES`` tries end the run, each with one line. The console gets a start line, a
line per report of the first worker (``rayapp.train._progress``) and the result; the rest
stays in Ray's logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from rayapp import storage
from rayapp.errors import ConfigError, StarvedError, describe
from rayapp.train._checkpoint import latest_checkpoint
from rayapp.train._config import TrainJobConfig
from rayapp.train._resources import ClusterCpus

if TYPE_CHECKING:
    from ray.train.torch import TorchTrainer

__all__ = ["TrainResult", "run_training"]

log = logging.getLogger(__name__)

RUN_NAME = "train"

# What a local Ray this job starts (``ensure_ray``: one machine, no dashboard) runs its
# processes with, so that Ray Train's helpers stay quiet there; a cluster's own processes
# are not touched, nor a variable the user set.
_LOCAL_RAY_ENV = {
    # Without a dashboard its placement-group cleaner cannot reach the state API, and warns
    # of that every second: only Ray's errors reach the console.
    "RAY_LOGGER_LEVEL": "error",
    # Its state actor would log a traceback for the same reason every 30 s.
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
    # No node of one machine is preempted; its watcher starts with an error line.
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
}
# Ray Train tries again without end to start workers that find no room on the cluster (each
# try waits RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S, 60 s unless set): after these tries,
# time for an autoscaler to add a node, the run fails saying so.
START_TRIES = 5


@dataclass(frozen=True)
class TrainResult:
    """What a run did: its last step, the checkpoint written then, metrics per report."""

    steps: int
    checkpoint: str | None  # URI of the last step-N.safetensors
    metrics: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resumed_from: int = 0
    elapsed_s: float = 0.0


def run_training(config: TrainJobConfig) -> TrainResult:
    """Train on the cluster this process is connected to (or a local Ray)."""
    import ray.train

    from rayapp.pipeline import ensure_ray
    from rayapp.train._progress import ReportLog
    from rayapp.train._resources import cluster_cpus, train_cpus

    started = time.monotonic()
    clips, held_out, skipped = _plan(config)
    if not ray.is_initialized() and not os.environ.get("RAY_ADDRESS"):
        train_cpus(config, _local_cpus())  # a local Ray gets these: a misfit fails before it
    with _quiet_local_ray():
        ensure_ray()
    cluster = cluster_cpus()
    cpus = train_cpus(config, cluster)  # before any worker starts: a misfit never trains
    config = config.model_copy(
        update={"cpus_per_worker": cpus.per_worker, "data_cpus": cpus.per_data_task}
    )
    root = storage.join(config.output, RUN_NAME)
    latest = latest_checkpoint(root)
    log.info(_start_line(config, cluster.total, len(clips), latest[0] if latest else 0, root))
    reports = ReportLog(config.steps)
    try:
        result = _trainer(config, clips, held_out, latest, reports.queue).fit()
    except ray.train.TrainingFailedError as e:
        _raise_failure(e, config)
    finally:
        reports.close()
    done = latest_checkpoint(root)
    return TrainResult(
        steps=done[0] if done else 0,
        checkpoint=done[2] if done else None,
        metrics=list(result.return_value or []),
        skipped=skipped,
        resumed_from=latest[0] if latest else 0,
        elapsed_s=time.monotonic() - started,
    )


def _local_cpus() -> ClusterCpus:
    """The CPUs the local Ray that ``ensure_ray`` would start gets: this machine's, or what
    ``RAY_OVERRIDE_RESOURCES`` sets."""
    override = json.loads(os.environ.get("RAY_OVERRIDE_RESOURCES") or "{}").get("CPU")
    cpus = float(override if override is not None else os.cpu_count() or 1)
    return ClusterCpus(cpus, cpus)


def _plan(config: TrainJobConfig) -> tuple[list, list, list[tuple[str, str]]]:
    """(training clips, held-out clips, skipped videos): a bad option or input fails here,
    before any cluster starts. Planned once (probing reads every packet): workers get it."""
    from rayapp.models import resolve
    from rayapp.train.data import find_videos, plan_clips

    spec = resolve(config.model).spec
    if spec is not None and spec.scale != config.scale:
        raise ConfigError(f"{config.model} upscales x{spec.scale}, not x{config.scale}")
    storage.check_scheme(config.output)
    if config.num_gpus_per_worker == 0 and config.precision == "fp16":
        raise ConfigError("fp16 training is for CUDA; on CPU use fp32 or bf16")
    if config.perceptual_weight:  # its weights are read before any cluster starts
        from rayapp.train.perceptual import PerceptualLoss

        PerceptualLoss(config.perceptual_weights)
    clips, skipped = plan_clips(
        find_videos(config.videos), patch=config.patch, segment_s=config.segment_s,
        hold_out=not config.val_videos,
    )  # fmt: skip
    return clips, _held_out_clips(config) if config.val_videos else clips, skipped


def _trainer(
    config: TrainJobConfig, clips: list, held_out: list, latest: Any, reports: Any
) -> TorchTrainer:
    """The ``TorchTrainer`` of the run: ``config``'s CPUs resolved, ``latest`` checkpoint
    (``latest_checkpoint``) to resume from, ``reports`` the driver's queue."""
    import pyarrow.fs
    import ray.train
    from ray.train.torch import TorchTrainer

    from rayapp.train._worker import train_worker

    root = storage.join(config.output, RUN_NAME)
    fs, path = storage.filesystem(config.output)
    gpus = {"GPU": config.num_gpus_per_worker} if config.num_gpus_per_worker else {}
    return TorchTrainer(
        train_worker,
        # Where to resume from: Ray Train 2's resume_from_checkpoint is deprecated; the
        # worker reads the folder itself (or Ray's own checkpoint of this run, if it has one).
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "clips": clips,
            "held_out": held_out,
            "resume": storage.join(root, latest[1].rsplit("/", 1)[1]) if latest else None,
            "reports": reports,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.workers, use_gpu=bool(gpus),
            resources_per_worker={"CPU": config.cpus_per_worker, **gpus},
        ),
        run_config=ray.train.RunConfig(
            name=RUN_NAME, storage_path=path,
            storage_filesystem=pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs)),
            failure_config=ray.train.FailureConfig(controller_failure_limit=START_TRIES - 1),
            # Ray Train's own lines (workers started, each report) stay in its log files.
            logging_config=ray.train.LoggingConfig(log_level="ERROR"),
        ),
    )  # fmt: skip


def _start_line(
    config: TrainJobConfig, cluster_cpus: float, videos: int, resumed: int, root: str
) -> str:
    gpus = f" + {config.num_gpus_per_worker:g} GPU" if config.num_gpus_per_worker else ""
    return (
        f"training {config.model} x{config.scale} {f'from step {resumed} ' if resumed else ''}"
        f"to step {config.steps} on {videos} video(s): {config.workers} worker(s) of "
        f"{config.cpus_per_worker:g} CPU{gpus} and data tasks of {config.data_cpus:g} CPU, of "
        f"the cluster's {cluster_cpus:g} CPUs; checkpoints under {root}"
    )


@contextlib.contextmanager
def _quiet_local_ray() -> Iterator[None]:
    """``_LOCAL_RAY_ENV`` in this process's environment while a local Ray may start."""
    added = {k: v for k, v in _LOCAL_RAY_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _raise_failure(error: Exception, config: TrainJobConfig) -> NoReturn:
    """Raise what a user should read of a failed run: the rayapp error a worker raised (its
    data path starved, a segment that did not decode), workers that never started, else Ray
    Train's own error."""
    import ray

    from rayapp.pipeline.cluster.ray_internals import train_start_failures

    failures = getattr(error, "worker_failures", {})  # a ray.train.WorkerGroupError's
    for rank in sorted(failures):
        if describe(failures[rank]) is not None:
            raise failures[rank] from error
    cause = getattr(error, "controller_failure", None)  # a ray.train.ControllerError's
    if isinstance(cause, train_start_failures()):
        free = ray.available_resources().get("CPU", 0.0)
        total = ray.cluster_resources().get("CPU", 0.0)
        raise StarvedError(
            f"the workers ({config.workers} x {config.cpus_per_worker:g} CPU) found no room on "
            f"the cluster in {START_TRIES} tries ({str(cause).split('. ')[0]}); {free:g} of its "
            f"{total:g} CPUs are free"
        ) from error
    raise error


def _held_out_clips(config: TrainJobConfig) -> list:
    from rayapp.train.data import Clip, find_videos, plan_clips

    clips, _ = plan_clips(
        find_videos(config.val_videos), patch=config.patch, segment_s=config.segment_s,
        hold_out=False,
    )  # fmt: skip
    return [Clip(c.uri, (), c.train) for c in clips]
