"""What a checkpoint holds and how it comes back: one layout for every experiment,
``{config, counters: {unit, step, wall_s}, metrics_bytes, state}``, where ``state`` is each
of the experiment's components by name (torchtitan's ``Stateful``). Everything read back is
checked before a run continues from it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from gptlab.config import ConfigError, flat_dict, from_dict, to_dict
from gptlab.train.run_folder import RunFolder, is_number

if TYPE_CHECKING:
    from gptlab.train.lifecycle import Counters, Experiment

CHECKPOINT_KEYS = {"config", "counters", "metrics_bytes", "state"}


class Component(Protocol):
    """A piece of a run that checkpoints itself (torchtitan's ``Stateful``, one entry per
    run folder: K stacked models split and join their state here, in one place)."""

    def state_dicts(self) -> list[Any]:
        """Each folder's state (every process calls it: it may be a collective)."""

    def load_state_dicts(self, states: list[Any]) -> None: ...


class Value:
    """A component from two functions: ``get()`` -> each folder's state, ``put(states)``.
    Both are looked up when called, so a component may follow objects its run rebuilds."""

    def __init__(self, get: Callable[[], list[Any]], put: Callable[[list[Any]], None]) -> None:
        self.state_dicts, self.load_state_dicts = get, put


def per_model(get: Callable[[], Any]) -> Value:
    """The component of a one-folder run's object with ``state_dict``/``load_state_dict``
    (a model, an optimizer), looked up through ``get`` when saved or restored."""
    return Value(lambda: [get().state_dict()], lambda states: get().load_state_dict(*states))


def resumable_checkpoints(exp: Experiment) -> list[dict[str, Any]] | None:
    """The checkpoints of a run to resume, checked against its config; None for a run
    killed before its first checkpoint (it starts again)."""
    for folder, config in zip(exp.folders, exp.configs, strict=True):
        check_same_config(exp.config_type, folder, "config.json", folder.read_config(), config)
    have = [f.checkpoint_path.exists() for f in exp.folders]
    if not any(have):
        return None
    if not all(have):
        missing = [str(f.path) for f, h in zip(exp.folders, have, strict=True) if not h]
        raise ConfigError(f"some folders of this run have no checkpoint: {missing}")
    checkpoints = [check_checkpoint(exp, f, f.load_checkpoint()) for f in exp.folders]
    for folder, config, checkpoint in zip(exp.folders, exp.configs, checkpoints, strict=True):
        check_same_config(exp.config_type, folder, "checkpoint", checkpoint["config"], config)
    units = {c["counters"]["unit"] for c in checkpoints}
    if len(units) != 1:
        raise ConfigError(f"the folders of this run stopped at different {exp.unit}s: {units}")
    return checkpoints


def check_checkpoint(exp: Experiment, folder: RunFolder, checkpoint: Any) -> dict[str, Any]:
    """The checkpoint's layout and counters as gptlab writes them: a crafted or damaged one
    is refused before it can make a run skip, repeat or invent training."""
    where = folder.checkpoint_path
    if not isinstance(checkpoint, dict) or set(checkpoint) != CHECKPOINT_KEYS:
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ConfigError(f"{where}: holds {keys}, not a checkpoint's {sorted(CHECKPOINT_KEYS)}")
    counters = checkpoint["counters"]
    if not isinstance(counters, dict) or set(counters) != {"unit", "step", "wall_s"}:
        raise ConfigError(f"{where}: counters {counters!r} must be {{unit, step, wall_s}}")
    integer = {"metrics_bytes": checkpoint["metrics_bytes"], "step": counters["step"]}
    integer[exp.unit] = counters["unit"]
    for name, value in integer.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}: {name} = {value!r} must be an integer >= 0")
    if counters["unit"] > exp.total:
        raise ConfigError(f"{where}: {exp.unit} {counters['unit']} is past the run's {exp.total}")
    if not (is_number(counters["wall_s"]) and 0 <= counters["wall_s"] < math.inf):
        raise ConfigError(f"{where}: wall_s = {counters['wall_s']!r} must be a number >= 0")
    if not isinstance(checkpoint["state"], dict) or not isinstance(checkpoint["config"], dict):
        raise ConfigError(f"{where}: its config and state must be dictionaries")
    return checkpoint


def load_components(exp: Experiment, checkpoints: list[dict[str, Any]]) -> None:
    """Every component's state, by name and in the experiment's order; a checkpoint
    without one of them (or with a state no component reads) is refused."""
    components = exp.components()
    retired = set(getattr(exp, "retired_state", ()))
    for folder, checkpoint in zip(exp.folders, checkpoints, strict=True):
        saved = set(checkpoint["state"]) - retired
        if saved != set(components):
            raise ConfigError(
                f"{folder.checkpoint_path}: holds the state of {sorted(saved)}, but this "
                f"run restores {sorted(components)}; start a new run"
            )
    for name, component in components.items():
        component.load_state_dicts([c["state"][name] for c in checkpoints])


def check_same_config(
    config_type: type, folder: RunFolder, source: str, saved: Any, config: dict[str, Any]
) -> None:
    """The run's config must be the one it was started with: a hand edit of config.json
    would otherwise silently change (or silently not change) what is trained. A field added
    to the config class since the run started takes its default, which by convention is
    the behaviour before the field existed."""
    saved = to_dict(from_dict(config_type, saved))
    saved, config = json.loads(json.dumps(saved)), json.loads(json.dumps(config))
    if saved != config:
        saved, config = flat_dict(saved), flat_dict(config)
        fields = sorted(k for k in saved.keys() | config.keys() if saved.get(k) != config.get(k))
        changes = ", ".join(f"{k}: {saved.get(k)!r} vs {config.get(k)!r}" for k in fields[:4])
        raise ConfigError(
            f"{folder.path}: the {source} differs from the config this run resumes with "
            f"({changes}); a run's config cannot change, start a new run for new settings"
        )


def save_checkpoints(exp: Experiment, counters: Counters) -> None:
    # every process takes part, even off main: a component's state may be a collective
    by_name = {name: c.state_dicts() for name, c in exp.components().items()}
    if not exp.is_main:
        return
    states = [{name: by_name[name][k] for name in by_name} for k in range(len(exp.folders))]
    for folder, config, state in zip(exp.folders, exp.configs, states, strict=True):
        folder.save_checkpoint(
            {
                "config": config,
                "counters": asdict(counters),
                "metrics_bytes": folder.sync_metrics(),
                "state": state,
            }
        )
