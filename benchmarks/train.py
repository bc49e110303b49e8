"""The benchmark's ``train`` section: does the training data path keep up, and what does
streaming save next to extracting frames?

- the data path: decode-and-degrade batches (``rayapp.train.data.batch``) in Ray tasks
  on every CPU, samples/s;
- the trainer: the same batches through forward, L1 and backward of the model with AdamW,
  samples/s of one worker at its share of the CPUs (``cfg.threads``), bare, in this process;
  the data path must give at least what ``workers`` trainers take;
- disk: streaming reads the video and writes nothing; the usual way extracts every frame as
  PNG first: bytes of those PNGs against the video's.

    python -m jobs.benchmark --section train
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.cluster import local_ray
from benchmarks.config import BenchmarkConfig
from benchmarks.table import table
from rayapp.train.data import batch, plan_clips, step_items
from rayapp.train.degrade import DegradeConfig

__all__ = ["section_train"]

BATCH, PATCH, SCALE, WORKERS = 8, 96, 4, 2


def _data(items: list[dict], tmp: str) -> float:
    """Samples/s of the decode-and-degrade path (Ray tasks, as a training worker asks for
    them) on every CPU."""
    import ray

    @ray.remote(num_cpus=1)
    def one(item: dict) -> dict:
        return batch(item, batch_size=BATCH, patch=PATCH, scale=SCALE, seed=0,
                     degrade_config=DegradeConfig())  # fmt: skip

    with local_ray(tmp, os.cpu_count() or 2):
        ray.get([one.remote(i) for i in items[:4]])  # warm: workers started, modules imported
        started = time.monotonic()
        rows = ray.get([one.remote(i) for i in items])
        elapsed = time.monotonic() - started
    return len(rows) * BATCH / elapsed


def _trainer(items: list[dict], threads: int) -> float:
    """Samples/s of one worker's optimiser steps (forward, L1, backward, AdamW)."""
    import torch
    import torch.nn.functional as F

    from rayapp.models import load_model

    torch.set_num_threads(threads)
    model = load_model("realesr-animevideov3").model.float().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows = [batch(i, batch_size=BATCH, patch=PATCH, scale=SCALE, seed=0,
                  degrade_config=DegradeConfig()) for i in items[:6]]  # fmt: skip

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)

    def step(row: dict) -> None:
        loss = F.l1_loss(model(tensor(row["lr"])), tensor(row["hr"]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(rows[0])  # warm-up
    started = time.monotonic()
    for row in rows[1:]:
        step(row)
    return (len(rows) - 1) * BATCH / (time.monotonic() - started)


def _png_bytes(clip: str, folder: Path) -> int:
    import av

    folder.mkdir()
    with av.open(clip) as container:
        for i, frame in enumerate(container.decode(video=0)):
            frame.to_image().save(folder / f"{i:06d}.png")
    return sum(p.stat().st_size for p in folder.iterdir())


def section_train(cfg: BenchmarkConfig) -> str:
    from rayapp.sample import make_sample_video

    w, h = cfg.size_wh((320, 240))
    with tempfile.TemporaryDirectory(prefix="rb-train-") as tmp:
        clip = make_sample_video(f"{tmp}/clip.mp4", seconds=cfg.seconds, size=(w, h))
        clips, _ = plan_clips([clip], patch=PATCH, segment_s=0.5, hold_out=False)
        items = step_items(clips, range(24), 0, 0)
        data = _data(items, tmp)
        trainer = _trainer(items, cfg.threads)
        png = _png_bytes(clip, Path(tmp) / "png")
        video = os.path.getsize(clip)
    frames = round(cfg.seconds * 24)
    return "\n".join(
        [
            f"== train: realesr-animevideov3, batches of {BATCH} patches {PATCH}x{PATCH} "
            f"(x{SCALE}) from a {cfg.seconds:g} s {w}x{h} clip; {os.cpu_count()} CPUs",
            table(
                ["what", "samples/s", "ratio"],
                [
                    ["data path (decode + degrade, Ray tasks, every CPU)", f"{data:.1f}", "-"],
                    [f"one trainer ({cfg.threads} threads)", f"{trainer:.1f}", "-"],
                    [
                        f"data path / what {WORKERS} trainers take",
                        "-",
                        f"{data / (WORKERS * trainer):.2f}",
                    ],
                ],  # fmt: skip
            ),
            table(
                ["disk", "bytes", "x video"],
                [
                    ["streaming (the video itself; nothing written)", f"{video}", "1.00"],
                    [f"every frame as PNG ({frames} frames)", f"{png}", f"{png / video:.1f}"],
                ],
            ),
        ]
    )
