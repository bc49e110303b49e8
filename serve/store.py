"""``/v1/objects``: store small, upscale on read.

``PUT /v1/objects/{key}?scale=4`` stores the body's image downscaled (``rayapp.resize``:
bicubic, antialiased) at ``{store.prefix}/{key}``, and beside it a sidecar
``{key}.rayapp.json`` recording the original's size, format and bytes. ``GET`` reads the
small copy and has the model pool upscale it to exactly the original's size; ``?raw=1``
returns the stored copy as it is. ``DELETE`` removes both.

Keys are relative paths of segments of letters, digits, ``.``, ``_`` and ``-``, none
starting with ``.``: no ``..``, no absolute path, no scheme or bucket, so never a path
outside the prefix (nor a sidecar or a temporary file of ``rayapp.storage``). The copy is
written before its sidecar, each atomically: a key whose sidecar exists is whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

import numpy as np

from rayapp import storage
from rayapp.config import ServeStoreConfig
from rayapp.errors import StorageError
from rayapp.images import encode_image
from rayapp.resize import downscaled_size, resize_image
from serve.errors import ApiError

__all__ = ["ObjectStore", "StoredObject", "check_key"]

MAX_KEY = 512
SIDECAR = ".rayapp.json"
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY = re.compile(rf"{_SEGMENT}(/{_SEGMENT})*")


def check_key(key: str) -> str:
    """``key`` if it names an object inside the prefix, else 400."""
    if len(key) > MAX_KEY or not _KEY.fullmatch(key) or key.endswith(SIDECAR):
        raise ApiError(
            400,
            f"Invalid key {key[:64]!r}: expected a relative path of at most {MAX_KEY} "
            "characters, its parts letters, digits, '.', '_' and '-', none starting with '.'",
            "invalid_key",
        )
    return key


@dataclass(frozen=True)
class StoredObject:
    """The sidecar of one key: the original (size, format, bytes) and its stored copy."""

    key: str
    width: int
    height: int
    format: str
    original_bytes: int
    scale: float
    stored_width: int
    stored_height: int
    stored_format: str
    stored_bytes: int

    @property
    def saved_ratio(self) -> float:
        return 1.0 - self.stored_bytes / self.original_bytes

    def answer(self) -> dict:
        """The PUT's JSON answer."""
        return {**asdict(self), "saved_ratio": self.saved_ratio}


class ObjectStore:
    """Small copies and their sidecars under one prefix (blocking I/O: call from a thread)."""

    def __init__(self, config: ServeStoreConfig) -> None:
        if config.prefix is None:
            raise ValueError("ObjectStore needs store.prefix")
        storage.check_scheme(config.prefix)
        self.config = config
        self._prefix = config.prefix

    def put(
        self, key: str, data: bytes, image: np.ndarray, original_format: str, scale: float, fmt: str
    ) -> StoredObject:
        """Downscale ``image`` (decoded from ``data``) by ``scale``, store it as ``fmt``, then
        its sidecar."""
        height, width = image.shape[:2]
        size = downscaled_size(height, width, scale)
        small = encode_image(resize_image(image, size), fmt, quality=self.config.image_quality)
        stored = StoredObject(
            key=key,
            width=width,
            height=height,
            format=original_format,
            original_bytes=len(data),
            scale=scale,
            stored_width=size[1],
            stored_height=size[0],
            stored_format=fmt,
            stored_bytes=len(small),
        )
        storage.write_bytes(self._uri(key), small)
        storage.write_bytes(self._uri(key) + SIDECAR, json.dumps(asdict(stored)).encode())
        return stored

    def get(self, key: str) -> tuple[StoredObject, bytes]:
        """The sidecar and the stored copy of ``key``; 404 when there is none."""
        try:
            meta = StoredObject(**json.loads(storage.read_bytes(self._uri(key) + SIDECAR)))
            return meta, storage.read_bytes(self._uri(key))
        except StorageError as e:
            if isinstance(e.__cause__, FileNotFoundError):
                raise ApiError(404, f"No object {key!r}", "no_such_object") from None
            raise

    def delete(self, key: str) -> None:
        """Remove ``key``: its sidecar first (from then on the key is gone: no reader sees a
        copy without its sidecar), then the copy. 404 when there is none."""
        sidecar = self._uri(key) + SIDECAR
        if not storage.exists(sidecar):
            raise ApiError(404, f"No object {key!r}", "no_such_object")
        for uri in (sidecar, self._uri(key)):
            storage.remove(uri)

    def _uri(self, key: str) -> str:
        return storage.join(self._prefix, key)
