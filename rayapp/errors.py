"""The rayapp error hierarchy.

Every error is a ``RayappError`` and also subclasses the builtin a caller would
naturally catch (PyAV does the same: ``InvalidDataError(FFmpegError, ValueError)``).
Entry points turn a ``RayappError`` into one readable line and a non-zero exit,
or into a 4xx JSON body over HTTP.
"""

from __future__ import annotations

__all__ = [
    "RayappError",
    "ConfigError",
    "UnknownModelError",
    "WeightsError",
    "UnsafeCheckpointError",
    "InputImageError",
    "StorageError",
    "VideoError",
    "InvalidVideoError",
    "UnsupportedCodecError",
    "FrameAccountingError",
    "ContainerError",
]


class RayappError(Exception):
    """Base class of every error rayapp raises on purpose."""


class ConfigError(RayappError, ValueError):
    """A configuration value is out of range or inconsistent."""


class UnknownModelError(RayappError, KeyError):
    """A model name is neither in the registry nor a checkpoint path/URI."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(RayappError, ValueError):
    """A weights file is missing, corrupt, truncated or not a model spandrel knows."""


class UnsafeCheckpointError(WeightsError):
    """A checkpoint carries a pickled code payload; it is refused, never executed."""


class InputImageError(RayappError, ValueError):
    """An input image cannot be decoded or has an unsupported layout."""


class StorageError(RayappError, OSError):
    """A URI cannot be read or written (missing object, disallowed scheme, ...)."""


class VideoError(RayappError, ValueError):
    """Base class of video errors."""


class InvalidVideoError(VideoError):
    """The input is not a usable video: truncated, not a video, no video stream, no frames."""


class UnsupportedCodecError(VideoError):
    """A codec cannot be decoded, encoded, or carried in the chosen container."""


class FrameAccountingError(VideoError):
    """Chunks do not cover the source frames exactly once (gap, overlap or wrong count)."""


class ContainerError(VideoError):
    """A stream cannot be carried in the chosen output container."""
