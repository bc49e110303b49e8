"""Command-line options generated from the pydantic configs, and the config built back from them.

Every field of a config (nested ones flattened: ``upscale.model`` is ``--model``,
``replicas.max_replicas`` is ``--max-replicas``) becomes one flag whose type, choices
(from ``Literal`` fields: codecs, formats, precisions) and help come from the field. A flag
the user did not give is left out, so the config's own default applies: defaults live only
in ``rayapp.config``. The ``Namespace`` stops here: entry points pass on the config.
"""

from __future__ import annotations

import argparse
import re
import typing
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from rayapp.errors import EXIT_USER_ERROR, ConfigError, validation_message

__all__ = [
    "ArgumentParser",
    "add_config_arguments",
    "config_from_arguments",
    "config_from_flat",
    "flat_fields",
    "job_parser",
]

M = TypeVar("M", bound=BaseModel)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (exit 2), not the whole usage,
    as ``{name}: error: ...`` (``name``: the entry point's short name, default ``prog``)."""

    def __init__(self, *args: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name or self.prog

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.name}: error: {message}\n")


def job_parser(module: str, doc: str | None) -> ArgumentParser:
    """The parser of ``python -m {module}``: its docstring as the help (``plain_text``),
    errors reported as ``{last part of module}: error: ...``."""
    return ArgumentParser(
        prog=f"python -m {module}",
        name=module.rsplit(".", 1)[-1],
        description=plain_text(doc or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def plain_text(doc: str) -> str:
    """A docstring as a terminal shows it: reST's literals (````x````) and roles
    (``:func:`x```) as their text alone."""
    return re.sub(r"(?::\w+:)?`{1,2}([^`]+)`{1,2}", r"\1", doc)


def flat_fields(model: type[BaseModel]) -> Iterator[tuple[str, tuple[str, ...], FieldInfo]]:
    """(flat name, path in the nested config, field) of every leaf field of ``model``."""
    for name, field in model.model_fields.items():
        if _is_model(field.annotation):
            for leaf, path, info in flat_fields(field.annotation):
                yield leaf, (name, *path), info
        else:
            yield name, (name,), field


def add_config_arguments(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    *,
    exclude: Sequence[str] = (),
    positional: Sequence[str] = (),
) -> None:
    """One option per leaf field of ``model`` (``--flag-name``), ``positional`` ones as
    positional arguments; ``exclude`` names fields this command does not expose."""
    for name, _, field in flat_fields(model):
        if name in exclude:
            continue
        kind = _strip_none(field.annotation)
        text = plain_text(field.description or "").replace("%", "%%")  # argparse's % format
        if name in positional:
            parser.add_argument(name, type=_parser_of(kind), help=text)
            continue
        flag = "--" + name.replace("_", "-")
        # Never argparse-required, never an argparse default: the config says what is missing
        # and what the default is (``--config-json`` jobs give no flags at all).
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if default is not None:
            text += f" (default: {_shown(default)})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text, **options)
            continue
        choices = _choices(kind)
        parser.add_argument(
            flag,
            type=_parser_of(kind),
            choices=choices,
            help=text,
            metavar=_metavar(name, choices),
            **options,
        )


def config_from_arguments(model: type[M], args: argparse.Namespace, **fixed: Any) -> M:
    """The inverse of :func:`add_config_arguments`: the given flags (and ``fixed`` values,
    by flat name) as a validated ``model``. A bad value is a ``ConfigError``."""
    return config_from_flat(model, {**vars(args), **fixed})


def config_from_flat(model: type[M], values: dict[str, Any]) -> M:
    """``model`` from flat field names (as :func:`flat_fields` names them); unknown names
    are ignored, so a whole argparse namespace can be passed."""
    nested: dict[str, Any] = {}
    for name, path, _ in flat_fields(model):
        if name in values:
            node = nested
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = values[name]
    try:
        return model.model_validate(nested)
    except ValidationError as e:
        raise ConfigError(validation_message(e)) from None


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _strip_none(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, _UnionType) and len(args) == 1:
        return args[0]
    return kind


_UnionType = type(int | None)


def _choices(kind: Any) -> list[Any] | None:
    return list(typing.get_args(kind)) if typing.get_origin(kind) is typing.Literal else None


def _parser_of(kind: Any) -> Any:
    if typing.get_origin(kind) is typing.Literal:
        return type(typing.get_args(kind)[0])
    if typing.get_origin(kind) is tuple:  # tuple[X, ...]: a comma-separated list
        item = _parser_of(typing.get_args(kind)[0])

        def comma_list(text: str) -> tuple[Any, ...]:
            return tuple(item(v) for v in text.split(",") if v)

        return comma_list
    return kind if kind in (int, float) else str


def _metavar(name: str, choices: list[Any] | None) -> str | None:
    return "{" + ",".join(map(str, choices)) + "}" if choices else name.upper()


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
