"""The local image driver: image files upscaled one by one in this process (``rayapp upscale``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from rayapp import storage
from rayapp.errors import RayappError
from rayapp.image_formats import IMAGE_SUFFIXES, format_for_path
from rayapp.images import decode_image, encode_image
from rayapp.upscaler import Upscaler

__all__ = ["DirectoryReport", "upscale_file", "upscale_directory"]

log = logging.getLogger(__name__)


@dataclass
class DirectoryReport:
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def upscale_file(upscaler: Upscaler, src: str, dst: str) -> tuple[int, int, int, int]:
    """Upscale the image at ``src`` into ``dst`` (format from its extension), atomically.

    Returns (height, width, out_height, out_width).
    """
    fmt = format_for_path(dst)  # fail before the work, not after it
    image = decode_image(storage.read_bytes(src))
    out = upscaler.upscale(image)
    storage.write_bytes(dst, encode_image(out, fmt))
    return image.shape[0], image.shape[1], out.shape[0], out.shape[1]


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
