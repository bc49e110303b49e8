"""The local image driver: image files upscaled one by one in this process (``rayapp upscale``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rayapp import storage
from rayapp.errors import RayappError
from rayapp.image_formats import IMAGE_SUFFIXES, format_for_path
from rayapp.images import decode_image, encode_image

if TYPE_CHECKING:
    from rayapp.upscaler import Upscaler  # torch: loaded only once a model is

__all__ = ["DirectoryReport", "read_image", "upscale_directory", "upscale_file", "write_upscaled"]

log = logging.getLogger(__name__)


@dataclass
class DirectoryReport:
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def read_image(src: str, dst: str) -> tuple[np.ndarray, str]:
    """The image at ``src`` and the format ``dst``'s extension asks for: what can fail
    before any upscaling, checked before it."""
    fmt = format_for_path(dst)
    return decode_image(storage.read_bytes(src)), fmt


def write_upscaled(upscaler: Upscaler, image: np.ndarray, dst: str, fmt: str) -> np.ndarray:
    """Upscale ``image`` and write it at ``dst`` as ``fmt``, atomically; returns the result."""
    out = upscaler.upscale(image)
    storage.write_bytes(dst, encode_image(out, fmt))
    return out


def upscale_file(upscaler: Upscaler, src: str, dst: str) -> None:
    """Upscale the image at ``src`` into ``dst`` (format from its extension), atomically."""
    image, fmt = read_image(src, dst)
    write_upscaled(upscaler, image, dst, fmt)


def upscale_directory(upscaler: Upscaler, src: Path, dst: Path) -> DirectoryReport:
    """Every image under ``src`` to the same relative path under ``dst``; one bad image
    is reported and does not stop the others."""
    report = DirectoryReport()
    for path in sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(src)
        try:
            upscale_file(upscaler, str(path), str(dst / rel))
        except RayappError as e:
            log.warning("failed %s: %s", rel, e)
            report.failed.append((str(rel), str(e)))
        else:
            report.written.append(str(rel))
    return report
