"""The image formats rayapp reads and writes: one row each, the one table every path uses.

A row says the format's name (as ``--format`` and ``?format=`` take it), its MIME type, its
file extensions (the first is the one outputs get) and the magic bytes that identify it.
Nothing here imports an image library, so configs and HTTP routes can use it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rayapp.errors import InputImageError

__all__ = [
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "ImageFormat",
    "ImageFormatName",
    "format_for_path",
    "sniff_format",
]


@dataclass(frozen=True)
class ImageFormat:
    name: str
    mime: str
    extensions: tuple[str, ...]  # lower case, with the dot; the first is written
    magic: tuple[tuple[int, bytes], ...]  # (offset, bytes) that all match in a file

    def matches(self, data: bytes) -> bool:
        return all(data[at : at + len(sig)] == sig for at, sig in self.magic)


IMAGE_FORMATS: dict[str, ImageFormat] = {
    f.name: f
    for f in (
        ImageFormat("png", "image/png", (".png",), ((0, b"\x89PNG\r\n\x1a\n"),)),
        ImageFormat("jpeg", "image/jpeg", (".jpg", ".jpeg"), ((0, b"\xff\xd8\xff"),)),
        ImageFormat("webp", "image/webp", (".webp",), ((0, b"RIFF"), (8, b"WEBP"))),
    )
}
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
