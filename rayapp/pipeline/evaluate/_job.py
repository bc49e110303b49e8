"""run_evaluation: would a small copy, upscaled on read, be good enough for this content?

list the input prefix of originals (one listing) -> Ray Data rows of URIs -> actor pool of
replicas, each holding every model under test: read and decode the original; for each scale,
downscale it (``rayapp.resize``: bicubic, antialiased), encode it in the stored format, write
it under ``<output>/small/x<scale>/``, decode it back (the codec's loss counts); for each model,
upscale that to exactly the original's size and measure it against the original -> one small
row per image x scale x model (``EvaluationRow``, its measures ``MEASURES``) ->
``evaluation.csv`` and ``evaluation.html`` under the output prefix (written by the driver;
the rows, measures and reports are ``_evaluate_report``'s).

The model ``bicubic`` is plain bicubic resizing: the baseline a model has to beat. One image
that cannot be read or stored is failed rows (one per scale x model, with the error); it never
stops the others.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import astuple, fields
from typing import Any

import numpy as np

from rayapp import storage
from rayapp.config import EvaluateJobConfig
from rayapp.errors import InputImageError, RayappError, StorageError
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
from rayapp.pipeline.evaluate._report import (
    MEASURES,
    EvaluationReport,
    EvaluationRow,
    Measure,
    scale_label,
    write_reports,
)
from rayapp.pipeline.images import input_images, output_name
from rayapp.resize import downscaled_size, resize_image
from rayapp.upscaler import Upscaler

# EvaluationReport and EvaluationRow are _evaluate_report's, named here for rayapp.pipeline.
__all__ = ["BICUBIC", "run_evaluation"]

log = logging.getLogger(__name__)

BICUBIC = "bicubic"
_FIELDS = tuple(f.name for f in fields(EvaluationRow))
_UNMEASURED = {m.name: math.nan for m in MEASURES}


def small_name(name: str, scale: float, fmt: str) -> str:
    """Where the small copy of input ``name`` at ``scale`` lies, relative to the output."""
    return f"small/{scale_label(scale)}/{output_name(name, fmt)}"


def upscaled_name(name: str, scale: float, model: str, fmt: str) -> str:
    """Where ``keep_upscaled`` writes input ``name`` restored by ``model``."""
    return f"upscaled/{model_label(model)}/{scale_label(scale)}/{output_name(name, fmt)}"


def model_label(model: str) -> str:
    """A file-name-safe label of a registry name or a checkpoint path."""
    base = model.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base) or "model"


class EvaluateReplica:
    """One replica holding every model under test. Batch in: ``{uri, name}`` (str[N]);
    batch out: ``EvaluationRow`` columns, ``len(scales) x len(models)`` rows per image."""

    def __init__(self, config: EvaluateJobConfig, threads: int | None = None) -> None:
        self._config = config
        self._upscalers = {
            m: load_replica(config.upscale.model_copy(update={"model": m}), threads)
            for m in config.models
            if m != BICUBIC
        }

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[EvaluationRow] = []
        for uri, name in zip(batch["uri"], batch["name"], strict=True):
            rows += evaluate_image(str(uri), str(name), self._config, self._upscalers)
        columns = list(zip(*(astuple(r) for r in rows), strict=True))
        return {k: np.asarray(v) for k, v in zip(_FIELDS, columns, strict=True)}


def evaluate_image(
    uri: str, name: str, config: EvaluateJobConfig, upscalers: dict[str, Upscaler]
) -> list[EvaluationRow]:
    """Every scale x model row of one original (see the module docstring)."""
    fmt = format_for_path(name) if config.format == "same" else config.format
    blank = {f: 0 for f in ("width", "height", "small_width", "small_height")}
    blank |= {"original_bytes": 0, "stored_bytes": 0, "saved_ratio": math.nan, "upscale_s": 0.0}
    blank |= {"name": name, "format": fmt, "small": "", "error": "", **_UNMEASURED}
    try:
        data = storage.read_bytes(uri)
        original = decode_image(data, max_pixels=config.max_pixels)
    except RayappError as e:
        return _failed(blank, config, config.scales, str(e))
    height, width = original.shape[:2]
    blank |= {"width": width, "height": height, "original_bytes": len(data)}
    rows: list[EvaluationRow] = []
    for scale in config.scales:
        size = downscaled_size(height, width, scale)
        small_uri = storage.join(config.output, small_name(name, scale, fmt))
        try:
            stored = encode_image(resize_image(original, size), fmt, quality=config.image_quality)
            storage.write_bytes(small_uri, stored)
            small = decode_image(stored)  # what a reader gets back: the codec's loss counts
        except (RayappError, OSError) as e:
            rows += _failed(blank, config, (scale,), str(e))
            continue
        saved = 1.0 - len(stored) / len(data)
        at_scale = blank | {
            "scale": scale,
            "small_width": size[1],
            "small_height": size[0],
            "stored_bytes": len(stored),
            "saved_ratio": saved,
            "small": small_uri,
        }
        for model in config.models:
            started = time.perf_counter()
            try:
                if model == BICUBIC:
                    restored = resize_image(small, (height, width))
                else:
                    restored = upscalers[model].upscale(small, size=(height, width))
            except RayappError as e:
                rows.append(EvaluationRow(**(at_scale | {"model": model, "error": str(e)})))
                continue
            elapsed = time.perf_counter() - started
            if config.keep_upscaled:
                kept = storage.join(config.output, upscaled_name(name, scale, model, fmt))
                storage.write_bytes(kept, encode_image(restored, fmt))
            measures = measure(original, restored)
            rows.append(
                EvaluationRow(**(at_scale | measures | {"model": model, "upscale_s": elapsed}))
            )
    return rows


def measure(original: np.ndarray, restored: np.ndarray) -> dict[str, float]:
    """The row's quality measures (``MEASURES``) of ``restored`` against ``original`` (same
    size): on the RGB channels (alpha left out; a gray image as three equal channels)."""
    a, b = _rgb(restored), _rgb(original)
    return {m.name: _measured(m, a, b) for m in MEASURES}


def _measured(m: Measure, a: np.ndarray, b: np.ndarray) -> float:
    try:
        return float(m(a, b)[0])
    except InputImageError:  # too small for the measure's window
        return math.nan


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def _failed(
    blank: dict[str, Any], config: EvaluateJobConfig, scales: tuple[float, ...], error: str
) -> list[EvaluationRow]:
    return [
        EvaluationRow(**(blank | {"scale": s, "model": m, "error": error}))
        for s in scales
        for m in config.models
    ]


def run_evaluation(config: EvaluateJobConfig) -> EvaluationReport:
    """Evaluate every original under ``config.input`` on the Ray cluster this process is
    connected to (or a local one: see ``ensure_ray``); write the CSV and the HTML report."""
    started = time.monotonic()
    for model in config.models:
        if model != BICUBIC:
            resolve(model)  # a bad name fails here, once
    images = input_images(config.input, config.output)
    if not images:
        raise StorageError(f"No images under {config.input}")
    log.info(
        "evaluating %d images x scales %s x models %s",
        len(images),
        ",".join(map(scale_label, config.scales)),
        ",".join(config.models),
    )
    rows = _run_pipeline(config, images)
    order = {m: i for i, m in enumerate(config.models)}
    rows.sort(key=lambda r: (r.name, r.scale, order[r.model]))
    csv_uri, html_uri = write_reports(config, rows)
    report = EvaluationReport(tuple(rows), csv_uri, html_uri, time.monotonic() - started)
    log.info("%s in %.1f s", report.summary(), report.elapsed_s)
    return report


def _run_pipeline(config: EvaluateJobConfig, images: list[tuple[str, str]]) -> list[EvaluationRow]:
    check_shared(config.input, config.output)
    ensure_ray()
    items = [{"uri": uri, "name": name} for uri, name in images]
    ds = replica_items(items)
    ds = ds.map_batches(
        EvaluateReplica,
        fn_constructor_kwargs={"config": config, "threads": replica_threads(config.replicas)},
        batch_size=1,
        **replica_pool_args(config.replicas),
    )
    return [_row(r) for r in ds.iter_rows()]


def _row(values: dict[str, Any]) -> EvaluationRow:
    return EvaluationRow(**{f.name: f.type(values[f.name]) for f in fields(EvaluationRow)})
