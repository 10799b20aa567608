"""Config dataclasses to and from plain JSON-able dicts (nested dataclasses included)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
SCALARS = (bool, int, float, str)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from ``data``; unknown keys and values of the wrong type are an error,
    missing keys take defaults."""
    if not isinstance(data, dict):
        raise ValueError(f"a {cls.__name__} must be a JSON object, not {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        field_type = hints[name]
        if dataclasses.is_dataclass(field_type) and isinstance(value, dict):
            value = from_dict(field_type, value)
        elif typing.get_origin(field_type) is tuple and isinstance(value, list):
            value = tuple(value)
        check_type(name, value, field_type)
        kwargs[name] = value
    return cls(**kwargs)


def check_type(name: str, value: Any, field_type: Any) -> None:
    """A ValueError if ``value`` cannot be a ``field_type`` (scalars, ``X | None`` and tuples
    of scalars; other annotations are not checked). An int is a valid float, a bool is not a
    number: ``"lr": true`` in a hand-edited config.json is a mistake, not 1.0."""
    if not matches(value, field_type):
        plain = isinstance(field_type, type) and typing.get_origin(field_type) is None
        shown = field_type.__name__ if plain else str(field_type)  # "tuple[float, float]"
        raise ValueError(f"{name} = {value!r} is not a valid {shown}")


def matches(value: Any, field_type: Any) -> bool:
    origin = typing.get_origin(field_type)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, t) for t in typing.get_args(field_type))
    if field_type is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(field_type)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)
        return len(args) == len(value) and all(map(matches, value, args))
    if field_type in (int, float):
        allowed = (int, float) if field_type is float else (int,)
        return isinstance(value, allowed) and not isinstance(value, bool)
    if field_type in SCALARS:
        return isinstance(value, field_type)
    return True  # an annotation this check does not know: left to the class itself


INT64 = 2**63  # torch and numpy take integers in [-2**63, 2**63)


def check_types(config: Any, expected: type | None = None) -> None:
    """A ValueError naming the first field of the dataclass ``config`` (nested ones
    included) whose value is not of its annotated type, or an integer outside int64:
    ``GrokConfig(epochs=4.5)`` from Python must be refused before training, not after."""
    expected = expected or type(config)
    if not isinstance(config, expected):
        raise ValueError(f"a {expected.__name__} is needed here, not {type(config).__name__}")
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            check_types(value, hints[field.name])
            continue
        check_type(field.name, value, hints[field.name])
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, int) and not -INT64 <= v < INT64 for v in values):
            raise ValueError(f"{field.name} = {value} does not fit a 64-bit integer")


def check_finite(config: Any, prefix: str = "") -> None:
    """A ValueError naming the first float (or float in a tuple) of ``config``, nested
    dataclasses included, that is nan or infinite: ``--lr nan`` would otherwise train a
    model of nans for hours, and range checks such as ``lr > 0`` let ``inf`` through."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        name = prefix + field.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_finite(value, f"{name}.")
            continue
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ValueError(f"{name} = {value} must be a finite number")
