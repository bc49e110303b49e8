"""Checkpoints of a run, in the folders Ray Train reports them to (``checkpoint_*`` under
``<output>/train``): ``step-N.safetensors`` (the model's own key names: it loads wherever a
model path is taken), ``step-N.json`` (step, config, metrics, AdamW's param groups) and
``step-N.optim.safetensors`` (AdamW's moments)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any

from rayapp import storage
from rayapp.train._config import TrainJobConfig

__all__ = ["fetch_checkpoint", "latest_checkpoint", "read_checkpoint", "write_checkpoint"]

_STEP = re.compile(r"step-(\d+)\.json$")


def latest_checkpoint(root: str) -> tuple[int, str, str] | None:
    """(step, the checkpoint folder's path in its filesystem, its .safetensors URI) of the
    highest step reported under ``root``, or None."""
    fs, path = storage.filesystem(root)
    try:
        found = fs.glob(f"{path.rstrip('/')}/checkpoint_*/step-*.json")
    except FileNotFoundError:
        return None
    best = max(((int(m.group(1)), p) for p in found if (m := _STEP.search(p))), default=None)
    if best is None:
        return None
    step, json_path = best
    folder = json_path.rsplit("/", 1)[0]
    uri = storage.join(root, folder.rsplit("/", 1)[1], f"step-{step}.safetensors")
    return step, folder, uri


def fetch_checkpoint(uri: str) -> tuple[int, dict, dict]:
    """``read_checkpoint`` of the folder at ``uri`` (any fsspec URI)."""
    with tempfile.TemporaryDirectory() as folder:
        for name in storage.list_names(uri):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(storage.read_bytes(storage.join(uri, name)))
        return read_checkpoint(folder)


def write_checkpoint(
    folder: str, step: int, model: Any, optimizer: Any, config: TrainJobConfig, metrics: dict
) -> None:
    from safetensors.torch import save_file

    net = getattr(model, "module", model)
    weights = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(weights, os.path.join(folder, f"step-{step}.safetensors"))
    state = optimizer.state_dict()
    moments = {
        f"{i}.{name}": value.detach().cpu().contiguous()
        for i, per_param in state["state"].items()
        for name, value in per_param.items()
        if hasattr(value, "detach")
    }
    save_file(moments, os.path.join(folder, f"step-{step}.optim.safetensors"))
    meta = {"step": step, "config": config.model_dump(mode="json"), "metrics": metrics,
            "param_groups": state["param_groups"]}  # fmt: skip
    with open(os.path.join(folder, f"step-{step}.json"), "w") as f:
        json.dump(meta, f, indent=1)


def read_checkpoint(folder: str) -> tuple[int, dict, dict]:
    """(step, model weights, AdamW's state_dict) from a folder ``write_checkpoint`` wrote."""
    from safetensors.torch import load_file

    step = max(int(m.group(1)) for name in os.listdir(folder) if (m := _STEP.search(name)))
    with open(os.path.join(folder, f"step-{step}.json")) as f:
        meta = json.load(f)
    weights = load_file(os.path.join(folder, f"step-{step}.safetensors"))
    moments = load_file(os.path.join(folder, f"step-{step}.optim.safetensors"))
    state: dict[int, dict] = {}
    for key, value in moments.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return step, weights, {"state": state, "param_groups": meta["param_groups"]}
