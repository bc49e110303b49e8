"""Model registry, weight sources and loading.

``load_model("realesr-animevideov3")`` gives a spandrel ``ImageModelDescriptor`` with the
weights loaded; a checkpoint path or URI works in place of a name.
"""

from __future__ import annotations

from typing import Any

import spandrel

from rayapp.errors import UnknownModelError
from rayapp.models._checkpoint import describe, is_checkpoint_ref, read_state_dict
from rayapp.models._registry import REGISTRY, ModelSpec, get_spec
from rayapp.models._sources import cache_dir, resolve_weights

__all__ = ["REGISTRY", "ModelSpec", "get_spec", "load_model", "cache_dir"]


def load_model(
    model: str, weights: str | None = None, **storage_options: Any
) -> spandrel.ImageModelDescriptor:
    """A registry name (optionally with explicit ``weights``) or a checkpoint path/URI."""
    if model in REGISTRY:
        source = resolve_weights(get_spec(model), weights)
    elif is_checkpoint_ref(model):
        source = model
    else:
        get_spec(model)  # raises UnknownModelError listing the known names
        raise UnknownModelError(model)  # pragma: no cover
    return describe(read_state_dict(source, **storage_options), source)
