"""rayapp: distributed super-resolution for images and video on Ray.

The names users need, imported lazily (``import rayapp`` stays fast; torch, PyAV and Ray
load on first use)::

    from rayapp import Upscaler, VideoJobConfig, run_video_job
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Upscaler": "rayapp.upscaler",
    "UpscaleConfig": "rayapp.config",
    "VideoJobConfig": "rayapp.config",
    "ImagesJobConfig": "rayapp.config",
    "EvaluateJobConfig": "rayapp.config",
    "ReplicaConfig": "rayapp.config",
    "REGISTRY": "rayapp.models",
    "resolve": "rayapp.models",
    "load_model": "rayapp.models",
    "decode_image": "rayapp.images",
    "encode_image": "rayapp.images",
    "probe": "rayapp.video",
    "run_video_job": "rayapp.pipeline",
    "VideoJobResult": "rayapp.pipeline",
    "run_images_job": "rayapp.pipeline",
    "run_evaluation": "rayapp.pipeline",
    "RayappError": "rayapp.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rayapp' has no attribute {name!r}")
