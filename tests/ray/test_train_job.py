"""Fine-tuning with Ray Train on frames streamed from generated clips on S3 (moto): the
loss goes down, checkpoints land at the output URI and load as models, validation PSNR
improves on held-out frames, a killed job resumes, and bad inputs are clear."""

from __future__ import annotations

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

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# A 2-CPU cluster: two workers at half a CPU leave a CPU for the decode-and-degrade tasks.
SMALL = {"batch_size": 4, "patch": 32, "segment_s": 0.25, "lr": 5e-4, "seed": 3,
         "cpus_per_worker": 0.5, "data_cpus": 0.5}  # fmt: skip


def clip(uri: str, frames: int = 48) -> str:
    return make_test_video(uri, frames=frames, width=64, height=48, gop=6, texture=True)


def test_two_workers_learn_and_write_a_loadable_checkpoint(ray_local: str, s3_bucket: str) -> None:
    clip(f"{s3_bucket}/footage/a.mp4")
    clip(f"{s3_bucket}/footage/b.mkv")
    storage.write_bytes(f"{s3_bucket}/footage/broken.mp4", b"not a video" * 20)
    config = TrainJobConfig(
        videos=(f"{s3_bucket}/footage/",), output=f"{s3_bucket}/out", steps=50,
        workers=2, checkpoint_every=10, **SMALL,
    )  # fmt: skip
    result = run_training(config)
    assert [Path(u).name for u, _ in result.skipped] == ["broken.mp4"]
    losses = [m["loss"] for m in result.metrics if m.get("loss") is not None]
    assert len(losses) == 5 and losses[-1] < losses[0], losses
    assert result.steps == 50 and result.checkpoint.endswith("/step-50.safetensors")
    assert storage.exists(result.checkpoint)
    up = Upscaler.load(result.checkpoint, device="cpu")
    assert up.scale == 4
    frame = np.zeros((12, 16, 3), np.uint8) + 90
    assert up.upscale(frame).shape == (48, 64, 3)


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


def _job(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.train", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def test_a_killed_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    src = clip(str(tmp_path / "texture.mp4"))
    out = str(tmp_path / "out")
    args = ["--videos", src, "--output", out, "--workers", "1", "--checkpoint-every", "10",
            "--batch-size", "4", "--patch", "32", "--segment-s", "0.25",
            "--cpus-per-worker", "0.5", "--data-cpus", "0.5"]  # fmt: skip
    first = _job(*args, "--steps", "400")
    deadline = time.monotonic() + 240
    while latest_checkpoint(f"{out}/train") is None and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the driver, mid-run
    first.wait(timeout=60)
    # Its local Ray's workers notice the driver is gone within seconds, and may report a
    # checkpoint more before they do: the rerun must start from whatever came last.
    step, stable_since = latest_checkpoint(f"{out}/train")[0], time.monotonic()
    while time.monotonic() - stable_since < 8 and time.monotonic() < deadline + 60:
        time.sleep(0.5)
        now = latest_checkpoint(f"{out}/train")[0]
        if now != step:
            step, stable_since = now, time.monotonic()
    assert 10 <= step < 400 and step % 10 == 0
    second = _job(*args, "--steps", str(step + 10))
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
