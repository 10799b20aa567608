"""The geometry of the trained models: distributions of per-pair values (angles, cosines)
and the geometry measures per vector set, per variant."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gptlab.plots.centering.style import (
    CONTROL_SUFFIX,
    Style,
    cell_title,
    finish,
    grid,
    legend,
    no_data,
    styles,
)

QK_SETS = (".q", ".k")  # name endings of the query and key vector sets of plot_geometry


def plot_distributions(
    distributions: dict[str, dict[str, np.ndarray]],
    xlabel: str,
    value_range: tuple[float, float],
    title: str,
    groups: dict[str, list[str]] | None = None,
) -> Figure:
    """qk_angles.png, similarity.png: per panel (e.g. a layer), the distribution of a
    per-pair value (angle, cosine similarity) for each variant as a density step
    histogram (60 bins over ``value_range``, log y: cosines pile up near 1), the variant's
    mean in its legend label. Without ``groups``, one panel per key of ``distributions``
    with every variant, in rows of at most 4; with ``groups`` (row title -> variants), one
    row per group and one column per key, each panel with that group's variants."""
    variants = list(dict.fromkeys(v for by_variant in distributions.values() for v in by_variant))
    style = styles(variants)
    bins = np.linspace(*value_range, 61)
    fig, rows = grid(list(distributions), variants, groups, 6.5, 3.8)
    for ax, group, panel, members in (cell for row in rows for cell in row):
        shown = {v: distributions[panel][v] for v in members if v in distributions[panel]}
        _histogram_panel(ax, shown, bins, style)
        ylabel = "density (per unit of x, log scale)"
        ax.set(title=cell_title(group, panel), xlabel=xlabel, ylabel=ylabel, xlim=value_range)
        if not legend(ax, outside=True):
            no_data(ax, "no finite values")
    fig.suptitle(title)
    return finish(fig)


def plot_geometry(
    summary: dict[str, dict[str, dict[str, dict[str, float]]]],
    measures: list[tuple[str, str]],
    title: str,
    groups: dict[str, list[str]] | None = None,
) -> Figure:
    """centering_test_results.png: one panel per geometry measure; per vector set (layer)
    on x, residual-stream sets left of the Q/K sets (names ending in ``.q``/``.k``) behind
    a dotted separator, each variant's mean over seeds with its 95% CI, variants dodged
    side by side. Without ``groups``, every variant in every panel, in rows of at most 4;
    with ``groups`` (row title -> variants), one row per group and one column per measure,
    each row with that group's variants and its own legend."""
    style = styles(summary)
    positions = _set_positions(summary)
    fig, rows = grid(measures, list(summary), groups, 5.5, 4.2)
    for row in rows:
        for ax, group, (key, measure), members in row:
            shown = {v: summary[v] for v in members if v in summary}
            _geometry_panel(ax, shown, key, positions, style)
            ax.set_title(cell_title(group, measure), pad=14)
            ax.set(xlabel="vector set (layer)", ylabel=measure)
        legend(row[-1][0], outside=True)
    fig.suptitle(
        f"{title}\nmean over seeds, bars = 95% CI (no bar: one seed);"
        f" dashed = strength-0 control (*{CONTROL_SUFFIX})"
    )
    return finish(fig)


def _histogram_panel(
    ax: Axes, values: dict[str, np.ndarray], bins: np.ndarray, style: dict[str, Style]
) -> None:
    """Per variant: a density step histogram of its finite values, its mean in the label;
    log y, so that a pile-up near one value does not flatten the rest."""
    for variant, raw in values.items():
        finite = np.asarray(raw, float)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            label = f"{variant} (mean {finite.mean():.3g})"
            ax.hist(finite, bins, density=True, histtype="step", label=label, **style[variant])
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.grid(alpha=0.3)


def _set_positions(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """x of each vector set of ``summary`` per part of the axis: "residual" (the stream,
    e.g. ``block0``, ``final``), then "queries & keys" (names ending in ``.q``/``.k``),
    each in order of first appearance, one empty slot between them; empty parts left out."""
    sets = list(dict.fromkeys(s for per_set in summary.values() for s in per_set))
    parts = {
        "residual": [s for s in sets if not s.endswith(QK_SETS)],
        "queries & keys": [s for s in sets if s.endswith(QK_SETS)],
    }
    positions, start = {}, 0
    for part, names in parts.items():
        if names:
            positions[part] = {s: start + i for i, s in enumerate(names)}
            start += len(names) + 1
    return positions


def _geometry_panel(
    ax: Axes,
    summary: dict[str, dict[str, dict[str, dict[str, float]]]],
    key: str,
    positions: dict[str, dict[str, int]],
    style: dict[str, Style],
) -> None:
    """Per variant and part of the x axis (``_set_positions``): the mean of measure ``key``
    per vector set with its CI, variants dodged; parts apart, named above the axes."""
    width = 0.8 / max(len(summary), 1)
    for i, (variant, per_set) in enumerate(summary.items()):
        offset, label = (i - (len(summary) - 1) / 2) * width, variant
        for part in positions.values():
            names = [s for s in part if s in per_set]
            if not names:
                continue
            mean, low, high = (
                np.array([per_set[s].get(key, {}).get(bound, np.nan) for s in names], float)
                for bound in ("mean", "low", "high")
            )
            x = np.array([part[s] for s in names]) + offset
            yerr = (mean - low, high - mean)
            ax.errorbar(x, mean, yerr, marker="o", capsize=3, label=label, **style[variant])
            label = "_nolegend_"  # one legend entry per variant
    above = {"transform": ax.get_xaxis_transform(), "ha": "center", "va": "bottom"}
    for part, xs in positions.items():
        ax.text(np.mean(list(xs.values())), 1.01, part, fontsize=8, color="grey", **above)
        if min(xs.values()) > 0:
            ax.axvline(min(xs.values()) - 1, color="grey", linestyle=":", linewidth=1)
    ticks = {s: x for xs in positions.values() for s, x in xs.items()}
    ax.set_xticks(list(ticks.values()), list(ticks), rotation=30, ha="right")
    ax.grid(alpha=0.3, axis="y")
    if not summary:
        no_data(ax, "no variant of this group in the data")
