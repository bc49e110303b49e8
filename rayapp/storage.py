"""fsspec URIs (local paths, ``file://``, ``s3://``, ``gs://``, ``memory://``) and atomic writes.

S3 endpoint and credentials come from the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles)
unless explicit ``storage_options`` are given.

Atomicity: an output is first written completely to a local temporary file, then
published in one step: ``os.replace`` on a local filesystem, one PUT (or one completed
multipart upload) on an object store. A reader never sees a partial file at the
output URI, whatever fails in between.

An object store that does not answer (connection refused or timed out) is retried for up to
``RETRY_S`` seconds per operation, each retry logged; then ``StorageUnavailableError``
(exit 1, a rerun resumes). An answer that says no (no such bucket, access denied) is not
retried: ``StorageError``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

import fsspec
from fsspec.core import url_to_fs
from fsspec.exceptions import FSTimeoutError

from rayapp.errors import RayappError, StorageError, StorageUnavailableError

__all__ = [
    "ALLOWED_SCHEMES",
    "filesystem",
    "open_input",
    "exists",
    "file_size",
    "read_bytes",
    "atomic_write",
    "write_bytes",
    "remove",
    "join",
    "parent",
    "check_scheme",
    "check_writable",
    "info",
    "list_names",
    "RETRY_S",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_S = 20.0
"""How long one operation retries an object store that does not answer (the environment's
``RAYAPP_STORAGE_RETRY_S``, forwarded to every worker, overrides it)."""


def retry_s() -> float:
    return float(os.environ.get("RAYAPP_STORAGE_RETRY_S") or RETRY_S)


def _unanswered() -> tuple[type[BaseException], ...]:
    """The errors of a store that did not answer (as opposed to one that said no)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError, FSTimeoutError]
    with contextlib.suppress(ImportError):  # botocore comes with s3fs
        from botocore.exceptions import ConnectionError as NoConnection
        from botocore.exceptions import HTTPClientError

        errors += [NoConnection, HTTPClientError]
    with contextlib.suppress(ImportError):  # aiohttp (s3fs, gcsfs): a read's connection
        from aiohttp import ClientConnectionError

        errors.append(ClientConnectionError)
    return tuple(errors)


class _RetryingReader:
    """A file opened for reading whose reads are retried like every other operation
    (``_retrying``): PyAV reads an object through it while the store may be away. A failed
    read does not move the position, so it is simply asked again."""

    def __init__(self, uri: str, f: IO[bytes]) -> None:
        self._uri, self._f = uri, f

    def read(self, size: int = -1) -> bytes:
        return _retrying(self._uri, "read", lambda: self._f.read(size))

    def __getattr__(self, name: str) -> Any:  # seek, tell, close, seekable, size, ...
        return getattr(self._f, name)

    def __enter__(self) -> _RetryingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


_UNANSWERED = _unanswered()


def _retrying(uri: str, what: str, op: Callable[[], T]) -> T:
    """``op()``, tried again while the store holding ``uri`` does not answer, for up to
    ``retry_s()`` seconds (waits of 0.5 s doubling to 4 s); then StorageUnavailableError."""
    window_s = retry_s()
    deadline = time.monotonic() + window_s
    wait_s, attempt = 0.5, 1
    while True:
        try:
            return op()
        except _UNANSWERED as e:
            left_s = deadline - time.monotonic()
            reason = " ".join(str(e).split()) or type(e).__name__
            if left_s <= 0:
                raise StorageUnavailableError(
                    f"Cannot {what} {uri}: the store did not answer for {window_s:g} s ({reason})"
                ) from e
            log.warning(
                "cannot %s %s (%s): retry %d in %.1f s, giving up %.0f s from now",
                what, uri, reason, attempt, wait_s, left_s,
            )  # fmt: skip
            time.sleep(min(wait_s, left_s))
            wait_s, attempt = min(2 * wait_s, 4.0), attempt + 1


@contextlib.contextmanager
def _storage_errors(uri: str, what: str, *, is_input: bool = False) -> Iterator[None]:
    """Inside, an ``OSError`` becomes a ``StorageError`` naming ``uri``: ``Input not found``
    for a missing input, else ``Cannot <what> <uri>: <why>``. rayapp's own errors (a
    ``StorageUnavailableError`` from ``_retrying``: an ``OSError`` too) pass as they are."""
    try:
        yield
    except RayappError:
        raise
    except OSError as e:
        if is_input and isinstance(e, FileNotFoundError):
            raise StorageError(f"Input not found: {uri}") from e
        raise StorageError(f"Cannot {what} {uri}: {e}") from e


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
    """The fsspec filesystem for ``uri`` and the path inside it.

    On S3, botocore's own retries are off unless ``config_kwargs`` says otherwise: a store
    that does not answer is retried by ``_retrying`` alone, in one window that is logged
    (botocore spent about 6 s silently on each call first). s3fs still retries SlowDown."""
    if check_scheme(uri) == "s3" and "config_kwargs" not in storage_options:
        storage_options["config_kwargs"] = {"retries": {"total_max_attempts": 1}}
    try:
        return url_to_fs(uri, **storage_options)
    except ImportError as e:  # e.g. gcsfs not installed
        raise StorageError(f"No filesystem for {uri!r}: {e}") from e


def exists(uri: str, **storage_options: Any) -> bool:
    fs, path = filesystem(uri, **storage_options)
    return _retrying(uri, "look up", lambda: fs.exists(path))


def info(uri: str, **storage_options: Any) -> dict[str, Any]:
    """fsspec's ``info`` of ``uri`` (FileNotFoundError when there is nothing there)."""
    fs, path = filesystem(uri, **storage_options)
    return _retrying(uri, "look up", lambda: fs.info(path))


def list_names(uri: str, **storage_options: Any) -> set[str]:
    """The names (last path part) directly under the folder or prefix ``uri``; empty when
    there is none."""
    fs, path = filesystem(uri, **storage_options)
    try:
        paths = _retrying(uri, "list", lambda: fs.ls(path, detail=False, refresh=True))
    except FileNotFoundError:
        return set()
    finally:
        # s3fs keeps a listing and answers later lookups under it from memory: a file
        # written there afterwards (by another process) would then be "not found".
        fs.invalidate_cache(path)
    return {p.rstrip("/").rsplit("/", 1)[-1] for p in paths}


def check_writable(uri: str, **storage_options: Any) -> None:
    """StorageError unless files can be written in the folder (or under the prefix) ``uri``,
    checked by writing one: a local folder is not made, a probe object is removed."""
    fs, path = filesystem(uri, **storage_options)
    with _storage_errors(uri, "write under"):
        if _is_local(fs):
            folder = os.path.abspath(path)
            while not os.path.exists(folder):  # the folders a job would make are made there
                folder = os.path.dirname(folder)
            if not os.path.isdir(folder):
                raise NotADirectoryError(f"{folder} is not a folder")
            tempfile.TemporaryFile(dir=folder).close()
            return
        probe = f"{path.rstrip('/')}/.rayapp-write-check-{uuid.uuid4().hex}"
        _retrying(uri, "write under", lambda: fs.pipe_file(probe, b""))
        _retrying(uri, "write under", lambda: fs.rm_file(probe))


def file_size(uri: str, **storage_options: Any) -> int:
    """The size in bytes of the file at ``uri``; ``StorageError`` when there is none, or
    when ``uri`` names a directory (a prefix) instead."""
    with _storage_errors(uri, "read", is_input=True):
        found = info(uri, **storage_options)
    if found.get("type") == "directory":
        raise StorageError(f"{uri} is a directory; expected a file")
    return int(found.get("size") or 0)


def open_input(uri: str, **storage_options: Any) -> IO[bytes]:
    """Open ``uri`` for reading as a seekable binary file (range reads, no full download)."""
    fs, path = filesystem(uri, **storage_options)
    with _storage_errors(uri, "open", is_input=True):
        f = _retrying(uri, "open", lambda: fs.open(path, "rb"))
    return f if _is_local(fs) else _RetryingReader(uri, f)  # type: ignore[return-value]


def read_bytes(uri: str, **storage_options: Any) -> bytes:
    def read() -> bytes:
        with open_input(uri, **storage_options) as f:
            return f.read()

    return _retrying(uri, "read", read)


@contextlib.contextmanager
def atomic_write(uri: str, suffix: str = "", **storage_options: Any) -> Iterator[str]:
    """Yield a local temporary path; on clean exit, publish it at ``uri`` in one step.

    On an exception nothing appears at ``uri`` and the temporary file is removed.
    """
    fs, path = filesystem(uri, **storage_options)
    local = _is_local(fs)
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
            _retrying(uri, "write", lambda: fs.put_file(tmp, path))
        log.debug("published %s", uri)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(uri: str, data: bytes, **storage_options: Any) -> None:
    """Write ``data`` at ``uri`` atomically."""
    with atomic_write(uri, **storage_options) as tmp, open(tmp, "wb") as f:
        f.write(data)


def remove(uri: str, *, recursive: bool = False, **storage_options: Any) -> None:
    """Remove the object at ``uri`` (``recursive``: the folder or prefix, whatever it
    holds); nothing when there is none."""
    fs, path = filesystem(uri, **storage_options)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def parent(uri: str) -> str:
    """The folder (or prefix) holding ``uri``."""
    scheme, sep, path = uri.rpartition("://")
    folder = os.path.dirname(path.rstrip("/"))
    return f"{scheme}{sep}{folder}" if sep else folder or "."


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI with ``/`` (works for local paths and object stores)."""
    out = uri.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return fs.protocol in ("file", "local") or "file" in getattr(fs, "protocol", ())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _ext(path: str) -> str:
    return os.path.splitext(path)[1]
