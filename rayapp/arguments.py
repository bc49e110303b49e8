"""Command-line options generated from the pydantic configs, for every entry point.

Flags, defaults and help text come from ``rayapp.config`` (one home for defaults); the
``Namespace`` stops here: entry points turn it into a config and pass only that on.
"""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import BaseModel

from rayapp.config import ReplicaConfig, UpscaleConfig

__all__ = [
    "add_fields",
    "add_upscale_arguments",
    "add_replica_arguments",
    "upscale_config",
    "replica_config",
]

_UPSCALE = ("model", "weights", "outscale", "tile", "device", "precision", "compile")
_REPLICAS = ("min_replicas", "max_replicas", "num_gpus_per_replica", "num_cpus_per_replica")


def add_fields(parser: argparse.ArgumentParser, model: type[BaseModel], names: tuple[str, ...]):
    """``--flag-name`` for each field: type, default and help from the pydantic field."""
    for name in names:
        field = model.model_fields[name]
        flag = "--" + name.replace("_", "-")
        kind: Any = field.annotation
        text = (field.description or "").replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=text)
            continue
        scalar = next((t for t in (int, float) if kind in (t, t | None)), str)
        if field.is_required():
            parser.add_argument(flag, type=scalar, required=True, help=text)
        else:
            parser.add_argument(flag, type=scalar, default=field.default, help=text)


def add_upscale_arguments(parser: argparse.ArgumentParser) -> None:
    add_fields(parser, UpscaleConfig, _UPSCALE)


def add_replica_arguments(parser: argparse.ArgumentParser) -> None:
    add_fields(parser, ReplicaConfig, _REPLICAS)


def upscale_config(args: argparse.Namespace) -> UpscaleConfig:
    return UpscaleConfig(**{name: getattr(args, name) for name in _UPSCALE})


def replica_config(args: argparse.Namespace) -> ReplicaConfig:
    values = {name: getattr(args, name) for name in _REPLICAS}
    values["min_replicas"] = min(values["min_replicas"], values["max_replicas"])
    return ReplicaConfig(**values)
