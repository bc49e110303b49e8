"""Reading checkpoints safely and turning them into networks (``Network``).

``.safetensors`` is preferred; ``.pth``/``.pt``/``.ckpt`` are read with ``weights_only``
semantics, so a checkpoint carrying a pickled code payload is refused, never executed.
"""

from __future__ import annotations

import io
import logging
import pickle
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from rayapp import storage
from rayapp.errors import StorageError, UnsafeCheckpointError, WeightsError
from rayapp.models._networks import Network, build_known, from_spandrel

__all__ = ["read_state_dict", "describe"]

log = logging.getLogger(__name__)


def read_state_dict(source: str, **storage_options: Any) -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint at ``source`` (a local path or any fsspec URI)."""
    try:
        data = storage.read_bytes(source, **storage_options)
    except StorageError as e:
        raise WeightsError(f"Cannot read weights file {source}: {e}") from e
    if source.lower().endswith(".safetensors"):
        try:
            return load_safetensors(data)
        except (SafetensorError, ValueError, RuntimeError) as e:
            raise WeightsError(f"Corrupt or truncated weights file {source}: {e}") from e
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e):
            raise UnsafeCheckpointError(
                f"Refusing {source}: it holds pickled code or objects other than tensors; "
                "convert it to .safetensors or re-save it as a plain state dict"
            ) from e
        raise WeightsError(f"Corrupt or truncated weights file {source}: {e}") from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise WeightsError(f"Corrupt or truncated weights file {source}: {e}") from e
    if not isinstance(obj, dict):
        raise WeightsError(f"{source}: expected a state dict, got {type(obj).__name__}")
    return obj


def describe(state_dict: dict[str, Any], source: str) -> Network:
    """Detect the architecture and build the network, weights loaded, in eval mode: the
    registry's own architectures here (``build_known``), any other by spandrel.

    The usual containers are unwrapped first (``params_ema``, ``params``, ``state_dict``,
    ... and the ``module.`` prefix), as spandrel does.
    """
    state = _unwrapped(state_dict)
    try:
        network = build_known(state)
    except (RuntimeError, KeyError, ValueError, IndexError) as e:
        raise WeightsError(f"{source}: weights do not fit their architecture: {e}") from e
    if network is None:
        network = _by_spandrel(state, source)
    log.info("loaded %s: %s x%d", source, network.name, network.scale)
    return network


_CONTAINERS = ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model",
               "net")  # fmt: skip


def _unwrapped(state: dict[str, Any]) -> dict[str, Any]:
    for key in _CONTAINERS:
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    if len(state) == 1 and isinstance(only := next(iter(state.values())), dict):
        state = only
    for prefix in ("module.", "netG."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def _by_spandrel(state: dict[str, Any], source: str) -> Network:
    import spandrel  # only here: its import builds every architecture it knows

    try:
        desc = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError as e:
        raise WeightsError(f"{source}: not a model architecture spandrel knows") from e
    except (RuntimeError, KeyError, ValueError, IndexError) as e:
        raise WeightsError(f"{source}: weights do not fit their architecture: {e}") from e
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise WeightsError(f"{source}: {desc.architecture.name} is not an image-to-image model")
    desc.model.eval()
    return from_spandrel(desc)
