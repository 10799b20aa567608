"""Figures of a grokking sweep: phase diagrams over two axes, CI line plots over one.

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state), as in
:mod:`gptlab.plots.grokking`. Input is the per-point table of
:func:`gptlab.experiments.grokking.sweep.summarize`. Grid values sit at evenly spaced
positions (a weight-decay axis usually includes 0, so no log axis).
Runs that never generalized are censored: a median of +inf is drawn as "never" in heat maps
and above the dashed budget line in line plots, never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure


def plot_sweep(table: Sequence[dict[str, Any]], axes: Sequence[str], budget: int, title: str = ""):
    """A phase diagram for two axes, a CI line plot for one."""
    if len(axes) == 2:
        return plot_phase_diagram(table, axes[0], axes[1], budget, title)
    if len(axes) == 1:
        return plot_sweep_line(table, axes[0], budget, title)
    raise ValueError(f"a sweep plot needs one or two axes, not {len(axes)}: {list(axes)}")


def _values(table: Sequence[dict[str, Any]], axis: str) -> list[Any]:
    return sorted({row[axis] for row in table})


def plot_phase_diagram(
    table: Sequence[dict[str, Any]], x_axis: str, y_axis: str, budget: int, title: str = ""
) -> Figure:
    """Heat maps over (x, y): share of seeds that generalized stably within the budget,
    median stable generalization epoch (log colour), median memorization epoch and median
    delay (stable generalization / memorization epoch)."""
    xs, ys = _values(table, x_axis), _values(table, y_axis)
    kinds = ("share", "general", "memorized", "delay")
    grids = {k: np.full((len(ys), len(xs)), np.nan) for k in kinds}
    labels = np.full((len(ys), len(xs)), "", dtype=object)
    for row in table:
        i, j = ys.index(row[y_axis]), xs.index(row[x_axis])
        grids["share"][i, j] = row["share"]
        grids["general"][i, j] = row["median_stable_generalized_epoch"]
        grids["memorized"][i, j] = row["median_memorized_epoch"]
        grids["delay"][i, j] = row.get("median_delay", np.nan)
        labels[i, j] = f"{row['generalized']}/{row['runs']}"
    fig = Figure(figsize=(20, 4.6), layout="constrained")
    panels = fig.subplots(1, 4)
    _heat_map(panels[0], grids["share"], labels, "share of seeds that generalized stably", None)
    _heat_map(
        panels[1],
        grids["general"],
        None,
        f"median stable generalization epoch (<= {budget})",
        budget,
    )
    _heat_map(panels[2], grids["memorized"], None, "median memorization epoch", budget)
    finite = grids["delay"][np.isfinite(grids["delay"])]
    _heat_map(
        panels[3],
        grids["delay"],
        None,
        "median delay (stable generalization / memorization)",
        max(2.0, float(finite.max())) if finite.size else 2.0,
        digits=1,
    )
    for panel in panels:
        panel.set_xticks(range(len(xs)), [f"{v:g}" if _is_number(v) else v for v in xs])
        panel.set_yticks(range(len(ys)), [f"{v:g}" if _is_number(v) else v for v in ys])
        panel.set_xlabel(x_axis)
        panel.set_ylabel(y_axis)
    fig.suptitle(title)
    return fig


def _heat_map(
    ax, grid: np.ndarray, labels, title: str, budget: float | None, digits: int = 0
) -> None:
    if budget is None:  # a share in [0, 1]
        image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    else:  # epochs (or delays) on a log scale [1, budget]; never (+inf) is grey
        cmap = matplotlib.colormaps["magma_r"].with_extremes(bad="lightgray")
        shown = np.where(np.isfinite(grid), grid, np.nan)
        image = ax.imshow(shown, origin="lower", cmap=cmap, norm=LogNorm(1, budget), aspect="auto")
    ax.figure.colorbar(image, ax=ax, format="%g")
    for (i, j), value in np.ndenumerate(grid):
        if labels is not None:
            text = labels[i, j]
        elif np.isinf(value):
            text = "never"
        else:
            text = "" if np.isnan(value) else f"{value:.{digits}f}"
        box = {"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1}
        ax.text(j, i, text, ha="center", va="center", fontsize=9, bbox=box)
    ax.set_title(title)


def plot_sweep_line(
    table: Sequence[dict[str, Any]], axis: str, budget: int, title: str = ""
) -> Figure:
    """Median stable generalization (with its CI) and memorization epoch over one axis;
    below, the share of seeds that generalized stably with its exact CI."""
    rows = sorted(table, key=lambda r: r[axis])
    x = np.arange(len(rows))
    ceiling = budget * 1.6  # where "never" lands, above the dashed budget line

    def clip(values):
        return np.array([ceiling if math.isinf(v) else v for v in values])

    median = clip([r["median_stable_generalized_epoch"] for r in rows])
    low = clip([r["stable_generalized_low"] for r in rows])
    high = clip([r["stable_generalized_high"] for r in rows])
    fig = Figure(figsize=(7, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.errorbar(
        x,
        median,
        yerr=[median - low, high - median],
        fmt="o-",
        capsize=4,
        label="median stable generalization epoch (order-statistic CI)",
    )
    top.plot(
        x,
        clip([r["median_memorized_epoch"] for r in rows]),
        "s--",
        color="tab:gray",
        label="median memorization epoch",
    )
    top.axhline(budget, color="k", ls=":", lw=1, label=f"budget ({budget} epochs); above = never")
    top.set_yscale("log")
    top.set_ylabel("epoch")
    top.legend(fontsize=8)
    share = np.array([r["share"] for r in rows])
    errors = [share - [r["share_low"] for r in rows], [r["share_high"] for r in rows] - share]
    bottom.errorbar(x, share, yerr=errors, fmt="o-", capsize=4, color="tab:green")
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_ylabel("share generalized stably\n(exact 95% CI)")
    bottom.set_xticks(x, [f"{r[axis]:g}" if _is_number(r[axis]) else r[axis] for r in rows])
    bottom.set_xlabel(axis)
    coverage = min(r["ci_coverage"] for r in rows)
    top.set_title(
        f"{title}\nseeds per point: {rows[0]['runs']}; median CI coverage >= {coverage:.0%}"
    )
    return fig


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def plot_generalization_curves(curves: dict[str, Any], budget: int, title: str = "") -> Figure:
    """Kaplan-Meier curves: share of seeds that first reached the threshold by each epoch,
    counting only runs that end generalized, one per grid point, with pointwise 95% CIs
    (``curves``: label -> survival.KaplanMeier); they are exact (Clopper-Pearson) only up
    to a curve's ``exact_until``, the whole curve when every run is censored at the budget."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for label, curve in curves.items():
        (line,) = ax.step(curve.times, curve.share, where="post", label=label)
        ax.fill_between(
            curve.times, curve.low, curve.high, step="post", alpha=0.12, color=line.get_color()
        )
    ax.set_xlim(0, budget)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel(
        "share of seeds at the threshold, of runs that end\n"
        "generalized (Kaplan-Meier, pointwise 95% CI)"
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{title}: first epoch at the threshold (never = censored at {budget})")
    return fig


def plot_matched_sharpness(measured: Sequence[dict[str, Any]]) -> Figure:
    """Top Hessian eigenvalue and trace against training loss: the run that groks in its two
    phases, and the loss-matched snapshots of its weight-decay-0 control (lines join each
    pair). ``measured``: matched_sharpness.measure_pair of each seed."""
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    panels = fig.subplots(1, 2)
    colors = {"memorized": "tab:orange", "generalized": "tab:blue"}
    for panel, measure, name in zip(
        panels,
        ("hessian_top_eig", "hessian_trace"),
        ("top Hessian eigenvalue", "Hessian trace (Hutchinson)"),
        strict=True,
    ):
        for index, seed in enumerate(measured):
            for phase, values in seed["phases"].items():
                first = index == 0
                panel.scatter(
                    values["train_loss"],
                    values[measure],
                    color=colors[phase],
                    label=f"groks, {phase} phase" if first else None,
                )
                panel.scatter(
                    values["control_train_loss"],
                    values[f"control_{measure}"],
                    color=colors[phase],
                    marker="x",
                    label=f"control, matched to {phase}" if first else None,
                )
                for pair in zip(
                    values["train_loss"],
                    values["control_train_loss"],
                    values[measure],
                    values[f"control_{measure}"],
                    strict=True,
                ):
                    panel.plot(pair[:2], pair[2:], color=colors[phase], lw=0.6, alpha=0.5)
        _log_if_positive(panel)
        panel.set_xlabel("full-batch training loss")
        panel.set_ylabel(name)
        panel.set_title(f"{name} at matched training loss")
    panels[0].legend(fontsize=8)
    fig.suptitle(
        f"Claim 4: sharpness of a run that groks vs a control run at the same loss "
        f"({len(measured)} seeds)"
    )
    return fig


def _log_if_positive(ax) -> None:
    """Log axes where every plotted value allows them (a Hutchinson trace can come out <= 0,
    and a run with no snapshot in a phase plots nothing)."""
    points = [c.get_offsets() for c in ax.collections]
    values = np.concatenate(points) if points else np.empty((0, 2))
    if len(values) and (values[:, 0] > 0).all():
        ax.set_xscale("log")
    if len(values) and (values[:, 1] > 0).all():
        ax.set_yscale("log")
    if not len(values):
        ax.text(0.5, 0.5, "no snapshot in either phase", ha="center", transform=ax.transAxes)
