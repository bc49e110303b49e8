"""An archive's videos: which files under a prefix (or in a list) are videos, and where
each one's output goes (``_archive.run_archive_job``, ``_archive_plan``, the jobs API).

A file with a video extension (``rayapp.video.VIDEO_SUFFIXES``) is a video, a broken one
included (it becomes a failed row); any other file is one when its header shows a video
stream, else it is ignored and counted. Outputs keep the relative names, in the input's
container where we write it, else ``--container`` (default ``.mkv``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rayapp import storage
from rayapp.errors import InvalidVideoError, RayappError
from rayapp.video import OUTPUT_FORMATS, VIDEO_SUFFIXES, check_video_header

__all__ = [
    "ArchiveListing",
    "ArchiveVideo",
    "check_archive",
    "is_archive",
    "list_archive",
    "no_video_error",
]

_DEFAULT_CONTAINER = ".mkv"  # for an input whose container we do not write (.avi, .ts)


@dataclass(frozen=True)
class ArchiveVideo:
    input: str
    output: str


@dataclass(frozen=True)
class ArchiveListing:
    videos: tuple[ArchiveVideo, ...]
    ignored: tuple[str, ...]  # files that are not videos (no video extension, no video stream)


def is_archive(uri: str) -> bool:
    """An input that names a prefix: it ends in ``/``, or is a folder whose name is not a
    video's (``in.mp4`` that is a folder is a broken input, said as such, not an archive)."""
    if uri.endswith("/"):
        return True
    if uri.lower().endswith(VIDEO_SUFFIXES):
        return False
    fs, path = storage.filesystem(uri)
    return bool(fs.isdir(path))


def list_archive(
    input_uri: str,
    output_uri: str,
    *,
    input_list: Sequence[str] | None = None,
    container: str | None = None,
) -> ArchiveListing:
    """The videos of an archive and where each goes: every file under ``input_uri`` (or
    each URI of ``input_list``, under their common folder) with a video extension or a
    video stream, at the same relative name under ``output_uri``, its container the
    input's where we write it, else ``container`` (default ``.mkv``). Files under the
    output prefix are not inputs."""
    out_root = output_uri.rstrip("/")
    if input_list is not None:
        uris = [u.strip() for u in input_list if u.strip()]
        root = os.path.commonpath([u.rsplit("/", 1)[0] for u in uris]) if uris else ""
        pairs = [(u, u[len(root) :].lstrip("/")) for u in uris]
    else:
        root = input_uri.rstrip("/")
        pairs = [(storage.join(root, rel), rel) for rel in _files_under(root, out_root)]
    videos, ignored = [], []
    for uri, rel in pairs:
        if rel.lower().endswith(VIDEO_SUFFIXES) or _has_video(uri):
            videos.append(ArchiveVideo(uri, storage.join(out_root, _output_name(rel, container))))
        else:
            ignored.append(uri)
    return ArchiveListing(tuple(videos), tuple(ignored))


def _files_under(root: str, out_root: str) -> list[str]:
    """Relative names of the files under ``root``, sorted, less those under ``out_root``
    (an output prefix inside the input's)."""
    fs, path = storage.filesystem(root)
    _, out_path = storage.filesystem(out_root)
    fs.invalidate_cache(path)
    try:
        found = fs.find(path)
    except FileNotFoundError:
        found = []
    except OSError as e:
        raise InvalidVideoError(f"Cannot list {root}: {e}") from e
    inside = [p for p in found if p.startswith(path + "/") and not p.startswith(out_path + "/")]
    return sorted(p[len(path) + 1 :] for p in inside)


def _has_video(uri: str) -> bool:
    try:
        check_video_header(uri)
    except RayappError:
        return False
    return True


def _output_name(rel: str, container: str | None) -> str:
    stem, dot, ext = rel.rpartition(".")
    if not dot or "/" in ext:
        stem, ext = rel, ""
    if container is None and f".{ext.lower()}" in OUTPUT_FORMATS:
        return rel
    return stem + (container or _DEFAULT_CONTAINER)


def check_archive(input_uri: str, output_uri: str) -> None:
    """``InvalidVideoError`` (exit 2, HTTP 422) when the archive holds no video: what the
    jobs API answers before it submits one."""
    listing = list_archive(input_uri, output_uri)
    if not listing.videos:
        raise no_video_error(input_uri, listing)


def no_video_error(source: str, listing: ArchiveListing) -> InvalidVideoError:
    """An archive with nothing to upscale: a user's mistake (exit 2, HTTP 422)."""
    return InvalidVideoError(
        f"No video in {source} ({len(listing.ignored)} other files); expected files with a "
        f"video extension ({', '.join(VIDEO_SUFFIXES)}) or a video stream"
    )
