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

import fsspec
import numpy as np

from rayapp import storage
from rayapp.config import ImagesJobConfig, UpscaleConfig
from rayapp.errors import ConfigError, RayappError, StorageError
from rayapp.images import DEFAULT_MAX_PIXELS, decode_image, encode_image, format_for_path
from rayapp.models import REGISTRY, get_spec
from rayapp.models.checkpoint import is_checkpoint_ref
from rayapp.pipeline.cluster import ensure_ray, load_replica, replica_pool_args, replica_threads

__all__ = [
    "IMAGE_SUFFIXES",
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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_SUFFIX = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
_COLUMNS = ("uri", "status", "output", "width", "height", "error")
# One block is one actor task: many small blocks keep the replicas evenly busy; the cap
# bounds the scheduling overhead of very large prefixes.
_MAX_BLOCKS = 1000
_PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class ImageTask:
    uri: str
    output: str
    format: str  # png | jpeg | webp


@dataclass(frozen=True)
class WrittenImage:
    uri: str
    output: str
    width: int  # of the written (upscaled) image
    height: int


@dataclass(frozen=True)
class SkippedImage:
    uri: str
    output: str  # already there


@dataclass(frozen=True)
class FailedImage:
    uri: str
    error: str


@dataclass(frozen=True)
class ImagesPlan:
    todo: tuple[ImageTask, ...]
    skipped: tuple[SkippedImage, ...]
    failed: tuple[FailedImage, ...]  # refused before any work (two inputs, one output name)


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


def plan_images(config: ImagesJobConfig) -> ImagesPlan:
    """List the input prefix and the output prefix once each, and decide every image's fate."""
    in_fs, in_root = _prefix(config.input)
    out_fs, out_root = _prefix(config.output)
    same_fs = type(in_fs) is type(out_fs)
    if same_fs and out_root == in_root:
        raise ConfigError(f"The output prefix {config.output!r} is the input prefix")
    inside = same_fs and _under(out_root, in_root)  # outputs are not inputs of a rerun
    files = _relative_files(in_fs, in_root, config.input)
    if not files and not in_fs.isdir(in_root):
        raise StorageError(f"Input prefix not found: {config.input}")
    rels = [
        rel
        for rel in files
        if rel.lower().endswith(IMAGE_SUFFIXES)
        and not (inside and _under(f"{in_root}/{rel}", out_root))
        and not rel.rsplit("/", 1)[-1].startswith(".rayapp-")  # storage's temporary files
    ]
    existing = set(_relative_files(out_fs, out_root, config.output)) if rels else set()
    todo: list[ImageTask] = []
    skipped: list[SkippedImage] = []
    failed: list[FailedImage] = []
    claimed: dict[str, str] = {}
    for rel in sorted(rels):
        fmt = format_for_path(rel) if config.format == "same" else config.format
        out_rel = _output_name(rel, fmt)
        uri, output = _uri(in_fs, f"{in_root}/{rel}"), _uri(out_fs, f"{out_root}/{out_rel}")
        if out_rel in claimed:
            failed.append(FailedImage(uri, f"Same output {output} as {claimed[out_rel]}"))
        elif out_rel in existing:
            skipped.append(SkippedImage(uri, output))
        else:
            todo.append(ImageTask(uri, output, fmt))
        claimed.setdefault(out_rel, uri)
    return ImagesPlan(tuple(todo), tuple(skipped), tuple(failed))


def run_images_job(config: ImagesJobConfig) -> ImagesJobReport:
    """Plan, then upscale what is left on the Ray cluster this process is connected to (or
    a local one: see ``ensure_ray``)."""
    started = time.monotonic()
    _check_model(config.upscale)
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
    for uri in (config.input, config.output):
        if storage.check_scheme(uri) == "memory":
            raise ConfigError(f"{uri}: memory:// lives in one process; Ray workers cannot see it")
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


def _check_model(upscale: UpscaleConfig) -> None:
    """An unknown model name fails here, once, not in every replica."""
    if upscale.model not in REGISTRY and not is_checkpoint_ref(upscale.model):
        get_spec(upscale.model)


def _prefix(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = storage.filesystem(uri)
    return fs, path.rstrip("/")


def _relative_files(fs: fsspec.AbstractFileSystem, root: str, uri: str) -> list[str]:
    """Paths of the files under ``root``, relative to it, with ``/`` separators."""
    fs.invalidate_cache(root)  # other processes (the replicas) write here
    try:
        paths = fs.find(root)
    except FileNotFoundError:
        paths = []
    except OSError as e:
        raise StorageError(f"Cannot list {uri}: {e}") from e
    if paths == [root] and fs.isfile(root):
        raise StorageError(f"{uri} is a file; expected a prefix (a directory of images)")
    return [p[len(root) + 1 :] for p in paths if p.startswith(root + "/")]


def _under(path: str, root: str) -> bool:
    return path.startswith(root + "/")


def _output_name(rel: str, fmt: str) -> str:
    """Same relative name; the suffix changes only when the format does."""
    if format_for_path(rel) == fmt:
        return rel
    return rel.rsplit(".", 1)[0] + _SUFFIX[fmt]


def _uri(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URI every process can open: a plain absolute path on a local filesystem."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else fs.unstrip_protocol(path)
