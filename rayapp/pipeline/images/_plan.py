"""plan_images: which images of an input prefix to upscale, and where each one goes.

One listing of the input prefix and one of the output prefix: the same relative name under
the output prefix (the suffix changes only with the format), outputs already there skipped,
two inputs that would write one output refused before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

import fsspec

from rayapp import storage
from rayapp.config import ImagesJobConfig
from rayapp.errors import ConfigError, StorageError
from rayapp.image_formats import IMAGE_FORMATS, IMAGE_SUFFIXES, format_for_path

__all__ = [
    "FailedImage",
    "input_images",
    "output_name",
    "ImageTask",
    "ImagesPlan",
    "SkippedImage",
    "plan_images",
]


@dataclass(frozen=True)
class ImageTask:
    """An image to upscale into ``output``, written as ``format`` (png | jpeg | webp)."""

    uri: str
    output: str
    format: str


@dataclass(frozen=True)
class SkippedImage:
    """An image whose output is already there (written by an earlier run)."""

    uri: str
    output: str


@dataclass(frozen=True)
class FailedImage:
    """An image that was not written, and why."""

    uri: str
    error: str


@dataclass(frozen=True)
class ImagesPlan:
    """Every image of the input prefix: to do, done before, or refused before any work."""

    todo: tuple[ImageTask, ...]
    skipped: tuple[SkippedImage, ...]
    failed: tuple[FailedImage, ...]  # e.g. two inputs that would write one output


def input_images(input_uri: str, output_uri: str) -> list[tuple[str, str]]:
    """(URI, relative name) of every image under the input prefix, in name order: the output
    prefix (when it lies inside) and storage's temporary files left out."""
    in_fs, in_root = _prefix(input_uri)
    out_fs, out_root = _prefix(output_uri)
    same_fs = type(in_fs) is type(out_fs)
    if same_fs and out_root == in_root:
        raise ConfigError(f"The output prefix {output_uri!r} is the input prefix")
    inside = same_fs and _under(out_root, in_root)  # outputs are not inputs of a rerun
    files = _relative_files(in_fs, in_root, input_uri)
    if not files and not in_fs.isdir(in_root):
        raise StorageError(f"Input prefix not found: {input_uri}")
    return [
        (_uri(in_fs, f"{in_root}/{rel}"), rel)
        for rel in sorted(files)
        if rel.lower().endswith(IMAGE_SUFFIXES)
        and not (inside and _under(f"{in_root}/{rel}", out_root))
        and not rel.rsplit("/", 1)[-1].startswith(".rayapp-")  # storage's temporary files
    ]


def plan_images(config: ImagesJobConfig) -> ImagesPlan:
    """List the input prefix and the output prefix once each, and decide every image's fate."""
    images = input_images(config.input, config.output)
    out_fs, out_root = _prefix(config.output)
    existing = set(_relative_files(out_fs, out_root, config.output)) if images else set()
    todo: list[ImageTask] = []
    skipped: list[SkippedImage] = []
    failed: list[FailedImage] = []
    claimed: dict[str, str] = {}
    for uri, rel in images:
        fmt = format_for_path(rel) if config.format == "same" else config.format
        out_rel = output_name(rel, fmt)
        output = _uri(out_fs, f"{out_root}/{out_rel}")
        if out_rel in claimed:
            failed.append(FailedImage(uri, f"Same output {output} as {claimed[out_rel]}"))
        elif out_rel in existing:
            skipped.append(SkippedImage(uri, output))
        else:
            todo.append(ImageTask(uri, output, fmt))
        claimed.setdefault(out_rel, uri)
    return ImagesPlan(tuple(todo), tuple(skipped), tuple(failed))


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


def output_name(rel: str, fmt: str) -> str:
    """Same relative name; the suffix changes only when the format does."""
    if format_for_path(rel) == fmt:
        return rel
    return rel.rsplit(".", 1)[0] + IMAGE_FORMATS[fmt].extensions[0]


def _uri(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URI every process can open: a plain absolute path on a local filesystem."""
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else fs.unstrip_protocol(path)
