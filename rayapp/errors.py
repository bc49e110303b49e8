"""The rayapp error hierarchy, and the one table of what each error means to a caller.

Every error is a ``RayappError`` and also subclasses the builtin a caller would naturally
catch (PyAV does the same: ``InvalidDataError(FFmpegError, ValueError)``). Each class
carries, as data, its process exit code, its HTTP status and a short machine-readable
code: the ``rayapp`` command, the ``python -m jobs.*`` entry points and the Serve app all
look them up here (:func:`describe`), so one error means the same thing on every path.

- A user mistake (a bad option, a bad or missing input) exits 2 and answers a 4xx.
- A job that failed on its own (a replica crashed for good, chunks that do not add up)
  exits 1 and answers a 5xx.
- A service the job needs that does not answer (the Ray cluster, the object store) exits 1
  and answers 503: the command was right, a rerun once it is back resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "EXIT_FAILED",
    "EXIT_USER_ERROR",
    "ERRORS",
    "ChunkFailedError",
    "ClusterUnreachableError",
    "ConfigError",
    "ContainerError",
    "ErrorReport",
    "FrameAccountingError",
    "ImageTooLargeError",
    "InputImageError",
    "InvalidVideoError",
    "RayappError",
    "StarvedError",
    "StorageError",
    "StorageUnavailableError",
    "UnknownModelError",
    "UnsafeCheckpointError",
    "UnsupportedCodecError",
    "UnsupportedFormatError",
    "VideoError",
    "WeightsError",
    "describe",
]

EXIT_FAILED = 1
EXIT_USER_ERROR = 2


class RayappError(Exception):
    """Base class of every error rayapp raises on purpose."""

    exit_code: ClassVar[int] = EXIT_FAILED
    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"


class ConfigError(RayappError, ValueError):
    """A configuration value is out of range or inconsistent."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "invalid_parameter"


class UnknownModelError(RayappError, KeyError):
    """A model name is neither in the registry nor a checkpoint path/URI."""

    exit_code, http_status, code = EXIT_USER_ERROR, 404, "unknown_model"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(RayappError, ValueError):
    """A weights file is missing, corrupt, truncated or not a model spandrel knows."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "bad_weights"


class UnsafeCheckpointError(WeightsError):
    """A checkpoint carries a pickled code payload; it is refused, never executed."""

    code = "unsafe_checkpoint"


class InputImageError(RayappError, ValueError):
    """An input image cannot be decoded or has an unsupported layout."""

    exit_code, http_status, code = EXIT_USER_ERROR, 400, "undecodable_image"


class ImageTooLargeError(InputImageError):
    """The image declares more pixels than allowed."""

    http_status, code = 413, "image_too_large"


class UnsupportedFormatError(InputImageError):
    """An image cannot be written in the asked format: no such format, or one that cannot
    hold its bit depth or its alpha (``rayapp.image_formats``). A bad parameter to HTTP."""

    http_status, code = 422, "invalid_parameter"


class StorageError(RayappError, OSError):
    """A URI cannot be read or written (missing object, a directory, disallowed scheme)."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "storage"


class VideoError(RayappError, ValueError):
    """Base class of video errors: a video job that failed on its own."""

    code = "video_failed"


class InvalidVideoError(VideoError):
    """The input is not a usable video: empty, truncated, not a video, no frames."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "invalid_video"


class UnsupportedCodecError(VideoError):
    """A codec cannot be decoded, encoded, or carried in the chosen container."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "unsupported_codec"


class ContainerError(VideoError):
    """A stream cannot be carried in the chosen output container."""

    exit_code, http_status, code = EXIT_USER_ERROR, 422, "unsupported_container"


class FrameAccountingError(VideoError):
    """Chunks do not cover the source frames exactly once (gap, overlap or wrong count)."""

    code = "frame_accounting"


class ChunkFailedError(VideoError):
    """A chunk's frames could not be upscaled or encoded."""

    code = "chunk_failed"


class ClusterUnreachableError(RayappError, ConnectionError):
    """The Ray cluster named by ``RAY_ADDRESS`` does not answer."""

    exit_code, http_status, code = EXIT_FAILED, 503, "cluster_unreachable"


class StorageUnavailableError(StorageError):
    """An object store did not answer for as long as rayapp retries (``rayapp.storage``)."""

    exit_code, http_status, code = EXIT_FAILED, 503, "storage_unavailable"


class StarvedError(RayappError, TimeoutError):
    """A job waited past its bound for what the cluster did not give: a batch from its data
    path (``data_timeout_s``), room for its workers."""

    exit_code, http_status, code = EXIT_FAILED, 504, "starved"


def _all_subclasses(cls: type[RayappError]) -> list[type[RayappError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        if sub.__module__ == __name__:  # Ray's wrappers of a task's error subclass ours too
            found += _all_subclasses(sub)
    return found


ERRORS: tuple[type[RayappError], ...] = tuple(_all_subclasses(RayappError))
"""Every error class, base first: the table the entry points and Serve read."""


@dataclass(frozen=True)
class ErrorReport:
    """What one error means to a caller: the line to show, the exit code, the HTTP answer."""

    message: str
    exit_code: int
    http_status: int
    code: str

    @classmethod
    def of(cls, error: RayappError) -> ErrorReport:
        return cls(str(error), error.exit_code, error.http_status, error.code)


def describe(error: BaseException) -> ErrorReport | None:
    """The report of the first rayapp error in ``error``'s cause chain (Ray wraps errors
    raised in tasks and actors), or of a pydantic validation error; None for anything
    else (a bug: the caller shows it as such)."""
    from pydantic import ValidationError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # Ray's RayTaskError carries the task's own exception as ``cause``; its own text
        # holds a remote traceback.
        inner = getattr(current, "cause", None)
        if isinstance(inner, BaseException):
            current = inner
            continue
        if isinstance(current, ValidationError):
            return ErrorReport.of(ConfigError(validation_message(current)))
        if isinstance(current, RayappError):
            return ErrorReport.of(current)
        current = current.__cause__ or current.__context__
    return None


def validation_message(error: object) -> str:
    """The first problem of a pydantic ``ValidationError``: ``where: what``."""
    first = error.errors()[0]  # type: ignore[attr-defined]
    where = ".".join(str(x) for x in first["loc"])
    what = first["msg"].removeprefix("Value error, ")  # a validator's own message
    return f"{where}: {what}" if where else what
