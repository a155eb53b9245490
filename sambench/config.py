"""Typed parameters from declarative YAML: unknown or mistyped fields are named in the error."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from sambench.errors import ConfigError

P = TypeVar("P")


def parse_params(params_type: type[P], values: Mapping[str, Any], source: str) -> P:
    """Build the dataclass ``params_type`` from ``values``, checking names and types.

    Args:
        params_type: A dataclass whose fields (with defaults) document every knob.
        values: Values from a config file or the command line.
        source: Where the values come from, for error messages (a file path).

    >>> @dataclasses.dataclass(frozen=True)
    ... class Knobs:
    ...     max_clicks: int = 9
    >>> parse_params(Knobs, {"max_clicks": 5}, "t.yaml")
    Knobs(max_clicks=5)
    >>> parse_params(Knobs, {"max_click": 5}, "t.yaml")
    Traceback (most recent call last):
    ...
    sambench.errors.ConfigError: t.yaml: unknown field 'max_click' (known: max_clicks)
    >>> parse_params(Knobs, {"max_clicks": "five"}, "t.yaml")
    Traceback (most recent call last):
    ...
    sambench.errors.ConfigError: t.yaml: field 'max_clicks' must be int, got 'five'
    """
    if not dataclasses.is_dataclass(params_type):
        raise TypeError(f"{params_type!r} is not a dataclass")
    hints = typing.get_type_hints(params_type)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    for name, value in values.items():
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown field {name!r} (known: {known})")
        if not _matches(value, hints[name]):
            expected = getattr(hints[name], "__name__", str(hints[name]))
            raise ConfigError(f"{source}: field {name!r} must be {expected}, got {value!r}")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return params_type(**converted)
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from error


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)
