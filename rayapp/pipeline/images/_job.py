"""run_images_job: every image under an input prefix, upscaled, in this process or on Ray.

plan (``plan_images``: one listing of each prefix; outputs already there skipped; two inputs
that would write one output refuse the whole job before any work) -> stage
(``UpscaleImages``, one model replica: read, decode, upscale, encode, write atomically; one
result row per image) -> runner: a loop in this process (``rayapp upscale dir/ out/``), or
Ray Data rows of URIs through an actor pool of replicas (``python -m jobs.upscale_images``).
Full-resolution pixels never leave the replica that made them.

One bad image (undecodable, too large, a layout its output format cannot hold) is one failed
row; it never stops the others. A rerun writes only what is missing or failed before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rayapp import storage
from rayapp.config import DEFAULT_MAX_PIXELS, ImagesJobConfig, UpscaleConfig
from rayapp.errors import ConfigError, RayappError
from rayapp.image_formats import format_for_path
from rayapp.images import decode_image, encode_image
from rayapp.models import resolve
from rayapp.pipeline.cluster import (
    check_shared,
    ensure_ray,
    load_replica,
    replica_items,
    replica_pool_args,
    replica_threads,
)
from rayapp.pipeline.images._plan import FailedImage, ImageTask, SkippedImage, plan_images
from rayapp.pipeline.runners import Runner

if TYPE_CHECKING:
    from rayapp.upscaler import Upscaler

__all__ = [
    "ImagesJobReport",
    "UpscaleImages",
    "WrittenImage",
    "read_image",
    "run_images_job",
    "upscale_image_file",
    "write_upscaled",
]

log = logging.getLogger(__name__)

_COLUMNS = ("uri", "status", "output", "width", "height", "error")
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


def read_image(task: ImageTask, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The image ``task`` upscales, decoded: what can fail before any model runs."""
    return decode_image(storage.read_bytes(task.uri), max_pixels=max_pixels)


def write_upscaled(upscaler: Upscaler, task: ImageTask, image: np.ndarray) -> np.ndarray:
    """Upscale ``image`` and write it at ``task.output`` as ``task.format``, atomically;
    returns the upscaled image."""
    out = upscaler.upscale(image)
    storage.write_bytes(task.output, encode_image(out, task.format))
    return out


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
            self.upscale_one(ImageTask(str(uri), str(output), str(fmt)))
            for uri, output, fmt in zip(batch["uri"], batch["output"], batch["format"], strict=True)
        ]
        return {k: np.asarray([r[k] for r in rows]) for k in _COLUMNS}

    def upscale_one(self, task: ImageTask) -> dict[str, Any]:
        """One image: its result row (a bad image is a failed row, never an exception)."""
        try:
            out = write_upscaled(self._upscaler, task, read_image(task, self._max_pixels))
        except RayappError as e:
            log.info("failed %s: %s", task.uri, e)  # the job reports it once
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


def run_images_job(config: ImagesJobConfig, *, runner: Runner = "ray") -> ImagesJobReport:
    """Plan, then upscale what is left: ``runner="ray"`` on the Ray cluster this process is
    connected to (or a local one: see ``ensure_ray``), ``"local"`` in this process. Both
    plan, skip, refuse and report the same way."""
    started = time.monotonic()
    resolve(config.upscale.model, config.upscale.weights)  # a bad name fails here, once
    plan = plan_images(config)
    if plan.failed:  # two inputs would write one output: refused before any work
        raise ConfigError(
            f"{len(plan.failed)} input(s) would overwrite another's output "
            f"({plan.failed[0].error}); rename them or choose another --format"
        )
    log.info(
        "%s -> %s: %d images to upscale, %d done earlier",
        config.input,
        config.output,
        len(plan.todo),
        len(plan.skipped),
    )
    rows = _RUNNERS[runner](config, plan.todo) if plan.todo else iter(())
    written, failed = _collect(rows, len(plan.todo))
    report = ImagesJobReport(
        written=tuple(sorted(written, key=lambda w: w.uri)),
        skipped=plan.skipped,
        failed=tuple(sorted(failed, key=lambda f: f.uri)),
        elapsed_s=time.monotonic() - started,
    )
    for f in report.failed:
        log.warning("failed %s: %s", f.uri, f.error)
    log.info("%s: %s in %.1f s", config.output, report.summary(), report.elapsed_s)
    return report


def upscale_image_file(config: ImagesJobConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    """One image into the file ``config.output`` names, in this process, through the same
    stage as the job's images: the output's format from its extension (``config.format``,
    if given, must agree); a bad input fails before the model loads. Returns the (height,
    width) in and out."""
    fmt = format_for_path(config.output)
    if config.format not in ("same", fmt):
        raise ConfigError(f"{config.output} names a {fmt} file, but --format is {config.format}")
    task = ImageTask(config.input, config.output, fmt)
    image = read_image(task, config.max_pixels)
    out = write_upscaled(load_replica(config.upscale, None), task, image)
    return image.shape[:2], out.shape[:2]


def _run_local(config: ImagesJobConfig, todo: tuple[ImageTask, ...]) -> Iterator[dict[str, Any]]:
    """One replica in this process, the images one after another."""
    stage = UpscaleImages(config.upscale, config.max_pixels)
    for task in todo:
        yield stage.upscale_one(task)


def _run_ray(config: ImagesJobConfig, todo: tuple[ImageTask, ...]) -> Iterator[dict[str, Any]]:
    """Ray Data rows of URIs through an autoscaling pool of replicas."""
    check_shared(config.input, config.output)
    ensure_ray()
    items = [{"uri": t.uri, "output": t.output, "format": t.format} for t in todo]
    ds = replica_items(items)
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
    return ds.iter_rows()


_RUNNERS = {"local": _run_local, "ray": _run_ray}


def _collect(
    rows: Iterable[dict[str, Any]], total: int
) -> tuple[list[WrittenImage], list[FailedImage]]:
    """The result rows as written and failed images, with a progress line now and then."""
    written: list[WrittenImage] = []
    failed: list[FailedImage] = []
    last_log = time.monotonic()
    for row in rows:
        uri = str(row["uri"])
        if row["status"] == "written":
            written.append(
                WrittenImage(uri, str(row["output"]), int(row["width"]), int(row["height"]))
            )
        else:
            failed.append(FailedImage(uri, str(row["error"])))
        if time.monotonic() - last_log >= _PROGRESS_EVERY_S:
            last_log = time.monotonic()
            log.info("images %d/%d (%d failed)", len(written) + len(failed), total, len(failed))
    return written, failed
