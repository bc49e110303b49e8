"""``run_training``: Ray Train's ``TorchTrainer`` over the batches of ``rayapp.train.data``.

Each worker builds its own stream of batches (a Ray Data pipeline of decode-and-degrade
tasks, in step order) and trains its DDP replica of the model with AdamW on the L1 loss.
Every ``checkpoint_every`` steps the first worker measures PSNR/SSIM on the held-out frames
(``rayapp.quality``) and reports a checkpoint through Ray Train: ``step-N.safetensors`` (the
model's own key names: it loads wherever a model path is taken), ``step-N.json`` (step,
config, metrics) and ``step-N.optim.safetensors`` (AdamW's moments). A run started again on
the same output resumes from its latest checkpoint, at its step, with the same data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.errors import ConfigError
from rayapp.train._config import TrainJobConfig

__all__ = ["TrainResult", "run_training"]

log = logging.getLogger(__name__)

RUN_NAME = "train"
_STEP = re.compile(r"step-(\d+)\.json$")


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
    from ray.train.torch import TorchTrainer

    from rayapp.models import resolve
    from rayapp.pipeline._cluster import ensure_ray
    from rayapp.train.data import find_videos, plan_clips

    started = time.monotonic()
    spec = resolve(config.model).spec
    if spec is not None and spec.scale != config.scale:
        raise ConfigError(f"{config.model} upscales x{spec.scale}, not x{config.scale}")
    storage.check_scheme(config.output)
    if config.num_gpus_per_worker == 0 and config.precision == "fp16":
        raise ConfigError("fp16 training is for CUDA; on CPU use fp32 or bf16")
    if config.perceptual_weight:  # its weights are read before any cluster starts
        from rayapp.train.perceptual import PerceptualLoss

        PerceptualLoss(config.perceptual_weights)
    # Planned once, here (probing reads every packet): the workers get the plan. A bad
    # input fails before any cluster starts.
    clips, skipped = plan_clips(
        find_videos(config.videos), patch=config.patch, segment_s=config.segment_s,
        hold_out=not config.val_videos,
    )  # fmt: skip
    held_out = _held_out_clips(config) if config.val_videos else clips
    ensure_ray()
    root = storage.join(config.output, RUN_NAME)
    latest = latest_checkpoint(root)
    fs, path = storage.filesystem(config.output)
    import pyarrow.fs

    pa_fs = pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(fs))
    trainer = TorchTrainer(
        _train_worker,
        # Where to resume from: Ray Train 2's resume_from_checkpoint is deprecated; the
        # worker reads the folder itself (or Ray's own checkpoint of this run, if it has one).
        train_loop_config={
            "config": config.model_dump(mode="json"),
            "clips": clips,
            "held_out": held_out,
            "resume": storage.join(root, latest[1].rsplit("/", 1)[1]) if latest else None,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.num_gpus_per_worker > 0,
            resources_per_worker={
                "CPU": config.cpus_per_worker,
                **({"GPU": config.num_gpus_per_worker} if config.num_gpus_per_worker else {}),
            },
        ),
        run_config=ray.train.RunConfig(name=RUN_NAME, storage_path=path, storage_filesystem=pa_fs),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    done = latest_checkpoint(root)
    return TrainResult(
        steps=done[0] if done else 0,
        checkpoint=done[2] if done else None,
        metrics=list(result.return_value or []),
        skipped=skipped,
        resumed_from=latest[0] if latest else 0,
        elapsed_s=time.monotonic() - started,
    )


def latest_checkpoint(root: str) -> tuple[int, str, str] | None:
    """(step, the checkpoint folder's path in its filesystem, its .safetensors URI) of the
    highest step reported under ``root``, or None."""
    fs, path = storage.filesystem(root)
    try:
        found = fs.glob(f"{path.rstrip('/')}/checkpoint_*/step-*.json")
    except FileNotFoundError:
        return None
    best = max(((int(m.group(1)), p) for p in found if (m := _STEP.search(p))), default=None)
    if best is None:
        return None
    step, json_path = best
    folder = json_path.rsplit("/", 1)[0]
    uri = storage.join(root, folder.rsplit("/", 1)[1], f"step-{step}.safetensors")
    return step, folder, uri


def _train_worker(loop_config: dict) -> list[dict[str, Any]]:  # in each Ray Train worker
    import ray.train
    import ray.train.torch
    import torch
    import torch.nn.functional as F

    from rayapp.models import load_model
    from rayapp.train.data import validation_frames

    config = TrainJobConfig.model_validate(loop_config["config"])
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.manual_seed(config.seed)
    model = load_model(config.model).model.float()
    optimizer_state, start = None, 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start, weights, optimizer_state = _read_checkpoint(folder)
    elif loop_config.get("resume"):
        with tempfile.TemporaryDirectory() as folder:
            for name in storage.list_names(loop_config["resume"]):
                data = storage.read_bytes(storage.join(loop_config["resume"], name))
                with open(os.path.join(folder, name), "wb") as f:
                    f.write(data)
            start, weights, optimizer_state = _read_checkpoint(folder)
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
    batches = iter(_batches(config, clips, range(start, config.steps), rank))
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
                _write_checkpoint(folder, step, model, optimizer, config, metrics)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
        else:
            ray.train.report(metrics)
        history.append(metrics)
        log.info("step %d/%d: %s", step, config.steps, metrics)
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


def _held_out_clips(config: TrainJobConfig) -> list:
    from rayapp.train.data import Clip, find_videos, plan_clips

    clips, _ = plan_clips(
        find_videos(config.val_videos), patch=config.patch, segment_s=config.segment_s,
        hold_out=False,
    )  # fmt: skip
    return [Clip(c.uri, (), c.train) for c in clips]


def _batches(config: TrainJobConfig, clips: list, steps: range, rank: int):  # noqa: ANN202
    """This worker's batches for ``steps``, in order, decoded and degraded by Ray Data tasks
    a few steps ahead of the optimiser."""
    import ray.data

    from rayapp.train.data import batch, step_items

    items = step_items(clips, steps, rank, config.seed)
    if not items:
        return iter(())
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map(
        partial(batch, batch_size=config.batch_size, patch=config.patch, scale=config.scale,
                seed=config.seed, degrade_config=config.degrade),
        num_cpus=config.data_cpus,
    )  # fmt: skip
    ds.context.execution_options.preserve_order = True
    return ds.iter_rows()


def _tensor(images: np.ndarray, device: Any):  # noqa: ANN202 - a torch tensor
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
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


def _write_checkpoint(
    folder: str, step: int, model: Any, optimizer: Any, config: TrainJobConfig, metrics: dict
) -> None:
    from safetensors.torch import save_file

    net = getattr(model, "module", model)
    weights = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(weights, os.path.join(folder, f"step-{step}.safetensors"))
    state = optimizer.state_dict()
    moments = {
        f"{i}.{name}": value.detach().cpu().contiguous()
        for i, per_param in state["state"].items()
        for name, value in per_param.items()
        if hasattr(value, "detach")
    }
    save_file(moments, os.path.join(folder, f"step-{step}.optim.safetensors"))
    meta = {"step": step, "config": config.model_dump(mode="json"), "metrics": metrics,
            "param_groups": state["param_groups"]}  # fmt: skip
    with open(os.path.join(folder, f"step-{step}.json"), "w") as f:
        json.dump(meta, f, indent=1)


def _read_checkpoint(folder: str) -> tuple[int, dict, dict]:
    """(step, model weights, AdamW's state_dict) from a folder ``_write_checkpoint`` wrote."""
    from safetensors.torch import load_file

    step = max(int(m.group(1)) for name in os.listdir(folder) if (m := _STEP.search(name)))
    with open(os.path.join(folder, f"step-{step}.json")) as f:
        meta = json.load(f)
    weights = load_file(os.path.join(folder, f"step-{step}.safetensors"))
    moments = load_file(os.path.join(folder, f"step-{step}.optim.safetensors"))
    state: dict[int, dict] = {}
    for key, value in moments.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return step, weights, {"state": state, "param_groups": meta["param_groups"]}
