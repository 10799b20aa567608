"""Claim 4 with its control: is a model flatter once it has grokked, *at equal training loss*?

The curvature of cross-entropy shrinks with the loss (its Hessian carries a factor
p(1 - p) per example), so along one run the sharpness at memorization (loss ~1e-1) and at
generalization (loss ~1e-3) differ whether or not the model generalizes. Here every chosen
snapshot of a run that groks is set against the snapshot of a weight-decay-0 run of the
same seed (which memorizes and does not generalize) whose training loss is closest, and the
measure is the log ratio of their sharpness. The claim "sharp early, flatter at grokking"
then says: that log ratio falls from the memorization plateau to the generalized phase.

Per phase, ``per_phase`` snapshots are taken evenly across it, so a value is an average
over the spikes, not one snapshot that may sit in one.

A weight-decay-0 control is confounded by weight scale: the weights that feed LayerNorm
leave the loss unchanged when rescaled, so the Hessian there grows as 1/||w||^2 while weight
decay shrinks them. Two designs remove that, on the same snapshots of the run that groks:
a control at the *same* weight decay that does not generalize (less data), and the adaptive
top eigenvalue (:func:`gptlab.analysis.sharpness.adaptive_top_eigenvalue`), which does not
change under such rescaling. Every snapshot gets all three measures; the run's own are
measured once (``phase_sharpness.json``) and shared by every control it is set against.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gptlab.analysis.sharpness import adaptive_top_eigenvalue, nearest_on_log_scale
from gptlab.analysis.stability import generalization_stability
from gptlab.config import flat_value
from gptlab.experiments.grokking import GrokConfig, build_model
from gptlab.experiments.grokking.mechanism import (
    load_snapshots,
    sharpness_over_training,
    train_loss_and_params,
)
from gptlab.train.run_folder import RunFolder, read_json, write_json

PHASES = ("memorized", "generalized")
MEASURES = ("hessian_top_eig", "hessian_trace", "adaptive_top_eig")


@torch.no_grad()
def train_losses(config: GrokConfig, states: list[dict]) -> list[float]:
    """Full-batch training loss of every state (eval mode: no dropout)."""
    data = config.task.build()
    model = build_model(config).eval()
    losses = []
    for state in states:
        model.load_state_dict(state)
        logits = model(data.train_inputs, last_only=True)[0][:, -1]
        losses.append(float(F.cross_entropy(logits, data.train_targets)))
    return losses


def evenly(items: list[int], count: int) -> list[int]:
    """``count`` items spread evenly over ``items``, ends included (all of them if fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(i)] for i in np.linspace(0, len(items) - 1, count)]


def phase_snapshots(
    rows: list[dict[str, Any]],
    memorized_epoch: int | None,
    snapshot_epochs: list[int],
    threshold: float,
    per_phase: int,
) -> dict[str, list[int]]:
    """Snapshot epochs of the memorization plateau (memorized, not yet generalized: from the
    memorization epoch to before the first crossing of ``threshold``) and of the generalized
    phase (from the stable generalization epoch on), ``per_phase`` of each at most."""
    stability = generalization_stability(rows, "test_acc", threshold)
    first, stable = stability["generalized_epoch"], stability["stable_generalized_epoch"]
    plateau, generalized = [], []
    if memorized_epoch is not None and first is not None:
        plateau = [e for e in snapshot_epochs if memorized_epoch <= e < first]
    if stable is not None:
        generalized = [e for e in snapshot_epochs if e >= stable]
    return {"memorized": evenly(plateau, per_phase), "generalized": evenly(generalized, per_phase)}


def measures(
    config: GrokConfig, states: list[dict], lanczos_steps: int, trace_samples: int
) -> dict[str, list[float]]:
    """Every measure of :data:`MEASURES` for each state, on the full-batch training loss."""
    curves = sharpness_over_training(config, states, lanczos_steps, trace_samples)
    data = config.task.build()
    model = build_model(config).eval()
    adaptive = []
    for state in states:
        model.load_state_dict(state)
        loss, params = train_loss_and_params(model, data)
        seed = flat_value(config, "seed")
        adaptive.append(adaptive_top_eigenvalue(loss, params, lanczos_steps, seed))
    return {**curves, "adaptive_top_eig": adaptive}


def measure_phases(
    grok_dir: Path, threshold: float, per_phase: int, lanczos_steps: int, trace_samples: int
) -> dict[str, dict[str, list]]:
    """Per phase of the run that groks: the chosen snapshot epochs, their training losses
    and measures. Cached in ``grok_dir/phase_sharpness.json``: every control reuses them."""
    cache = Path(grok_dir) / "phase_sharpness.json"
    if cache.exists():
        return read_json(cache)
    run = RunFolder(grok_dir)
    config, epochs, states = load_snapshots(grok_dir)
    chosen = phase_snapshots(
        run.read_metrics(), run.read_summary()["memorized_epoch"], epochs, threshold, per_phase
    )
    phases = {}
    for phase, phase_epochs in chosen.items():
        picked = [states[epochs.index(e)] for e in phase_epochs]
        phases[phase] = {
            "epoch": phase_epochs,
            "train_loss": train_losses(config, picked),
            **measures(config, picked, lanczos_steps, trace_samples),
        }
    write_json(cache, phases)
    return phases


def measure_pair(
    grok_dir: Path,
    control_dir: Path,
    threshold: float,
    per_phase: int,
    tolerance: float,
    name: str = "matched_sharpness",
    lanczos_steps: int = 20,
    trace_samples: int = 10,
) -> dict[str, Any]:
    """Sharpness of the chosen snapshots of ``grok_dir`` and of their loss-matched snapshots
    of ``control_dir``; a pair whose training losses differ by more than the factor
    ``tolerance`` is kept but marked unmatched. Written to ``grok_dir/NAME.json`` (one name
    per control) and read back from there on the next call (the Hessians take the time)."""
    cache = Path(grok_dir) / f"{name}.json"
    if cache.exists() and has_every_measure(stored := read_json(cache)):
        return stored
    own = measure_phases(grok_dir, threshold, per_phase, lanczos_steps, trace_samples)
    control_config, control_epochs, control_states = load_snapshots(control_dir)
    control_losses = train_losses(control_config, control_states)
    result: dict[str, Any] = {"control_run": str(control_dir), "tolerance": tolerance}
    result["phases"] = {}
    for phase, values in own.items():
        losses = values["train_loss"]
        matches = nearest_on_log_scale(losses, control_losses) if losses else []
        matched = [control_states[i] for i in matches]
        other = measures(control_config, matched, lanczos_steps, trace_samples)
        control = [control_losses[i] for i in matches]
        result["phases"][phase] = {
            "matched": [
                abs(math.log(a / b)) <= math.log(tolerance)
                for a, b in zip(losses, control, strict=True)
            ],
            **values,
            "control_epoch": [control_epochs[i] for i in matches],
            "control_train_loss": control,
            **{f"control_{k}": v for k, v in other.items()},
        }
    write_json(cache, result)
    return result


def has_every_measure(measured: dict[str, Any]) -> bool:
    """Whether a stored result has every measure of :data:`MEASURES` for both runs (one
    written before the adaptive eigenvalue is measured again)."""
    phases = measured.get("phases", {}).values()
    return all(f"control_{m}" in phase and m in phase for phase in phases for m in MEASURES)


def log_ratios(measured: dict[str, Any], measure: str) -> dict[str, float]:
    """Mean over a phase's matched snapshots of log(sharpness / control sharpness), per
    phase (nan when the phase had no matched snapshot or a ratio is not positive), and
    ``change`` = generalized - memorized: below 0 means flatter after grokking."""
    means = {}
    for phase in PHASES:
        values = measured["phases"][phase]
        pairs = [
            (a, b)
            for a, b, ok in zip(
                values[measure], values[f"control_{measure}"], values["matched"], strict=True
            )
            if ok
        ]
        ok = pairs and all(a > 0 and b > 0 for a, b in pairs)
        means[phase] = float(np.mean([math.log(a / b) for a, b in pairs])) if ok else math.nan
    means["change"] = means["generalized"] - means["memorized"]
    return means
