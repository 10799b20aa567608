"""What a grokking run writes besides its metrics: TensorBoard scalars and histograms,
landscapes, attention maps, learning curves and parameter snapshots. Plots come from
``gptlab.plots``; this module decides where they go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from gptlab.analysis.landscape import LandscapeSeries
from gptlab.analysis.stability import generalization_stability
from gptlab.experiments.grokking.config import GrokConfig
from gptlab.experiments.grokking.evaluate import GENERALIZED, MEMORIZED, first_epoch
from gptlab.plots.grokking import plot_attention, plot_curves
from gptlab.plots.landscape import loss_range, plot_landscape, plot_landscape_evolution
from gptlab.plots.output import save_and_log
from gptlab.train.run_folder import RunFolder, atomic_write, save_tensors


def log_scalars(writer: SummaryWriter, row: dict[str, Any], unit: str = "epoch") -> None:
    """Every numeric value of a metrics row, under its own key: a new measure needs no
    second list of TensorBoard tags."""
    for key, value in row.items():
        if key != unit and isinstance(value, (int, float)) and not isinstance(value, bool):
            writer.add_scalar(key, value, row[unit])


def log_histograms(writer: SummaryWriter, model: torch.nn.Module, epoch: int) -> None:
    for name, p in model.named_parameters():
        writer.add_histogram(f"weights/{name}", p.detach().cpu(), epoch)
        if p.grad is not None:
            writer.add_histogram(f"grads/{name}", p.grad.detach().cpu(), epoch)


def run_title(c: GrokConfig) -> str:
    o = c.optim
    decay = f"L2 {o.weight_decay:g}" if o.optimizer == "adam" else f"wd {o.weight_decay:g}"
    title = f"{c.task.title()}, {decay}, lr {o.lr:g}, seed {c.runtime.seed}"
    if o.grad_filter != "none":  # a filtered run must not pass for an unfiltered one
        title += f", {o.grad_filter} filter (lambda {o.grad_filter_lambda:g})"
    return title


def epoch_title(epoch: int, rows: list[dict[str, Any]]) -> str:
    """ "epoch E" and the train/test accuracy of the evaluation at (or just before) E."""
    row = next((r for r in reversed(rows) if r["epoch"] <= epoch), None)
    if row is None:
        return f"epoch {epoch}"
    return f"epoch {epoch}\ntrain {row['train_acc']:.2f}, test {row['test_acc']:.2f}"


def save_snapshot(run: RunFolder, model: torch.nn.Module, epoch: int) -> None:
    """The parameters at ``epoch``, for analyses of the whole path (sharpness, Fourier
    measures, trajectory PCA in ``gptlab.experiments.grokking.mechanism``). A resumed run
    rewrites the snapshots after its checkpoint with the same numbers."""
    state = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    save_tensors(run.path / "snapshots" / f"epoch_{epoch:06d}.pt", state)


def save_landscapes(folder: RunFolder, landscapes: LandscapeSeries) -> None:
    """Every surface's numbers so far, as ``landscapes.npz``."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **landscapes.arrays())

    atomic_write(folder.path / "landscapes.npz", write)


def render_landscape(writer, run: RunFolder, landscapes: LandscapeSeries, epoch: int) -> None:
    """The newest surface, on its own scale (the run's scale is known only at its end)."""
    fig = plot_landscape(
        landscapes.coords, landscapes.losses[-1], title=f"loss landscape, epoch {epoch}"
    )
    path = run.plots_subdir("landscape") / f"epoch_{epoch:06d}.png"
    save_and_log(fig, path, writer, "landscape", epoch)


def render_landscapes_on_one_scale(
    run: RunFolder, c: GrokConfig, landscapes: LandscapeSeries, rows: list[dict[str, Any]]
) -> None:
    """At the end: every drawn surface again on the run's own loss range, so that the
    PNGs compare, and the evolution panels titled with that epoch's accuracies (a panel
    inside a loss spike says so)."""
    losses = np.stack(landscapes.losses)
    vmin, vmax = loss_range(losses)
    titles = [epoch_title(e, rows) for e in landscapes.epochs]
    for epoch, grid, title in zip(landscapes.epochs, losses, titles, strict=True):
        if due(epoch, c.monitor.landscape_plot_every, c.optim.epochs):
            fig = plot_landscape(landscapes.coords, grid, title=title, vmin=vmin, vmax=vmax)
            fig.savefig(run.plots_subdir("landscape") / f"epoch_{epoch:06d}.png", dpi=100)
    fig = plot_landscape_evolution(
        landscapes.coords, losses, landscapes.epochs, title=run_title(c), titles=titles
    )
    fig.savefig(run.plots_dir / "landscape_evolution.png", dpi=110)


def render_attention(
    writer, run: RunFolder, model: torch.nn.Module, c: GrokConfig, epoch: int
) -> np.ndarray | None:
    """The attention maps at ``epoch`` in the task's layout, kept per epoch; returns the
    mean map (None for a task without an attention layout: nothing is drawn)."""
    maps = c.task.attention(model)
    if maps is None:
        return None
    mean, on_x = maps
    fig = plot_attention(mean, on_x, title=f"attention per head, epoch {epoch}")
    path = run.plots_subdir("attention") / f"epoch_{epoch:06d}.png"
    save_and_log(fig, path, writer, "attention", epoch)
    return mean


def render_curves(folder: RunFolder, c: GrokConfig, rows: list[dict[str, Any]]) -> None:
    """Accuracy and loss curves, memorization, first and stable generalization and the
    training-loss spikes marked."""
    memorized = first_epoch(rows, "train_acc", MEMORIZED)
    stability = generalization_stability(rows, "test_acc", GENERALIZED)
    fig = plot_curves(
        rows,
        memorized and memorized["epoch"],
        stability["generalized_epoch"],
        title=run_title(c),
        spike_epochs=stability["spike_epochs"],
        stable_epoch=stability["stable_generalized_epoch"],
    )
    fig.savefig(folder.plots_dir / "curves.png", dpi=120)


def due(epoch: int, every: int, last: int) -> bool:
    """Whether a monitor that runs every ``every`` epochs (0 = never) runs at ``epoch``: at
    its multiples and at the last epoch, never before training."""
    return every > 0 and epoch > 0 and (epoch % every == 0 or epoch == last)
