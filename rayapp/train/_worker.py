"""What each Ray Train worker runs: its DDP replica of the model trained with AdamW on the L1
loss (and the optional perceptual term) over its own stream of batches
(``rayapp.train._stream``). Every ``checkpoint_every`` steps the first worker measures
PSNR/SSIM on the held-out frames (``rayapp.quality``), reports a checkpoint through Ray
Train (``rayapp.train._checkpoint``) and puts its metrics on the driver's queue
(``rayapp.train._progress``). Model input: NCHW float in [0, 1]."""

from __future__ import annotations

import logging
import tempfile
import time
from typing import Any

import numpy as np

from rayapp.errors import ConfigError
from rayapp.train._checkpoint import fetch_checkpoint, read_checkpoint, write_checkpoint
from rayapp.train._config import TrainJobConfig

__all__ = ["train_precision", "train_worker"]

log = logging.getLogger(__name__)


def train_worker(loop_config: dict) -> list[dict[str, Any]]:
    """One worker's run. ``loop_config``: the run's config (its CPUs resolved), the clips and
    held-out clips, the checkpoint folder to resume from (or None) and the driver's report
    queue. Returns what the worker reported: on rank 0, the run's metrics."""
    import ray.train
    import ray.train.torch
    import torch
    import torch.nn.functional as F

    from rayapp.models import load_model
    from rayapp.train._stream import worker_batches
    from rayapp.train.data import validation_frames

    _quiet_console()
    config = TrainJobConfig.model_validate(loop_config["config"])
    reports = loop_config["reports"]  # rank 0's metrics, for the driver's lines
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.manual_seed(config.seed)
    model = load_model(config.model).model.float()
    optimizer_state, start = None, 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start, weights, optimizer_state = read_checkpoint(folder)
    elif loop_config.get("resume"):
        start, weights, optimizer_state = fetch_checkpoint(loop_config["resume"])
    if start:
        model.load_state_dict(weights)
        log.info("resumed from step %d", start)
    model = ray.train.torch.prepare_model(model)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    clips = loop_config["clips"]
    validation = []
    if rank == 0:
        validation = validation_frames(
            loop_config["held_out"], config.val_frames, config.scale, config.seed,
            config.degrade,
        )  # fmt: skip
    history: list[dict[str, Any]] = []  # what rank 0 reported: the run's return value
    if start == 0:  # the starting model's score; every worker reports (a barrier)
        history.append({"step": 0, **(_validate(model, validation) if rank == 0 else {})})
        ray.train.report(history[-1])
        if rank == 0:
            reports.put(history[-1])
    device = ray.train.torch.get_device()
    precision = train_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if rank == 0:
        log.info("training on %s in %s", device, precision)
    perceptual = None
    if config.perceptual_weight:
        from rayapp.train.perceptual import PerceptualLoss

        perceptual = PerceptualLoss(config.perceptual_weights).to(device)
    losses: list[float] = []  # since the last report
    waits: list[float] = []  # seconds each step waited for its batch
    batches = worker_batches(config, clips, range(start, config.steps), rank)
    while True:
        asked = time.perf_counter()
        row = next(batches, None)
        if row is None:
            break
        waits.append(time.perf_counter() - asked)
        step = int(row["step"]) + 1
        model.train()
        hr = _tensor(row["hr"], device)
        with _autocast(device, precision):
            out = model(_tensor(row["lr"], device)).float()
            loss = F.l1_loss(out, hr)
            if perceptual is not None:
                loss = loss + config.perceptual_weight * perceptual(out, hr)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(float(loss.detach()))
        if step % config.checkpoint_every and step != config.steps:
            continue
        metrics = {"step": step, "loss": float(np.mean(losses)),
                   "data_wait_s": float(np.mean(waits))}  # fmt: skip
        losses.clear()
        waits.clear()
        if rank == 0:
            metrics |= _validate(model, validation)
            with tempfile.TemporaryDirectory() as folder:
                write_checkpoint(folder, step, model, optimizer, config, metrics)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
            reports.put(metrics)
        else:
            ray.train.report(metrics)
        history.append(metrics)
    return history


def train_precision(precision: str, device: Any) -> str:
    """The precision a training step runs in: ``precision`` checked, or for ``auto`` bf16 on
    a GPU that has it, fp16 (with loss scaling) on one that does not, fp32 on CPU. Unlike
    inference (``rayapp.hardware``), auto stays fp32 on CPU: a bf16 CPU speeds up inference,
    but training there is not where the time goes."""
    import torch

    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 training is for CUDA; on CPU use fp32 or bf16")
    return precision


def _autocast(device: Any, precision: str):  # noqa: ANN202 - a context manager
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _quiet_console() -> None:
    """This worker's console (the driver's, through Ray) shows warnings only: its INFO lines
    (the model loading, Ray Data starting) stay in Ray's log files."""

    for name in ("", "ray.data"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                handler.setLevel(logging.WARNING)


def _tensor(images: np.ndarray, device: Any):  # noqa: ANN202 - a torch tensor
    import torch

    # A copy torch may own: Ray Data's rows are read-only views of its blocks.
    x = torch.from_numpy(np.array(images, order="C")).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def _validate(model: Any, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean PSNR/SSIM (RGB, ``rayapp.quality``) of the model on the held-out pairs."""
    import torch

    from rayapp import quality

    net = getattr(model, "module", model)  # DDP's wrapped model
    net.eval()
    psnr, ssim = [], []
    device = next(net.parameters()).device
    with torch.inference_mode():
        for hr, lr in pairs:
            y = net(_tensor(lr[None], device)).clamp(0, 1)
            out = (y * 255).round().permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()[0]
            psnr.append(float(quality.psnr(out, hr)[0]))
            ssim.append(float(quality.ssim(out, hr)[0]))
    return {"val_psnr": float(np.mean(psnr)), "val_ssim": float(np.mean(ssim))}
