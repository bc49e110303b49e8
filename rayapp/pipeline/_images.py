"""run_images_job: every image under an input prefix, upscaled on a pool of model replicas.

list the input prefix (one listing) -> the output URI of each image (same relative name under
the output prefix) -> skip outputs that already exist (one listing) -> Ray Data rows of URIs
-> actor pool of model replicas: read, decode, upscale, encode, write atomically -> one small
result row per image. Full-resolution pixels never leave the replica that made them.

One bad image (undecodable, too large, a layout its output format cannot hold) is one failed
row; it never stops the others. A rerun writes only what is missing or failed before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.config import ImagesJobConfig, UpscaleConfig
from rayapp.errors import RayappError
from rayapp.images import DEFAULT_MAX_PIXELS, decode_image, encode_image
from rayapp.models import resolve
from rayapp.pipeline._cluster import (
    check_shared,
    ensure_ray,
    load_replica,
    replica_pool_args,
    replica_threads,
)
from rayapp.pipeline._images_plan import (
    FailedImage,
    ImagesPlan,
    ImageTask,
    SkippedImage,
    plan_images,
)

__all__ = [
    "FailedImage",
    "ImageTask",
    "ImagesJobReport",
    "ImagesPlan",
    "SkippedImage",
    "UpscaleImages",
    "WrittenImage",
    "plan_images",
    "run_images_job",
]

log = logging.getLogger(__name__)

_COLUMNS = ("uri", "status", "output", "width", "height", "error")
# One block is one actor task: many small blocks keep the replicas evenly busy; the cap
# bounds the scheduling overhead of very large prefixes.
_MAX_BLOCKS = 1000
_PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class WrittenImage:
    uri: str
    output: str
    width: int  # of the written (upscaled) image
    height: int


@dataclass(frozen=True)
class ImagesJobReport:
    written: tuple[WrittenImage, ...]
    skipped: tuple[SkippedImage, ...]
    failed: tuple[FailedImage, ...]
    elapsed_s: float

    def summary(self) -> str:
        written, skipped, failed = len(self.written), len(self.skipped), len(self.failed)
        return f"{written} written, {skipped} skipped, {failed} failed"


class UpscaleImages:
    """One model replica. Batch in: ``{uri, output, format}`` (str[N]); batch out: one row
    per image ``{uri, status: written|failed, output, width, height, error}`` (width and
    height of the written image; 0 and the error message when it failed)."""

    def __init__(
        self,
        upscale: UpscaleConfig,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        threads: int | None = None,
    ) -> None:
        self._upscaler = load_replica(upscale, threads)
        self._max_pixels = max_pixels

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [
            self._upscale_one(ImageTask(str(uri), str(output), str(fmt)))
            for uri, output, fmt in zip(batch["uri"], batch["output"], batch["format"], strict=True)
        ]
        return {k: np.asarray([r[k] for r in rows]) for k in _COLUMNS}

    def _upscale_one(self, task: ImageTask) -> dict[str, Any]:
        try:
            image = decode_image(storage.read_bytes(task.uri), max_pixels=self._max_pixels)
            out = self._upscaler.upscale(image)
            storage.write_bytes(task.output, encode_image(out, task.format))
        except RayappError as e:
            log.info("failed %s: %s", task.uri, e)  # the driver reports it once
            return {**_row(task, "failed"), "error": str(e)}
        return {**_row(task, "written"), "width": out.shape[1], "height": out.shape[0]}


def _row(task: ImageTask, status: str) -> dict[str, Any]:
    return {
        "uri": task.uri,
        "status": status,
        "output": task.output,
        "width": 0,
        "height": 0,
        "error": "",
    }


def run_images_job(config: ImagesJobConfig) -> ImagesJobReport:
    """Plan, then upscale what is left on the Ray cluster this process is connected to (or
    a local one: see ``ensure_ray``)."""
    started = time.monotonic()
    resolve(config.upscale.model, config.upscale.weights)  # a bad name fails here, once
    plan = plan_images(config)
    log.info(
        "%s -> %s: %d images to upscale, %d done earlier",
        config.input,
        config.output,
        len(plan.todo),
        len(plan.skipped),
    )
    written, failed = _run_pipeline(config, plan.todo)
    report = ImagesJobReport(
        written=tuple(sorted(written, key=lambda w: w.uri)),
        skipped=plan.skipped,
        failed=tuple(sorted([*plan.failed, *failed], key=lambda f: f.uri)),
        elapsed_s=time.monotonic() - started,
    )
    for f in report.failed:
        log.warning("failed %s: %s", f.uri, f.error)
    log.info("%s: %s in %.1f s", config.output, report.summary(), report.elapsed_s)
    return report


def _run_pipeline(
    config: ImagesJobConfig, todo: tuple[ImageTask, ...]
) -> tuple[list[WrittenImage], list[FailedImage]]:
    if not todo:
        return [], []
    check_shared(config.input, config.output)
    import ray

    ensure_ray()
    items = [{"uri": t.uri, "output": t.output, "format": t.format} for t in todo]
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), _MAX_BLOCKS))
    ds = ds.map_batches(
        UpscaleImages,
        fn_constructor_kwargs={
            "upscale": config.upscale,
            "max_pixels": config.max_pixels,
            "threads": replica_threads(config.replicas),
        },
        batch_size=1,
        **replica_pool_args(config.replicas),
    )
    written: list[WrittenImage] = []
    failed: list[FailedImage] = []
    last_log = time.monotonic()
    for row in ds.iter_rows():
        uri = str(row["uri"])
        if row["status"] == "written":
            written.append(
                WrittenImage(uri, str(row["output"]), int(row["width"]), int(row["height"]))
            )
        else:
            failed.append(FailedImage(uri, str(row["error"])))
        if time.monotonic() - last_log >= _PROGRESS_EVERY_S:
            last_log = time.monotonic()
            log.info("images %d/%d (%d failed)", len(written) + len(failed), len(todo), len(failed))
    return written, failed
