"""The image formats rayapp reads and writes: one row each, the one table every path uses.

A row says the format's name (as ``--format`` and ``?format=`` take it), its MIME type, its
file extensions (the first is the one outputs get), the magic bytes that identify it and
what it can hold: bits per sample, an alpha channel, lossy (a ``quality`` to encode with).
``output_format`` is the one check of a format asked for an output. Nothing here imports an
image library, so configs and HTTP routes can use it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rayapp.errors import InputImageError, UnsupportedFormatError

__all__ = [
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "ImageFormat",
    "ImageFormatName",
    "format_for_path",
    "output_format",
    "sniff_format",
]


@dataclass(frozen=True)
class ImageFormat:
    name: str
    mime: str
    extensions: tuple[str, ...]  # lower case, with the dot; the first is written
    magic: tuple[tuple[int, bytes], ...]  # (offset, bytes) that all match in a file
    bits: tuple[int, ...]  # bits per sample it holds
    alpha: bool
    lossy: bool

    def matches(self, data: bytes) -> bool:
        return all(data[at : at + len(sig)] == sig for at, sig in self.magic)


IMAGE_FORMATS: dict[str, ImageFormat] = {
    f.name: f
    for f in (
        ImageFormat("png", "image/png", (".png",), ((0, b"\x89PNG\r\n\x1a\n"),),
                    bits=(8, 16), alpha=True, lossy=False),
        ImageFormat("jpeg", "image/jpeg", (".jpg", ".jpeg"), ((0, b"\xff\xd8\xff"),),
                    bits=(8,), alpha=False, lossy=True),
        ImageFormat("webp", "image/webp", (".webp",), ((0, b"RIFF"), (8, b"WEBP")),
                    bits=(8,), alpha=True, lossy=True),
    )
}  # fmt: skip
ImageFormatName = Literal[tuple(IMAGE_FORMATS)]  # type: ignore[valid-type]  # the table's names
IMAGE_SUFFIXES = tuple(ext for f in IMAGE_FORMATS.values() for ext in f.extensions)


def format_for_path(path: str) -> str:
    """The format an image path's extension names; ``InputImageError`` for any other."""
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    for f in IMAGE_FORMATS.values():
        if ext in f.extensions:
            return f.name
    raise InputImageError(
        f"Unsupported image extension {ext!r} in {path!r}; expected one of "
        f"{', '.join(sorted(IMAGE_SUFFIXES))}"
    )


def sniff_format(data: bytes) -> str | None:
    """The format whose magic bytes ``data`` starts with, or None."""
    return next((f.name for f in IMAGE_FORMATS.values() if f.matches(data)), None)


def output_format(name: str, *, bits: int = 8, alpha: bool = False) -> ImageFormat:
    """The row of ``name`` when an image of ``bits`` per sample (with an alpha channel when
    ``alpha``) can be written in it; ``UnsupportedFormatError`` saying why not."""
    f = IMAGE_FORMATS.get(name)
    if f is None:
        raise UnsupportedFormatError(
            f"Unsupported output format {name[:16]!r}; expected one of {', '.join(IMAGE_FORMATS)}"
        )
    if bits not in f.bits:
        able = [g.name for g in IMAGE_FORMATS.values() if bits in g.bits]
        raise UnsupportedFormatError(
            f"{bits}-bit images can only be written as {' or '.join(able)}, not {name}"
        )
    if alpha and not f.alpha:
        able = [g.name for g in IMAGE_FORMATS.values() if g.alpha]
        raise UnsupportedFormatError(
            f"{name.upper()} has no alpha channel; write RGBA images as {' or '.join(able)}"
        )
    return f
