"""Model registry, weight sources and loading.

``resolve(ref)`` is the one place that decides what a user's model reference means: a
registry name (optionally with explicit weights) or a checkpoint path/URI. The result knows
the network's own scale (so the default outscale), where its weights come from, and loads
it as a ``Network`` (the registry's architectures are built here, any other by spandrel).
Resolving a registry name loads nothing, so a job's driver can plan without torch
(``Network``, the one name here that needs torch, is imported when first asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayapp.errors import ConfigError
from rayapp.models._registry import REGISTRY, ModelSpec, get_spec
from rayapp.models._sources import cache_dir

if TYPE_CHECKING:
    from rayapp.models._networks import Network

__all__ = [
    "REGISTRY", "ModelRef", "ModelSpec", "Network", "cache_dir", "get_spec", "load_model",
    "resolve",
]  # fmt: skip

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class ModelRef:
    """A model as the user named it: a registry entry (``spec``), or a checkpoint at ``name``."""

    name: str  # the registry name, or the checkpoint's path/URI
    spec: ModelSpec | None  # None: a checkpoint
    weights: str | None = None  # an explicit checkpoint for a registry model

    def source(self) -> str:
        """Path or URI of the weights: the checkpoint, or a registry model's first source
        that has them (explicit weights, the cache, the download, the ncnn files)."""
        if self.spec is None:
            return self.name
        from rayapp.models._sources import resolve_weights

        return resolve_weights(self.spec, self.weights)

    def load(self, **storage_options: Any) -> Network:
        """The network with its weights loaded, in eval mode, on the CPU."""
        from rayapp.models._checkpoint import describe, read_state_dict

        source = self.source()
        return describe(read_state_dict(source, **storage_options), source)

    @property
    def scale(self) -> int:
        """The network's own scale: the registry's, or read from a checkpoint's weights."""
        if self.spec is not None and self.weights is None:
            return self.spec.scale
        return self.load().scale


def resolve(ref: str, weights: str | None = None) -> ModelRef:
    """What ``ref`` names: a registry model, else a checkpoint path/URI (one ending in a
    checkpoint suffix or holding a ``/``). ``UnknownModelError`` lists the registry."""
    if ref in REGISTRY or not _is_checkpoint_ref(ref):
        return ModelRef(ref, get_spec(ref), weights)
    if weights is not None:
        raise ConfigError(f"weights {weights!r} given for a checkpoint model {ref!r}; give one")
    return ModelRef(ref, None)


def load_model(model: str, weights: str | None = None, **storage_options: Any) -> Network:
    """``resolve(model, weights).load()``: the ``Network``."""
    return resolve(model, weights).load(**storage_options)


def _is_checkpoint_ref(ref: str) -> bool:
    return ref.lower().endswith(CHECKPOINT_SUFFIXES) or "/" in ref or "://" in ref


def __getattr__(name: str) -> Any:
    if name == "Network":
        from rayapp.models._networks import Network

        return Network
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
