"""A sweep's grid: ``--grid FIELD=v1,v2,...`` read as values of the config's field FIELD
(a flat name: ``weight_decay``, whatever section holds it), and checked before anything is
written."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any

from gptlab.config import ConfigError, check_finite, flat_names, flat_value, owner, replace_flat
from gptlab.experiments.grokking import GrokConfig
from gptlab.train.reproducibility import pick_device

SET_BY_OPTIONS = {"seed": "--seeds", "epochs": "--max-epochs"}


def parse_value(text: str, field_type: Any, name: str) -> Any:
    """``text`` as a value of the config field's type, or a ConfigError naming the field."""
    if typing.get_origin(field_type) is typing.Literal:  # a choice: --help lists them
        return parse_choice(text, typing.get_args(field_type), name)
    try:
        if field_type is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if field_type in (int, float, str):
            return field_type(text)
    except ValueError:
        raise ConfigError(f"--grid {name}: {text!r} is not a valid {field_type.__name__}") from None
    raise ConfigError(f"--grid {name}: fields of type {field_type} cannot be swept")


def parse_choice(text: str, choices: tuple[Any, ...], name: str) -> Any:
    """The choice of a ``Literal`` field that ``text`` names."""
    for choice in choices:
        if text == str(choice):
            return choice
    raise ConfigError(f"--grid {name}: {text!r} is not one of {', '.join(map(str, choices))}")


def parse_grid(specs: Sequence[str], base: GrokConfig | None = None) -> dict[str, list[Any]]:
    """``["FIELD=v1,v2", ...]`` -> ``{FIELD: [v1, v2]}`` with values of the field's type;
    FIELD is a flat field name of ``base`` (default: GrokConfig's defaults)."""
    hints = field_types(GrokConfig() if base is None else base)
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise ConfigError(f"--grid {spec!r}: expected FIELD=v1,v2,...")
        if name in SET_BY_OPTIONS:
            raise ConfigError(f"--grid {name}: set it with {SET_BY_OPTIONS[name]} instead")
        if name not in hints:
            raise ConfigError(f"--grid {name}: no such GrokConfig field; known: {sorted(hints)}")
        if name in grid:
            raise ConfigError(f"--grid {name} given twice")
        parsed = [parse_value(v.strip(), hints[name], name) for v in values.split(",")]
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"--grid {name}: repeated values in {values!r}")
        grid[name] = parsed
    return grid


def field_types(config: GrokConfig) -> dict[str, Any]:
    """Each field's flat name (``--grid weight_decay=...``), with its annotated type."""
    return {
        name: typing.get_type_hints(type(owner(config, name)))[name] for name in flat_names(config)
    }


def check_grid(base: GrokConfig, grid: dict[str, list[Any]]) -> None:
    """What ``plan``'s per-point ``check_config`` does not see: nan/inf values and devices
    (a bad one would otherwise fail in every worker, after the sweep folder is written)."""
    for name, values in grid.items():
        for value in values:
            check_finite(replace_flat(base, **{name: value}))
    for device in grid.get("device", [flat_value(base, "device")]):
        pick_device(device)
