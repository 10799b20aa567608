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
    """Heat maps over (x, y): share of seeds that generalized within the budget, median
    generalization epoch (log colour) and, beside it, median memorization epoch."""
    xs, ys = _values(table, x_axis), _values(table, y_axis)
    grids = {k: np.full((len(ys), len(xs)), np.nan) for k in ("share", "general", "memorized")}
    labels = np.full((len(ys), len(xs)), "", dtype=object)
    for row in table:
        i, j = ys.index(row[y_axis]), xs.index(row[x_axis])
        grids["share"][i, j] = row["share"]
        grids["general"][i, j] = row["median_generalized_epoch"]
        grids["memorized"][i, j] = row["median_memorized_epoch"]
        labels[i, j] = f"{row['generalized']}/{row['runs']}"
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    panels = fig.subplots(1, 3)
    _heat_map(panels[0], grids["share"], labels, "share of seeds that generalized", None)
    _heat_map(
        panels[1], grids["general"], None, f"median generalization epoch (<= {budget})", budget
    )
    _heat_map(panels[2], grids["memorized"], None, "median memorization epoch", budget)
    for panel in panels:
        panel.set_xticks(range(len(xs)), [f"{v:g}" if _is_number(v) else v for v in xs])
        panel.set_yticks(range(len(ys)), [f"{v:g}" if _is_number(v) else v for v in ys])
        panel.set_xlabel(x_axis)
        panel.set_ylabel(y_axis)
    fig.suptitle(title)
    return fig


def _heat_map(ax, grid: np.ndarray, labels, title: str, budget: int | None) -> None:
    if budget is None:  # a share in [0, 1]
        image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    else:  # epochs on one log scale [1, budget] for both panels; never (+inf) is grey
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
            text = "" if np.isnan(value) else f"{value:.0f}"
        box = {"facecolor": "white", "alpha": 0.6, "edgecolor": "none", "pad": 1}
        ax.text(j, i, text, ha="center", va="center", fontsize=9, bbox=box)
    ax.set_title(title)


def plot_sweep_line(
    table: Sequence[dict[str, Any]], axis: str, budget: int, title: str = ""
) -> Figure:
    """Median generalization (with its CI) and memorization epoch over one axis; below, the
    share of seeds that generalized with its exact CI."""
    rows = sorted(table, key=lambda r: r[axis])
    x = np.arange(len(rows))
    ceiling = budget * 1.6  # where "never" lands, above the dashed budget line

    def clip(values):
        return np.array([ceiling if math.isinf(v) else v for v in values])

    median = clip([r["median_generalized_epoch"] for r in rows])
    low = clip([r["generalized_low"] for r in rows])
    high = clip([r["generalized_high"] for r in rows])
    fig = Figure(figsize=(7, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.errorbar(
        x,
        median,
        yerr=[median - low, high - median],
        fmt="o-",
        capsize=4,
        label="median generalization epoch (order-statistic CI)",
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
    bottom.set_ylabel("share generalized\n(exact 95% CI)")
    bottom.set_xticks(x, [f"{r[axis]:g}" if _is_number(r[axis]) else r[axis] for r in rows])
    bottom.set_xlabel(axis)
    coverage = min(r["ci_coverage"] for r in rows)
    top.set_title(
        f"{title}\nseeds per point: {rows[0]['runs']}; median CI coverage >= {coverage:.0%}"
    )
    return fig


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
