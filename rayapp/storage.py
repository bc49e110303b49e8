"""fsspec URIs (local paths, ``file://``, ``s3://``, ``gs://``, ``memory://``) and atomic writes.

S3 endpoint and credentials come from the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles)
unless explicit ``storage_options`` are given.

Atomicity: an output is first written completely to a local temporary file, then
published in one step: ``os.replace`` on a local filesystem, one PUT (or one completed
multipart upload) on an object store. A reader never sees a partial file at the
output URI, whatever fails in between.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs

from rayapp.errors import StorageError

__all__ = [
    "ALLOWED_SCHEMES",
    "filesystem",
    "open_input",
    "exists",
    "file_size",
    "read_bytes",
    "atomic_write",
    "write_bytes",
    "join",
    "check_scheme",
]

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = frozenset({"file", "s3", "gs", "gcs", "memory"})


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def check_scheme(uri: str, allowed: frozenset[str] = ALLOWED_SCHEMES) -> str:
    """Return the URI's scheme, or raise ``StorageError`` if it is not allowed."""
    scheme = _scheme(uri)
    if scheme not in allowed:
        raise StorageError(
            f"URI scheme {scheme!r} is not allowed in {uri!r}; expected one of "
            f"{', '.join(sorted(allowed))}"
        )
    return scheme


def filesystem(uri: str, **storage_options: Any) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for ``uri`` and the path inside it."""
    check_scheme(uri)
    try:
        return url_to_fs(uri, **storage_options)
    except ImportError as e:  # e.g. gcsfs not installed
        raise StorageError(f"No filesystem for {uri!r}: {e}") from e


def exists(uri: str, **storage_options: Any) -> bool:
    fs, path = filesystem(uri, **storage_options)
    return fs.exists(path)


def file_size(uri: str, **storage_options: Any) -> int:
    """The size in bytes of the file at ``uri``; ``StorageError`` when there is none, or
    when ``uri`` names a directory (a prefix) instead."""
    fs, path = filesystem(uri, **storage_options)
    try:
        info = fs.info(path)
    except FileNotFoundError as e:
        raise StorageError(f"Input not found: {uri}") from e
    except OSError as e:
        raise StorageError(f"Cannot read {uri}: {e}") from e
    if info.get("type") == "directory":
        raise StorageError(f"{uri} is a directory; expected a file")
    return int(info.get("size") or 0)


def open_input(uri: str, **storage_options: Any) -> IO[bytes]:
    """Open ``uri`` for reading as a seekable binary file (range reads, no full download)."""
    fs, path = filesystem(uri, **storage_options)
    try:
        return fs.open(path, "rb")
    except FileNotFoundError as e:
        raise StorageError(f"Input not found: {uri}") from e
    except OSError as e:
        raise StorageError(f"Cannot open {uri}: {e}") from e


def read_bytes(uri: str, **storage_options: Any) -> bytes:
    with open_input(uri, **storage_options) as f:
        return f.read()


@contextlib.contextmanager
def atomic_write(uri: str, suffix: str = "", **storage_options: Any) -> Iterator[str]:
    """Yield a local temporary path; on clean exit, publish it at ``uri`` in one step.

    On an exception nothing appears at ``uri`` and the temporary file is removed.
    """
    fs, path = filesystem(uri, **storage_options)
    local = fs.protocol in ("file", "local") or "file" in getattr(fs, "protocol", ())
    if local:
        parent = os.path.dirname(os.path.abspath(path)) or "."
        os.makedirs(parent, exist_ok=True)
        tmp_dir = parent  # same filesystem, so os.replace is atomic
    else:
        tmp_dir = None
    fd, tmp = tempfile.mkstemp(prefix=".rayapp-", suffix=suffix or _ext(path), dir=tmp_dir)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp
        if local:
            os.replace(tmp, path)
        else:
            fs.put_file(tmp, path)
        log.debug("published %s", uri)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(uri: str, data: bytes, **storage_options: Any) -> None:
    """Write ``data`` at ``uri`` atomically."""
    with atomic_write(uri, **storage_options) as tmp, open(tmp, "wb") as f:
        f.write(data)


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI with ``/`` (works for local paths and object stores)."""
    out = uri.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _ext(path: str) -> str:
    return os.path.splitext(path)[1]
