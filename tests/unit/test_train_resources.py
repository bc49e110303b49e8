"""The CPUs of a training run fit the cluster it lands on: the derived split leaves every
worker's data path room for a task beside it, a given value is kept and the other fitted
to it, and a request that cannot fit is refused in one message that names flags that do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.train import parse_args
from rayapp.errors import ConfigError
from rayapp.testing import make_test_video
from rayapp.train import TrainJobConfig
from rayapp.train._resources import ClusterCpus, TrainCpus, train_cpus

ROOT = Path(__file__).resolve().parents[2]

TWO = ClusterCpus(total=2.0, largest_node=2.0)


def config(**flags: object) -> TrainJobConfig:
    return TrainJobConfig(videos=("a.mp4",), output="out", **flags)


@pytest.mark.parametrize(
    ("workers", "per_worker", "per_task"),
    [(1, 1.0, 1.0), (2, 0.5, 0.5), (3, 0.3333, 0.3333), (4, 0.25, 0.25)],
)
def test_two_cpus_are_split_between_the_workers_and_their_data_tasks(
    workers: int, per_worker: float, per_task: float
) -> None:
    cpus = train_cpus(config(workers=workers), TWO)
    assert cpus == TrainCpus(per_worker, per_task)
    assert workers * (cpus.per_worker + cpus.per_data_task) <= TWO.total


@pytest.mark.parametrize(
    ("cluster", "flags", "cpus"),
    [
        (ClusterCpus(16, 16), {"workers": 2}, TrainCpus(4.0, 1.0)),
        (ClusterCpus(16, 16), {"workers": 1, "num_gpus_per_worker": 1}, TrainCpus(1.0, 1.0)),
        (ClusterCpus(64, 8), {"workers": 2}, TrainCpus(8.0, 1.0)),  # no node has more than 8
        (TWO, {"workers": 2, "cpus_per_worker": 0.5}, TrainCpus(0.5, 0.5)),
        (TWO, {"workers": 2, "data_cpus": 1}, TrainCpus(0.5, 1.0)),
        (TWO, {"workers": 2, "cpus_per_worker": 0.5, "data_cpus": 1}, TrainCpus(0.5, 1.0)),
    ],
)
def test_bigger_clusters_gpu_workers_and_given_values(
    cluster: ClusterCpus, flags: dict, cpus: TrainCpus
) -> None:
    assert train_cpus(config(**flags), cluster) == cpus


def test_workers_that_leave_the_data_path_nothing_are_refused_naming_flags_that_fit() -> None:
    with pytest.raises(ConfigError) as refused:
        train_cpus(config(workers=4, cpus_per_worker=1), TWO)
    assert str(refused.value) == (
        "--workers 4 --cpus-per-worker 1 cannot train on this cluster: the workers (4 x 1 CPU) "
        "hold 4 of its 2 CPUs, leaving the data path 0: no batch would ever come; these fit: "
        "--workers 4 --cpus-per-worker 0.25 --data-cpus 0.25 or "
        "--workers 1 --cpus-per-worker 1 --data-cpus 1"
    )


@pytest.mark.parametrize(
    ("flags", "why"),
    [
        ({"workers": 2, "cpus_per_worker": 1}, r"the workers \(2 x 1 CPU\) hold 2 of its 2 CPUs"),
        ({"workers": 1, "cpus_per_worker": 1, "data_cpus": 1.5}, r"\(a data task needs 1.5\)"),
        ({"workers": 1, "data_cpus": 3}, r"a data task of 3 CPUs fits on no node \(the largest"),
        ({"workers": 1, "cpus_per_worker": 4}, r"a worker of 4 CPUs fits on no node"),
    ],
)
def test_each_flag_suggested_for_a_refused_request_fits(flags: dict, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as refused:
        train_cpus(config(**flags), TWO)
    suggestions = str(refused.value).split("these fit: ")[1].split(" or ")
    for flags_that_fit in suggestions:
        argv = ["--videos", "a.mp4", "--output", "out", *flags_that_fit.split()]
        fitted = parse_args(argv)
        cpus = train_cpus(fitted, TWO)
        assert (cpus.per_worker, cpus.per_data_task) == (fitted.cpus_per_worker, fitted.data_cpus)


def test_a_cluster_without_cpus_trains_nothing() -> None:
    with pytest.raises(ConfigError, match="its 0 CPUs cannot hold a worker and a data task$"):
        train_cpus(config(workers=1), ClusterCpus(0.0, 0.0))


REFUSED = """
import sys
from jobs import train
code = train.main({argv!r})
import ray
print(ray.is_initialized())
sys.exit(code)
"""


def test_on_a_local_ray_a_request_that_cannot_fit_is_refused_before_ray_starts(
    tmp_path: Path,
) -> None:
    src = make_test_video(str(tmp_path / "in.mp4"), frames=24, width=64, height=48, gop=6)
    argv = ["--videos", src, "--output", str(tmp_path / "out"), "--patch", "32",
            "--segment-s", "0.25", "--workers", "4", "--cpus-per-worker", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_OVERRIDE_RESOURCES"] = '{"CPU": 2}'
    r = subprocess.run(
        [sys.executable, "-c", REFUSED.format(argv=argv)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (2, "False\n"), r.stderr
    assert r.stderr.strip().splitlines() == [
        "train: error: --workers 4 --cpus-per-worker 1 cannot train on this cluster: the "
        "workers (4 x 1 CPU) hold 4 of its 2 CPUs, leaving the data path 0: no batch would "
        "ever come; these fit: --workers 4 --cpus-per-worker 0.25 --data-cpus 0.25 or "
        "--workers 1 --cpus-per-worker 1 --data-cpus 1"
    ]
    assert not (tmp_path / "out").exists()
