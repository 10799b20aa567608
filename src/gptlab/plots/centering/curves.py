"""The centering figures over training: loss per variant (``plot_comparison``) and what each
variant's centering removes and learns (``plot_centering_stats``), mean over seeds."""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable, Sequence
from itertools import cycle
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from gptlab.plots.centering.style import (
    CONTROL_SUFFIX,
    ITER_LABEL,
    LOSS_UNIT,
    NO_DATA,
    Style,
    finish,
    legend,
    no_data,
    styles,
)

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")

Run = dict[str, Sequence[float]]  # one seed's columns: "iter" and logged values


def plot_comparison(
    curves: dict[str, list[dict[str, list[float]]]],
    finals: dict[str, list[float]],
    groups: dict[str, list[str]],
) -> Figure:
    """centering_comparison.png: one column per group of variants (baseline, its
    strength-0 control, its centered variants). Rows: train loss and val loss over the
    second half of training (random-batch estimates, mean over seeds with a +-1 std band,
    log y), and the final full-pass val loss of every finished run (dots, bar = mean)."""
    drawn = [v for v in dict.fromkeys(v for vs in groups.values() for v in vs) if curves.get(v)]
    style = styles(drawn)
    cutoff = (
        max((run["iter"][-1] for v in drawn for run in curves[v] if run["iter"]), default=0) / 2
    )
    # never narrower than the two-line suptitle
    fig = Figure(figsize=(max(5.5 * len(groups), 11.0), 12))
    axes = fig.subplots(3, len(groups), squeeze=False)
    for column, (group, variants) in zip(axes.T, groups.items(), strict=True):
        shown = [v for v in variants if v in drawn]
        for ax, split in zip(column[:2], ("train", "val"), strict=True):
            _curve_panel(ax, {v: curves[v] for v in shown}, f"{split}_loss", cutoff, style)
            ax.set_title(f"{group}\n{split} loss, zoomed to 2nd half (iter ≥ {cutoff:g})")
            ax.set_ylabel(f"{split} loss ({LOSS_UNIT}, random batches)")
        legend(column[0])
        _finals_panel(column[2], {v: finals.get(v, []) for v in shown}, style)
        column[2].set_title(f"{group}\nfinal full-pass val loss per run (bar = mean)")
    fig.suptitle(
        "Centering variants vs baseline (black), one column per group; dashed = strength-0"
        f" control (*{CONTROL_SUFFIX})\nrows 1-2: loss over training, mean +- 1 std over"
        " seeds; row 3: final validation loss of each finished run"
    )
    return finish(fig)


def plot_centering_stats(
    stats: dict[str, list[list[dict[str, float]]]], module_kinds: dict[str, str]
) -> Figure:
    """centering_stats.png: what each variant's centering does over training, mean over
    seeds: (a) norm of the removed center relative to the vector per module kind
    (``module_kinds``: kind -> the pattern its modules' names match, e.g. q, k, block,
    final; mean over layers, band = min-max over layers), (b) learned attention
    temperature per layer (band = spread over heads), (c) learned adaptive strength per
    module kind, (d) attention entropy (mean over layers, band = spread over layers).
    Legends sit outside the panels, on their right."""
    runs = {v: [_columns(rows) for rows in seeds if rows] for v, seeds in stats.items()}
    runs = {v: seed_runs for v, seed_runs in runs.items() if seed_runs}
    style = styles(runs)
    fig = Figure(figsize=(20, 10.5))
    axes = fig.subplots(2, 2)
    panels = stats_panels(functools.partial(_kind_of, module_kinds))
    for ax, (prefix, group_of, title, ylabel) in zip(axes.flat, panels, strict=True):
        _stats_panel(ax, runs, prefix, group_of, style)
        ax.set(title=title, xlabel=ITER_LABEL, ylabel=ylabel)
    fig.suptitle(
        "Centering statistics over training, mean over seeds, measured on one batch:"
        " how much each variant's centering removes, and what it learns\nlegend: variant,"
        f" then module kind or layer (marker); dashed = strength-0 control (*{CONTROL_SUFFIX})"
    )
    return finish(fig)


def _seed_mean(runs: list[Run], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Iterations, NaN-ignoring mean and std over seeds of ``key``, and how many seeds:
    only runs logged at the first run's iterations (a diverged seed stops early)."""
    iters = np.asarray(runs[0]["iter"], float)
    same = [run for run in runs if np.array_equal(run["iter"], iters)]
    values = [run.get(key, np.full(len(iters), np.nan)) for run in same]
    return iters, _nanreduce(np.nanmean, values), _nanreduce(np.nanstd, values), len(same)


def _nanreduce(reduce: Callable[..., np.ndarray], values: Any) -> np.ndarray:
    """``reduce`` over axis 0, NaN where every value is NaN (without the warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return reduce(np.asarray(values, float), axis=0)


def _curve_panel(
    ax: Axes, curves: dict[str, list[Run]], key: str, cutoff: float, style: dict[str, Style]
) -> None:
    """Per variant: mean over seeds of ``key`` with a +-1 std band, from ``cutoff`` on."""
    for variant, runs in curves.items():
        iters, mean, std, n = _seed_mean(runs, key)
        keep = iters >= cutoff
        label = f"{variant} ({n}/{len(runs)} seeds)"
        ax.plot(iters[keep], mean[keep], label=label, **style[variant])
        band = (mean - std)[keep], (mean + std)[keep]
        ax.fill_between(iters[keep], *band, color=style[variant]["color"], alpha=0.15)
    ax.set(xlabel=ITER_LABEL, yscale="log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # 1.55, not 1.55 x 10^0
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.grid(alpha=0.3, which="both")


def _finals_panel(ax: Axes, finals: dict[str, list[float]], style: dict[str, Style]) -> None:
    """Per variant: a dot per run and a bar at their mean; the tick says how many runs."""
    for x, (variant, values) in enumerate(finals.items()):
        ax.scatter(np.full(len(values), x), values, color=style[variant]["color"], alpha=0.7)
        if values:
            ax.hlines(np.mean(values), x - 0.3, x + 0.3, linewidth=2, **style[variant])
    ticks = [f"{variant}\n(n={len(values)})" for variant, values in finals.items()]
    ax.set_xticks(range(len(finals)), ticks, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel=f"final val loss ({LOSS_UNIT}, full pass)")
    ax.grid(alpha=0.3, axis="y")


def _columns(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """Metric rows -> one array per key, NaN where a row lacks the key."""
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: np.array([row.get(key, np.nan) for row in rows], float) for key in keys}


def _kind_of(module_kinds: dict[str, str], key: str) -> str:
    """The kind whose pattern the module of ``key`` matches in full: with ``{"q":
    r"blocks\\.\\d+\\.attn\\.q_centering"}``, ``center_ratio/blocks.0.attn.q_centering`` ->
    ``q``; a module no pattern matches -> its name."""
    module = key.split("/", 1)[1]
    kinds = module_kinds.items()
    return next((kind for kind, form in kinds if re.fullmatch(form, module)), module)


def _layer_of(key: str) -> str:
    """``temperature/layer1/head0`` -> ``L1``."""
    return "L" + key.split("/")[1].removeprefix("layer")


def stats_panels(kind_of: Callable[[str], str]) -> tuple[tuple[Any, ...], ...]:
    """Per panel of plot_centering_stats: key prefix, legend group of a key (``kind_of``:
    its module's kind), title, y label."""
    return (
        (
            "center_ratio/",
            kind_of,
            "(a) removed center relative to the vector, per module kind\n(line: mean over"
            " layers, band: min-max over layers)",
            "‖s·c‖ / ‖x‖ (dimensionless)",
        ),
        (
            "temperature/",
            _layer_of,
            "(b) learned attention temperature per layer\n(line: mean over heads, band:"
            " min-max over heads)",
            "temperature (scale of cos(q, k) logits)",
        ),
        (
            "strength/",
            kind_of,
            "(c) learned adaptive centering strength per module kind\n(line: mean over"
            " layers, band: min-max over layers)",
            "strength s (0 = normalize only, 1 = full)",
        ),
        (
            "attention_entropy/",
            lambda _: "",
            "(d) attention entropy\n(line: mean over layers, band: min-max over layers)",
            "entropy of attention rows (nats)",
        ),
    )


def _stats_panel(
    ax: Axes,
    runs: dict[str, list[Run]],
    prefix: str,
    group_of: Callable[[str], str],
    style: dict[str, Style],
) -> None:
    """Per variant and group of ``prefix`` keys: the mean over seeds, averaged over the
    group's keys, with a min-max band over them when there are several."""
    series = [
        (variant, group_of(key), key)
        for variant, seed_runs in runs.items()
        for key in dict.fromkeys(k for run in seed_runs for k in run)
        if key.startswith(prefix)
    ]
    markers = dict(zip(dict.fromkeys(group for _, group, _ in series), cycle(MARKERS)))
    for variant, group in dict.fromkeys((variant, group) for variant, group, _ in series):
        keys = [key for v, g, key in series if (v, g) == (variant, group)]
        iters = _seed_mean(runs[variant], keys[0])[0]
        means = [_seed_mean(runs[variant], key)[1] for key in keys]
        line, drawn = _nanreduce(np.nanmean, means), style[variant]
        marker = {"marker": markers[group], "markevery": 0.1, "markersize": 4}
        ax.plot(iters, line, label=f"{variant} {group}".strip(), **marker, **drawn)
        if len(keys) > 1:
            band = _nanreduce(np.nanmin, means), _nanreduce(np.nanmax, means)
            ax.fill_between(iters, *band, color=drawn["color"], alpha=0.15)
    ax.grid(alpha=0.3)
    if not legend(ax, outside=True):
        no_data(ax, NO_DATA)
