"""Fine-tuning with Ray Train on frames streamed from generated clips (on S3, moto, for
two workers): checkpoints land at the output URI and load as models, validation PSNR
improves on held-out frames, a killed job resumes, and bad inputs are clear. Training never
hangs: the CPUs not given fit the cluster, a request that cannot fit is refused before any
worker starts, and a starved data path ends the job, each in one line."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jobs import train
from rayapp import storage
from rayapp.testing import make_test_video
from rayapp.train import TrainJobConfig, latest_checkpoint, run_training
from rayapp.upscaler import Upscaler
from tests.waiting import wait_until

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# Small steps on a 2-CPU cluster: a worker and its decode-and-degrade tasks at half a CPU each.
SMALL = {"batch_size": 4, "patch": 32, "segment_s": 0.25, "lr": 5e-4, "seed": 3,
         "cpus_per_worker": 0.5, "data_cpus": 0.5}  # fmt: skip


def clip(uri: str, frames: int = 48) -> str:
    return make_test_video(uri, frames=frames, width=64, height=48, gop=6, texture=True)


def test_fine_tuning_beats_the_starting_model_on_held_out_frames(
    ray_local: str, tmp_path: Path
) -> None:
    src = clip(str(tmp_path / "texture.mp4"), frames=60)
    config = TrainJobConfig(
        videos=(src,), output=str(tmp_path / "out"), steps=150, workers=1,
        checkpoint_every=75, **SMALL,
    )  # fmt: skip
    result = run_training(config)
    scores = {m["step"]: m["val_psnr"] for m in result.metrics if "val_psnr" in m}
    assert sorted(scores) == [0, 75, 150]
    assert scores[150] > scores[0] + 0.5, scores


def test_rrdbnet_trains_in_bf16_autocast_and_keeps_its_architecture(
    ray_local: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """realesrgan-x4plus (RRDBNet, 16.7 M parameters): a few steps with autocast and the
    perceptual term (a random VGG19: ImageNet's cannot be downloaded here), the checkpoint
    loads back as the same architecture with the official key names."""
    import torchvision
    from safetensors.torch import load_file, save_file

    from rayapp.models import load_model

    src = clip(str(tmp_path / "texture.mp4"), frames=24)
    vgg = str(tmp_path / "vgg19.safetensors")
    features = torchvision.models.vgg19(weights=None).features.state_dict()
    save_file({f"features.{k}": v for k, v in features.items()}, vgg)
    config = TrainJobConfig(
        videos=(src,), output=str(tmp_path / "out"), model="realesrgan-x4plus", steps=4,
        checkpoint_every=2, precision="bf16", perceptual_weight=0.1, perceptual_weights=vgg,
        **(SMALL | {"batch_size": 2}),
    )  # fmt: skip
    result = run_training(config)
    reports = [m for m in result.metrics if "loss" in m]
    assert [m["step"] for m in reports] == [2, 4]
    assert all(np.isfinite(m["loss"]) and m["data_wait_s"] >= 0 for m in reports), reports
    start = load_model("realesrgan-x4plus").model.state_dict()
    tuned = load_file(result.checkpoint.removeprefix("file://"))
    assert sorted(tuned) == sorted(start)
    assert any(not np.array_equal(tuned[k].numpy(), start[k].numpy()) for k in start)
    assert type(load_model(result.checkpoint).model).__name__ == "RRDBNet"
    assert Upscaler.load(result.checkpoint, device="cpu").scale == 4


def _job(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | (env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.train", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def test_a_killed_job_resumes_from_its_checkpoint(ray_local: str, tmp_path: Path) -> None:
    """Both runs join the tests' Ray: the driver's death ends its workers there too."""
    src = clip(str(tmp_path / "texture.mp4"))
    out = str(tmp_path / "out")
    args = ["--videos", src, "--output", out, "--workers", "1", "--checkpoint-every", "10",
            "--batch-size", "4", "--patch", "32", "--segment-s", "0.25",
            "--cpus-per-worker", "0.5", "--data-cpus", "0.5"]  # fmt: skip
    on_ray = {"RAY_ADDRESS": ray_local}
    first = _job(*args, "--steps", "400", env=on_ray)

    def checkpointed() -> tuple[int, str, str] | None:
        assert first.poll() is None, first.communicate()
        return latest_checkpoint(f"{out}/train")

    try:
        wait_until(checkpointed, 240, "the job's first checkpoint")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)  # the driver, mid-run
        first.wait(timeout=60)
    # The workers notice their driver is gone within seconds, and may report a
    # checkpoint more before they do: the rerun must start from whatever came last.
    last = {"step": latest_checkpoint(f"{out}/train")[0], "since": time.monotonic()}

    def quiet_step() -> int | None:
        """The last checkpoint's step, once none has come for 8 s."""
        now = latest_checkpoint(f"{out}/train")[0]
        if now != last["step"]:
            last.update(step=now, since=time.monotonic())
        return now if time.monotonic() - last["since"] >= 8 else None

    step = wait_until(quiet_step, 120, "8 s without a new checkpoint", state=lambda: last)
    assert 10 <= step < 400 and step % 10 == 0
    second = _job(*args, "--steps", str(step + 10), env=on_ray)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    assert f"to step {step + 10} (from {step})" in stdout, stdout
    assert latest_checkpoint(f"{out}/train")[0] == step + 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--videos", "{tmp}/nothing-here"], "No video at .*nothing-here"),
        (["--videos", "{tmp}/small.mp4", "--patch", "64"],
         r"No usable training video \(small.mp4: its 64x48 frames are smaller than the 64x64"),
        (["--videos", "{tmp}/small.mp4", "--patch", "30"], "patch 30 is not a multiple of"),
        (["--videos", "{tmp}/small.mp4", "--scale", "2"], "upscales x4, not x2"),
        (["--videos", "{tmp}/small.mp4", "--precision", "fp16"], "fp16 training is for CUDA"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip(str(tmp_path / "small.mp4"), frames=12)
    argv = [a.format(tmp=tmp_path) for a in args] + ["--output", str(tmp_path / "out")]
    assert train.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


def test_the_help_example_trains_two_workers_on_two_cpus_into_a_loadable_checkpoint(
    s3_bucket: str,
) -> None:
    """``--workers 2`` as ``--help`` shows it, no CPU flag, on a local Ray of 2 CPUs, from
    an S3 prefix with a broken file: the workers' and the data tasks' CPUs are halves of
    what is there, the broken file is skipped and named, every step is made, the output is
    the start line, a line per report and the result (it was a hang, and with CPU flags
    20,012 lines), and the last checkpoint, on S3, loads as an x4 model."""
    clip(f"{s3_bucket}/footage/a.mp4")
    clip(f"{s3_bucket}/footage/b.mkv")
    storage.write_bytes(f"{s3_bucket}/footage/broken.mp4", b"not a video" * 20)
    out = f"{s3_bucket}/out"
    job = _job(
        "--videos", f"{s3_bucket}/footage/", "--model", "realesr-animevideov3", "--scale", "4",
        "--steps", "20", "--workers", "2", "--output", f"{out}/", "--checkpoint-every", "10",
        "--batch-size", "4", "--patch", "32", "--segment-s", "0.25",
        env={"RAY_OVERRIDE_RESOURCES": json.dumps({"CPU": 2})},  # whatever this machine has
    )  # fmt: skip
    try:
        stdout, stderr = job.communicate(timeout=400)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    lines = (stdout + stderr).splitlines()
    assert job.returncode == 0, stdout + stderr
    assert len(lines) < 50, lines
    assert any("2 worker(s) of 0.5 CPU and data tasks of 0.5 CPU, of the cluster's 2 CPUs"
               in line for line in lines), lines  # fmt: skip
    skipped = [line.split(": ")[1] for line in lines if line.startswith("skipped: ")]
    assert skipped == [f"{s3_bucket}/footage/broken.mp4"], lines
    reports = [int(m.group(1)) for line in lines if (m := re.search(r" step (\d+)/20: ", line))]
    assert reports == [0, 10, 20], lines
    assert "to step 20 (from 0)" in stdout
    step, _, checkpoint = latest_checkpoint(f"{out}/train")
    assert step == 20 and checkpoint.endswith("/step-20.safetensors")
    up = Upscaler.load(checkpoint, device="cpu")
    assert up.scale == 4
    frame = np.zeros((12, 16, 3), np.uint8) + 90
    assert up.upscale(frame).shape == (48, 64, 3)


def test_workers_that_leave_the_data_path_no_cpu_are_refused_before_training(
    ray_local: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = clip(str(tmp_path / "texture.mp4"))
    out = tmp_path / "out"
    argv = ["--videos", src, "--output", str(out), "--patch", "32",
            "--workers", "4", "--cpus-per-worker", "1"]  # fmt: skip
    assert train.main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "train: error: --workers 4 --cpus-per-worker 1 cannot train on this cluster: the "
        "workers (4 x 1 CPU) hold 4 of its 2 CPUs, leaving the data path 0: no batch would "
        "ever come; these fit: --workers 4 --cpus-per-worker 0.25 --data-cpus 0.25 or "
        "--workers 1 --cpus-per-worker 1 --data-cpus 1"
    ]
    assert not out.exists()


class _Hog:
    """Another job's actor, holding a CPU for as long as it lives."""

    def ready(self) -> bool:
        return True


def test_a_starved_data_path_ends_the_job_in_one_line(
    ray_local: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another job holds the CPU the data tasks would run on: the first batch never comes,
    and after --data-timeout-s the job ends (exit 1) saying what starved."""
    import ray

    src = clip(str(tmp_path / "texture.mp4"))
    hog = ray.remote(num_cpus=1)(_Hog).remote()
    ray.get(hog.ready.remote(), timeout=120)
    argv = ["--videos", src, "--output", str(tmp_path / "out"), "--workers", "1",
            "--batch-size", "4", "--patch", "32", "--segment-s", "0.25",
            "--data-timeout-s", "5"]  # fmt: skip
    try:
        assert train.main(argv) == 1
    finally:
        ray.kill(hog)
    assert capsys.readouterr().err.strip().splitlines() == [
        "train: error: the data path gave worker 0 no batch for step 1 in 5 s "
        "(--data-timeout-s): its decode-and-degrade tasks ask 1 CPU each, and 0 of the "
        "cluster's 2 CPUs are free"
    ]
