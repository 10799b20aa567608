"""Mechanism of a grokking run, measured on the parameter snapshots it saved
(``snapshot_every``): sharpness of the training loss, Fourier progress measures (modular
addition only) and the trajectory-PCA loss landscape.

Measuring after the run, from snapshots, keeps the training loop and its timings untouched
and lets the Fourier measures use the *final* key frequencies at every epoch, as Nanda et
al. (2023) do: early on the circuit is faint, and its frequencies are only known at the end.

    gptlab grok --preset grok --snapshot-every 50 --out runs/g
    gptlab grok-mechanism runs/g
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
import tyro

from gptlab.analysis.fourier import (
    excluded_loss,
    frequency_norms,
    key_frequencies_explaining,
    logit_frequency_energy,
    restricted_loss,
)
from gptlab.analysis.sharpness import sharpness
from gptlab.analysis.trajectory import losses_on_plane, plane_grid, principal_plane, project
from gptlab.config import ConfigError, flat_value
from gptlab.data.modular import ModularSplit, all_pairs
from gptlab.experiments.grokking import GrokConfig, ModularTask, build_model, check_config
from gptlab.experiments.options import parse_options, read_run_config
from gptlab.train.run_folder import RunFolder, check_state_shapes, load_safely, write_json

KEY_SHARE = 0.99  # share of the logits' (x + y)-frequency energy the key frequencies hold


def load_snapshots(run_dir: Path | str) -> tuple[GrokConfig, list[int], list[dict]]:
    """The run's config, and its snapshot epochs and state dicts in epoch order; a
    ConfigError naming the folder or file for anything that is not a grok run's snapshots."""
    config = read_run_config(Path(run_dir), GrokConfig, "run folder")
    check_config(config)
    run = RunFolder(run_dir)
    paths = sorted((run.path / "snapshots").glob("epoch_*.pt"), key=snapshot_epoch)
    if not paths:
        raise ConfigError(f"{run.path} has no snapshots: run it with --snapshot-every N")
    with torch.device("meta"):  # the shapes the config implies, without allocating
        expected = build_model(config).state_dict()
    states = [check_state_shapes(expected, load_snapshot(p), p) for p in paths]
    return config, [snapshot_epoch(p) for p in paths], states


def snapshot_epoch(path: Path) -> int:
    """``epoch_00050.pt`` -> 50 (sorted by number: names need not be zero-padded)."""
    try:
        return int(path.stem.split("_")[1])
    except ValueError:
        raise ConfigError(f"{path}: not a snapshot name (epoch_N.pt)") from None


def load_snapshot(path: Path) -> dict[str, torch.Tensor]:
    """A snapshot's state dict, loaded as safely as a checkpoint (tensors only)."""
    state = load_safely(path, kind="snapshot")
    if not isinstance(state, dict):
        raise ConfigError(f"{path} is not a snapshot: it holds a {type(state).__name__}")
    return state


def flatten(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in state.values()])


def train_loss_and_params(
    model: torch.nn.Module, data: ModularSplit
) -> tuple[torch.Tensor, list[torch.nn.Parameter]]:
    """Training loss through ``model.trace`` (explicit attention: it has a double backward,
    the fused CPU kernel has not) and the parameters it depends on."""
    logits = model.trace(data.train_inputs).logits[:, -1]
    return F.cross_entropy(logits, data.train_targets), list(model.parameters())


def sharpness_over_training(
    config: GrokConfig, states: list[dict], lanczos_steps: int = 20, trace_samples: int = 10
) -> dict[str, list[float]]:
    """Top Hessian eigenvalue and Hutchinson trace of the full-batch training loss."""
    data = config.task.build()
    model = build_model(config).eval()  # eval: no dropout in the loss
    curves: dict[str, list[float]] = {"hessian_top_eig": [], "hessian_trace": []}
    seed = flat_value(config, "seed")
    for state in states:
        model.load_state_dict(state)
        measured = sharpness(
            *train_loss_and_params(model, data), lanczos_steps, trace_samples, seed
        )
        for key, value in measured.items():
            curves[key].append(value)
    return curves


@torch.no_grad()
def pair_logits(model: torch.nn.Module, p: int) -> torch.Tensor:
    """Logits at ``=`` for every (x, y) of modular addition: (p, p, vocab)."""
    inputs, _ = all_pairs(p, "add")  # x-major order: row x * p + y
    return model(inputs, last_only=True)[0][:, -1].view(p, p, -1)


def train_mask(data: ModularSplit) -> torch.Tensor:
    """(p, p) bool: which pairs are training examples."""
    mask = torch.zeros(data.p, data.p, dtype=torch.bool)
    mask[data.train_inputs[:, 0], data.train_inputs[:, 1]] = True
    return mask


def fourier_applies(config: GrokConfig) -> bool:
    """Nanda et al.'s Fourier measures read the circuit of modular addition."""
    return isinstance(config.task, ModularTask) and config.task.operation == "add"


def fourier_over_training(
    config: GrokConfig, states: list[dict], share: float = KEY_SHARE
) -> dict[str, Any]:
    """Embedding norm per frequency, and restricted / excluded loss at the final model's key
    frequencies, for every snapshot. The key frequencies are read off the final logits, as
    Nanda et al. do: the fewest cos/sin(w_k (x + y)) frequencies holding ``share`` of their
    energy (a fixed count left real frequencies out)."""
    if not fourier_applies(config):
        raise ConfigError(
            f"Fourier progress measures are for modular 'add', not {config.task.title()}"
        )
    p = config.task.p
    data = config.task.build()
    model = build_model(config).eval()
    mask = train_mask(data)
    norms = [frequency_norms(state["wte.weight"][:p].float()) for state in states]
    model.load_state_dict(states[-1])
    energy = logit_frequency_energy(pair_logits(model, p)[:, :, :p].double())
    keys = key_frequencies_explaining(energy, share)
    restricted, excluded = [], []
    for state in states:
        model.load_state_dict(state)
        logits = pair_logits(model, p)
        restricted.append(restricted_loss(logits, keys))
        excluded.append(excluded_loss(logits, keys, mask))
    return {
        "frequency_norms": torch.stack(norms).tolist(),
        "logit_frequency_energy": energy.tolist(),
        "key_frequencies": keys,
        "key_share": share,
        "restricted_loss": restricted,
        "excluded_loss": excluded,
    }


def trajectory_landscape(
    config: GrokConfig, states: list[dict], resolution: int = 21
) -> dict[str, Any]:
    """Train and test loss on the principal plane of the training path, and the path on it."""
    data = config.task.build()
    model = build_model(config).eval()
    snapshots = torch.stack([flatten(s) for s in states])
    directions, explained = principal_plane(snapshots)
    path = project(snapshots, directions)
    grid = plane_grid(path, resolution)
    names = list(states[-1])
    shapes = [states[-1][n].shape for n in names]
    sizes = [s.numel() for s in shapes]

    def loss_on(inputs, targets):
        def loss_of(flat: torch.Tensor) -> float:
            pieces = [c.view(s) for c, s in zip(flat.split(sizes), shapes, strict=True)]
            model.load_state_dict(dict(zip(names, pieces, strict=True)))
            return float(model(inputs, targets)[1])

        return loss_of

    center = snapshots[-1]
    return {
        "path": path.tolist(),
        "grid": grid.tolist(),
        "explained_variance": explained.tolist(),
        "train_loss": losses_on_plane(
            loss_on(data.train_inputs, data.train_targets), center, directions, grid
        ).tolist(),
        "test_loss": losses_on_plane(
            loss_on(data.test_inputs, data.test_targets), center, directions, grid
        ).tolist(),
    }


def analyze(
    run_dir: Path | str,
    sharpness_steps: int = 20,
    trace_samples: int = 10,
    resolution: int = 21,
    marks: tuple[int | None, int | None] | None = None,
) -> dict[str, Any]:
    """Every measure over the run's snapshots, written to ``mechanism.json`` with figures in
    ``plots/`` (``mechanism.png``, ``sharpness.png``, ``trajectory.png``). ``marks``: the
    (memorized, generalized) epochs drawn on the figures; default: the run's summary."""
    snapshots = load_snapshots(run_dir)  # every check before the lock file is created
    run = RunFolder(run_dir)
    with run.lock():  # a running `gptlab grok` (or another analysis) owns the folder
        return analyze_locked(run, snapshots, sharpness_steps, trace_samples, resolution, marks)


def analyze_locked(
    run: RunFolder,
    snapshots: tuple[GrokConfig, list[int], list[dict]],
    sharpness_steps: int,
    trace_samples: int,
    resolution: int,
    marks: tuple[int | None, int | None] | None,
) -> dict[str, Any]:
    from gptlab.plots.mechanism import plot_mechanism, plot_sharpness, plot_trajectory

    config, epochs, states = snapshots
    result: dict[str, Any] = {"epochs": epochs}
    result["sharpness"] = sharpness_over_training(config, states, sharpness_steps, trace_samples)
    if fourier_applies(config):
        result["fourier"] = fourier_over_training(config, states)
    if len(states) >= 3:
        result["trajectory"] = trajectory_landscape(config, states, resolution)
    write_json(run.path / "mechanism.json", result)
    rows, summary = run.read_metrics(), run.read_summary() or {}
    if marks is None:
        marks = summary.get("memorized_epoch"), summary.get("generalized_epoch")
    run.create()  # plots/ may have been removed: it is derived output
    plot_sharpness(rows, result, marks).savefig(run.plots_dir / "sharpness.png", dpi=110)
    if "fourier" in result:
        plot_mechanism(rows, result, marks).savefig(run.plots_dir / "mechanism.png", dpi=110)
    if "trajectory" in result:
        figure = plot_trajectory(result, marks)
        figure.savefig(run.plots_dir / "trajectory.png", dpi=110)
    return result


def epoch_index(epochs: list[int], epoch: int | None) -> int | None:
    """Position of the last snapshot at or before ``epoch`` (None if there is none)."""
    if epoch is None:
        return None
    before = np.searchsorted(epochs, epoch, side="right") - 1
    return int(before) if before >= 0 else None


@dataclass
class MechanismOptions:
    """``gptlab grok-mechanism``'s options."""

    run_dir: Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="run_dir")]
    """a gptlab grok run saved with --snapshot-every N"""
    lanczos_steps: int = 20
    """Lanczos steps for the top Hessian eigenvalue"""
    trace_samples: int = 10
    """Hutchinson samples for the Hessian trace"""
    resolution: int = 21
    """trajectory grid size"""


def main(argv: list[str]) -> int:
    options = parse_options(
        argv,
        MechanismOptions,
        "gptlab grok-mechanism",
        "Sharpness, Fourier progress measures and the trajectory landscape of a "
        "grokking run saved with --snapshot-every N.",
    )
    check_options(options.lanczos_steps, options.trace_samples, options.resolution)
    result = analyze(
        options.run_dir, options.lanczos_steps, options.trace_samples, options.resolution
    )
    print(f"{options.run_dir}/mechanism.json, plots in {options.run_dir}/plots/")
    if "fourier" in result:
        print(f"key frequencies: {result['fourier']['key_frequencies']}")
    else:
        print("no Fourier measures: they read the circuit of modular addition only")
    return 0


def check_options(lanczos_steps: int, trace_samples: int, resolution: int) -> None:
    for option, value, low in (
        ("--lanczos-steps", lanczos_steps, 1),
        ("--trace-samples", trace_samples, 1),
        ("--resolution", resolution, 2),  # a grid needs two points per axis
    ):
        if value < low:
            raise ConfigError(f"{option} {value} must be >= {low}")
