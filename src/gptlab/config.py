"""Config dataclasses to and from plain JSON-able dicts, in sections (nested dataclasses
whose field names are unique across the whole config, so that a field has one flat name:
``--lr`` on the command line, ``lr`` in a sweep's grid)."""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")
SCALARS = (bool, int, float, str)


class ConfigError(ValueError):
    """A bad setting, option, run folder or input file: the CLI prints it as one line and
    exits 2 before anything trains. Any other exception is a bug and keeps its traceback."""


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain JSON-able values; a section that is one of several kinds (a
    lab's task) carries its ``kind``, so that it reads back as the same kind."""
    data = {}
    if hasattr(type(config), "kind"):
        data["kind"] = type(config).kind
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        is_section = dataclasses.is_dataclass(value) and not isinstance(value, type)
        data[field.name] = to_dict(value) if is_section else copy.deepcopy(value)
    return data


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from ``data``; unknown keys and values of the wrong type are an error,
    missing keys take defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"a {cls.__name__} must be a JSON object, not {type(data).__name__}")
    upgrade = getattr(cls, "upgrade", None)  # a config written before a change of layout
    if upgrade is not None:
        data = upgrade(data)
    if hasattr(cls, "kind"):
        if data.get("kind") != cls.kind:
            raise ConfigError(f"kind = {data.get('kind')!r} is not {cls.kind!r}")
        data = {k: v for k, v in data.items() if k != "kind"}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        field_type = hints[name]
        if isinstance(value, dict) and (section := section_type(field_type, value)):
            value = from_dict(section, value)
        elif isinstance(value, list) and takes_tuple(field_type):
            value = tuple(value)  # JSON has no tuples
        check_type(name, value, field_type)
        kwargs[name] = value
    return cls(**kwargs)


def takes_tuple(field_type: Any) -> bool:
    """Whether the annotation is a tuple, or a union with one (``tuple[str, ...] | None``)."""
    if typing.get_origin(field_type) is tuple:
        return True
    return any(typing.get_origin(t) is tuple for t in typing.get_args(field_type))


def section_type(field_type: Any, value: dict[str, Any]) -> type | None:
    """The dataclass a JSON object of a ``field_type`` field is read as: the field's own
    dataclass, or for a union of dataclasses (a lab's task section) the member named by the
    object's ``kind``; None for a plain dict field."""
    if dataclasses.is_dataclass(field_type):
        return field_type
    members = [t for t in typing.get_args(field_type) if dataclasses.is_dataclass(t)]
    if not members:
        return None
    kinds = {t.kind: t for t in members}
    if value.get("kind") not in kinds:
        raise ConfigError(f"kind = {value.get('kind')!r} is not one of {sorted(kinds)}")
    return kinds[value["kind"]]


def check_type(name: str, value: Any, field_type: Any) -> None:
    """A ValueError if ``value`` cannot be a ``field_type`` (scalars, ``X | None`` and tuples
    of scalars; other annotations are not checked). An int is a valid float, a bool is not a
    number: ``"lr": true`` in a hand-edited config.json is a mistake, not 1.0."""
    if not matches(value, field_type):
        if typing.get_origin(field_type) is typing.Literal:
            choices = ", ".join(map(str, typing.get_args(field_type)))
            raise ConfigError(f"{name} = {value!r} is not one of {choices}")
        plain = isinstance(field_type, type) and typing.get_origin(field_type) is None
        shown = field_type.__name__ if plain else str(field_type)  # "tuple[float, float]"
        raise ConfigError(f"{name} = {value!r} is not a valid {shown}")


def matches(value: Any, field_type: Any) -> bool:
    origin = typing.get_origin(field_type)
    if origin is typing.Literal:
        return value in typing.get_args(field_type)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, t) for t in typing.get_args(field_type))
    if dataclasses.is_dataclass(field_type):
        return isinstance(value, field_type)
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
        raise ConfigError(f"a {expected.__name__} is needed here, not {type(config).__name__}")
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value) and matches(value, hints[field.name]):
            check_types(value)  # a section
            continue
        check_type(field.name, value, hints[field.name])
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, int) and not -INT64 <= v < INT64 for v in values):
            raise ConfigError(f"{field.name} = {value} does not fit a 64-bit integer")


def check_finite(config: Any, prefix: str = "") -> None:
    """A ValueError naming the first float (or float in a tuple) of ``config``, nested
    dataclasses included, that is nan or infinite: ``--lr nan`` would otherwise train a
    model of nans for hours, and range checks such as ``lr > 0`` let ``inf`` through."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        name = prefix + field.name
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_finite(value, prefix)  # a section: its fields keep their flat names
            continue
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise ConfigError(f"{name} = {value} must be a finite number")


def nest_flat(flat: dict[str, Any], sections: dict[str, type]) -> dict[str, Any]:
    """A config dict written before its class had sections (one flat object) as sections
    (name -> the section's dataclass); keys no section has stay at the top, for
    ``from_dict`` to refuse. For a class's ``upgrade``."""
    where = {f.name: name for name, cls in sections.items() for f in dataclasses.fields(cls)}
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if key in where:
            nested.setdefault(where[key], {})[key] = value
        else:
            nested[key] = value
    return nested


def flat_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A config's dict (``to_dict``) with its sections' fields by their flat names: for
    messages that name a field as the command line does."""
    flat = {}
    for key, value in data.items():
        is_section = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        flat |= flat_dict(value) if is_section and value else {key: value}
    return flat


def sections(config: Any) -> list[Any]:
    """The config itself and its sections (dataclass-valued fields), outermost first."""
    found = [config]
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            found += sections(value)
    return found


def owner(config: Any, name: str) -> Any:
    """The section of ``config`` holding the scalar field ``name``, or a ConfigError naming
    the known names."""
    for section in sections(config):
        if any(f.name == name for f in dataclasses.fields(section)):
            if not dataclasses.is_dataclass(getattr(section, name)):
                return section
    raise ConfigError(
        f"{name!r} is not a field of {type(config).__name__}; known: "
        f"{', '.join(flat_names(config))}"
    )


def flat_names(config: Any) -> list[str]:
    """Every scalar field's name, across sections (a config or its class's default)."""
    config = config() if isinstance(config, type) else config
    return [
        f.name
        for section in sections(config)
        for f in dataclasses.fields(section)
        if not dataclasses.is_dataclass(getattr(section, f.name))
    ]


def flat_value(config: Any, name: str) -> Any:
    """The value of the field called ``name``, in whichever section it lives."""
    return getattr(owner(config, name), name)


def replace_flat(config: T, **changes: Any) -> T:
    """A copy of ``config`` with the fields named in ``changes`` set, each in its section."""
    for name, value in changes.items():
        config = replace_in(config, owner(config, name), name, value)
    return config


def replace_in(config: Any, section: Any, name: str, value: Any) -> Any:
    if config is section:
        return dataclasses.replace(config, **{name: value})
    for field in dataclasses.fields(config):
        inner = getattr(config, field.name)
        if dataclasses.is_dataclass(inner) and any(s is section for s in sections(inner)):
            return dataclasses.replace(
                config, **{field.name: replace_in(inner, section, name, value)}
            )
    raise AssertionError("the section belongs to the config")  # owner() found it there
