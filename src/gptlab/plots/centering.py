"""Figures of the centering lab: loss per variant, effect sizes, what centering learns and
what it does to vectors.

Within a figure every variant keeps one style: ``baseline`` black, a strength-0 control
(name ending in ``_normalized``) dashed, every other variant solid, from tab10 (tab20 when
there are more than ten).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import LogFormatter, MaxNLocator  # noqa: E402

BASELINE = "baseline"
CONTROL_SUFFIX = "_normalized"
LOSS_UNIT = "nats/token"
ITER_LABEL = "iteration (optimizer steps)"
NO_DATA = "no variant in this suite logs this"
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")
MODULE_KINDS = (  # kind of centering module: name pattern
    ("q", r"blocks\.\d+\.attn\.q_centering"),
    ("k", r"blocks\.\d+\.attn\.k_centering"),
    ("block out", r"blocks\.\d+\.centering"),
    ("final", r"final_centering"),
)
QK_SETS = (".q", ".k")  # name endings of the query and key vector sets of plot_geometry

Run = dict[str, Sequence[float]]  # one seed's columns: "iter" and logged values
Style = dict[str, Any]  # color and linestyle of one variant
Cell = tuple[Axes, str, Any, list[str]]  # a panel, its row title, its column, its variants


def plot_comparison(
    curves: dict[str, list[dict[str, list[float]]]],
    finals: dict[str, list[float]],
    groups: dict[str, list[str]],
    path: Path | str,
) -> None:
    """centering_comparison.png: one column per group of variants (baseline, its
    strength-0 control, its centered variants). Rows: train loss and val loss over the
    second half of training (random-batch estimates, mean over seeds with a +-1 std band,
    log y), and the final full-pass val loss of every finished run (dots, bar = mean)."""
    drawn = [v for v in dict.fromkeys(v for vs in groups.values() for v in vs) if curves.get(v)]
    styles = _styles(drawn)
    cutoff = (
        max((run["iter"][-1] for v in drawn for run in curves[v] if run["iter"]), default=0) / 2
    )
    # never narrower than the two-line suptitle
    width = max(5.5 * len(groups), 11.0)
    fig, axes = plt.subplots(3, len(groups), figsize=(width, 12), squeeze=False)
    for column, (group, variants) in zip(axes.T, groups.items(), strict=True):
        shown = [v for v in variants if v in drawn]
        for ax, split in zip(column[:2], ("train", "val"), strict=True):
            _curve_panel(ax, {v: curves[v] for v in shown}, f"{split}_loss", cutoff, styles)
            ax.set_title(f"{group}\n{split} loss, zoomed to 2nd half (iter ≥ {cutoff:g})")
            ax.set_ylabel(f"{split} loss ({LOSS_UNIT}, random batches)")
        _legend(column[0])
        _finals_panel(column[2], {v: finals.get(v, []) for v in shown}, styles)
        column[2].set_title(f"{group}\nfinal full-pass val loss per run (bar = mean)")
    fig.suptitle(
        "Centering variants vs baseline (black), one column per group; dashed = strength-0"
        f" control (*{CONTROL_SUFFIX})\nrows 1-2: loss over training, mean +- 1 std over"
        " seeds; row 3: final validation loss of each finished run"
    )
    _save(fig, path)


def plot_effects(contrasts: list[dict[str, Any]], path: Path | str) -> None:
    """centering_effects.png: forest plot, one panel per contrast family. Per contrast: the
    mean difference in final val loss (treatment - control) with its 95% CI, filled when
    significant after Holm correction (p < 0.05), the Holm p at the right, and the
    +-minimum detectable effect as grey ticks; left of zero = treatment better."""
    families: dict[str, list[dict[str, Any]]] = {}
    for contrast in contrasts:
        families.setdefault(contrast["family"], []).append(contrast)
    fig, axes = plt.subplots(
        len(families),
        1,
        figsize=(10, 1.6 * len(families) + 0.45 * len(contrasts)),
        sharex=True,
        squeeze=False,
        height_ratios=[len(rows) + 1 for rows in families.values()],
    )
    for ax, (family, rows) in zip(axes[:, 0], families.items(), strict=True):
        _forest_panel(ax, rows)
        ax.set_title(family)
    axes[-1, 0].set_xlabel("Δ final val loss (treatment − control; negative = treatment better)")
    axes[0, 0].legend(handles=_forest_legend(), fontsize=7, loc="best")
    fig.suptitle(
        f"Effect on final full-pass val loss ({LOSS_UNIT}): mean difference over seeds,"
        " 95% CI, Holm-corrected p"
    )
    _save(fig, path)


def plot_centering_stats(stats: dict[str, list[list[dict[str, float]]]], path: Path | str) -> None:
    """centering_stats.png: what each variant's centering does over training, mean over
    seeds: (a) norm of the removed center relative to the vector per module kind (q, k,
    block out, final; mean over layers, band = min-max over layers), (b) learned attention
    temperature per layer (band = spread over heads), (c) learned adaptive strength per
    module kind, (d) attention entropy (mean over layers, band = spread over layers).
    Legends sit outside the panels, on their right."""
    runs = {v: [_columns(rows) for rows in seeds if rows] for v, seeds in stats.items()}
    runs = {v: seed_runs for v, seed_runs in runs.items() if seed_runs}
    styles = _styles(runs)
    fig, axes = plt.subplots(2, 2, figsize=(20, 10.5))
    for ax, (prefix, group_of, title, ylabel) in zip(axes.flat, STATS_PANELS, strict=True):
        _stats_panel(ax, runs, prefix, group_of, styles)
        ax.set(title=title, xlabel=ITER_LABEL, ylabel=ylabel)
    fig.suptitle(
        "Centering statistics over training, mean over seeds, measured on one batch:"
        " how much each variant's centering removes, and what it learns\nlegend: variant,"
        f" then module kind or layer (marker); dashed = strength-0 control (*{CONTROL_SUFFIX})"
    )
    _save(fig, path)


def plot_distributions(
    distributions: dict[str, dict[str, np.ndarray]],
    path: Path | str,
    xlabel: str,
    value_range: tuple[float, float],
    title: str,
    groups: dict[str, list[str]] | None = None,
) -> None:
    """qk_angles.png, similarity.png: per panel (e.g. a layer), the distribution of a
    per-pair value (angle, cosine similarity) for each variant as a density step
    histogram (60 bins over ``value_range``, log y: cosines pile up near 1), the variant's
    mean in its legend label. Without ``groups``, one panel per key of ``distributions``
    with every variant, in rows of at most 4; with ``groups`` (row title -> variants), one
    row per group and one column per key, each panel with that group's variants."""
    variants = list(dict.fromkeys(v for by_variant in distributions.values() for v in by_variant))
    styles = _styles(variants)
    bins = np.linspace(*value_range, 61)
    fig, rows = _grid(list(distributions), variants, groups, 6.5, 3.8)
    for ax, group, panel, members in (cell for row in rows for cell in row):
        shown = {v: distributions[panel][v] for v in members if v in distributions[panel]}
        _histogram_panel(ax, shown, bins, styles)
        ylabel = "density (per unit of x, log scale)"
        ax.set(title=_cell_title(group, panel), xlabel=xlabel, ylabel=ylabel, xlim=value_range)
        if not _legend(ax, outside=True):
            _no_data(ax, "no finite values")
    fig.suptitle(title)
    _save(fig, path)


def plot_geometry(
    summary: dict[str, dict[str, dict[str, dict[str, float]]]],
    measures: list[tuple[str, str]],
    path: Path | str,
    title: str,
    groups: dict[str, list[str]] | None = None,
) -> None:
    """centering_test_results.png: one panel per geometry measure; per vector set (layer)
    on x, residual-stream sets left of the Q/K sets (names ending in ``.q``/``.k``) behind
    a dotted separator, each variant's mean over seeds with its 95% CI, variants dodged
    side by side. Without ``groups``, every variant in every panel, in rows of at most 4;
    with ``groups`` (row title -> variants), one row per group and one column per measure,
    each row with that group's variants and its own legend."""
    styles = _styles(summary)
    positions = _set_positions(summary)
    fig, rows = _grid(measures, list(summary), groups, 5.5, 4.2)
    for row in rows:
        for ax, group, (key, measure), members in row:
            shown = {v: summary[v] for v in members if v in summary}
            _geometry_panel(ax, shown, key, positions, styles)
            ax.set_title(_cell_title(group, measure), pad=14)
            ax.set(xlabel="vector set (layer)", ylabel=measure)
        _legend(row[-1][0], outside=True)
    fig.suptitle(
        f"{title}\nmean over seeds, bars = 95% CI (no bar: one seed);"
        f" dashed = strength-0 control (*{CONTROL_SUFFIX})"
    )
    _save(fig, path)


def _styles(variants: Iterable[str]) -> dict[str, Style]:
    """One style per variant, in order of first appearance (see the module docstring)."""
    others = [v for v in dict.fromkeys(variants) if v != BASELINE]
    cmap = plt.get_cmap("tab10" if len(others) <= 10 else "tab20")
    styles = {
        v: {"color": cmap(i % cmap.N), "linestyle": "--" if v.endswith(CONTROL_SUFFIX) else "-"}
        for i, v in enumerate(others)
    }
    return styles | {BASELINE: {"color": "black", "linestyle": "-"}}


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
    ax: Axes, curves: dict[str, list[Run]], key: str, cutoff: float, styles: dict[str, Style]
) -> None:
    """Per variant: mean over seeds of ``key`` with a +-1 std band, from ``cutoff`` on."""
    for variant, runs in curves.items():
        iters, mean, std, n = _seed_mean(runs, key)
        keep = iters >= cutoff
        label = f"{variant} ({n}/{len(runs)} seeds)"
        ax.plot(iters[keep], mean[keep], label=label, **styles[variant])
        band = (mean - std)[keep], (mean + std)[keep]
        ax.fill_between(iters[keep], *band, color=styles[variant]["color"], alpha=0.15)
    ax.set(xlabel=ITER_LABEL, yscale="log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # 1.55, not 1.55 x 10^0
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.grid(alpha=0.3, which="both")


def _finals_panel(ax: Axes, finals: dict[str, list[float]], styles: dict[str, Style]) -> None:
    """Per variant: a dot per run and a bar at their mean; the tick says how many runs."""
    for x, (variant, values) in enumerate(finals.items()):
        ax.scatter(np.full(len(values), x), values, color=styles[variant]["color"], alpha=0.7)
        if values:
            ax.hlines(np.mean(values), x - 0.3, x + 0.3, linewidth=2, **styles[variant])
    ticks = [f"{variant}\n(n={len(values)})" for variant, values in finals.items()]
    ax.set_xticks(range(len(finals)), ticks, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel=f"final val loss ({LOSS_UNIT}, full pass)")
    ax.grid(alpha=0.3, axis="y")


def _forest_panel(ax: Axes, rows: list[dict[str, Any]]) -> None:
    """One row per contrast, top to bottom; what is not finite is left out."""
    for y, row in enumerate(rows):
        mean, low, high, p, mde = (row[k] for k in ("mean", "low", "high", "holm_p", "mde"))
        if np.isfinite([low, high]).all():
            ax.hlines(y, low, high, color="tab:blue", linewidth=2)
        if np.isfinite(mde):
            ax.plot([-mde, mde], [y, y], "|", color="grey", markersize=12)
        if np.isfinite(mean):
            face = "tab:blue" if p < 0.05 else "white"
            ax.plot(mean, y, "o", color="tab:blue", markerfacecolor=face, markersize=8, zorder=3)
        note = f"Holm p = {p:.2g}" if np.isfinite(p) else "Holm p: n/a"
        ax.text(1.01, y, note, transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [row["label"] for row in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(alpha=0.3, axis="x")


def _forest_legend() -> list[Line2D]:
    marker = {"marker": "o", "color": "tab:blue", "linestyle": "none"}
    return [
        Line2D([], [], **marker, label="mean, Holm p < 0.05"),
        Line2D([], [], **marker, markerfacecolor="white", label="mean, not significant"),
        Line2D([], [], color="tab:blue", linewidth=2, label="95% CI"),
        Line2D([], [], marker="|", color="grey", linestyle="none", label="± min. detectable"),
    ]


def _columns(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """Metric rows -> one array per key, NaN where a row lacks the key."""
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: np.array([row.get(key, np.nan) for row in rows], float) for key in keys}


def _kind_of(key: str) -> str:
    """``center_ratio/blocks.0.attn.q_centering`` -> ``q`` (``k`` likewise);
    ``blocks.2.centering`` -> ``block out``; ``final_centering`` -> ``final``; any other
    module -> its name."""
    module = key.split("/", 1)[1]
    return next((kind for kind, form in MODULE_KINDS if re.fullmatch(form, module)), module)


def _layer_of(key: str) -> str:
    """``temperature/layer1/head0`` -> ``L1``."""
    return "L" + key.split("/")[1].removeprefix("layer")


# per panel of plot_centering_stats: key prefix, legend group of a key, title, y label
STATS_PANELS = (
    (
        "center_ratio/",
        _kind_of,
        "(a) removed center relative to the vector, per module kind\n(line: mean over layers,"
        " band: min-max over layers)",
        "‖s·c‖ / ‖x‖ (dimensionless)",
    ),
    (
        "temperature/",
        _layer_of,
        "(b) learned attention temperature per layer\n(line: mean over heads, band: min-max"
        " over heads)",
        "temperature (scale of cos(q, k) logits)",
    ),
    (
        "strength/",
        _kind_of,
        "(c) learned adaptive centering strength per module kind\n(line: mean over layers,"
        " band: min-max over layers)",
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
    styles: dict[str, Style],
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
        line, style = _nanreduce(np.nanmean, means), styles[variant]
        marker = {"marker": markers[group], "markevery": 0.1, "markersize": 4}
        ax.plot(iters, line, label=f"{variant} {group}".strip(), **marker, **style)
        if len(keys) > 1:
            band = _nanreduce(np.nanmin, means), _nanreduce(np.nanmax, means)
            ax.fill_between(iters, *band, color=style["color"], alpha=0.15)
    ax.grid(alpha=0.3)
    if not _legend(ax, outside=True):
        _no_data(ax, NO_DATA)


def _histogram_panel(
    ax: Axes, values: dict[str, np.ndarray], bins: np.ndarray, styles: dict[str, Style]
) -> None:
    """Per variant: a density step histogram of its finite values, its mean in the label;
    log y, so that a pile-up near one value does not flatten the rest."""
    for variant, raw in values.items():
        finite = np.asarray(raw, float)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            label = f"{variant} (mean {finite.mean():.3g})"
            ax.hist(finite, bins, density=True, histtype="step", label=label, **styles[variant])
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
    styles: dict[str, Style],
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
            ax.errorbar(x, mean, yerr, marker="o", capsize=3, label=label, **styles[variant])
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
        _no_data(ax, "no variant of this group in the data")


def _grid(
    columns: Sequence[Any],
    variants: list[str],
    groups: dict[str, list[str]] | None,
    width: float,
    height: float,
) -> tuple[Figure, list[list[Cell]]]:
    """The panels of a figure as rows of cells. Without ``groups``: one panel per column
    in rows of at most 4, each with every variant and no row title; with ``groups``: one
    row per group (its title), one panel per column, each with the group's variants."""
    if not groups:
        fig, axes = _panel_grid(len(columns), width, height)
        cells = [(ax, "", column, variants) for ax, column in zip(axes, columns, strict=True)]
        return fig, [cells[i : i + 4] for i in range(0, len(cells), 4)]
    size = (width * len(columns), height * len(groups) + 0.8)
    fig, axes = plt.subplots(len(groups), len(columns), figsize=size, squeeze=False)
    return fig, [
        [(ax, group, column, members) for ax, column in zip(row, columns, strict=True)]
        for row, (group, members) in zip(axes, groups.items(), strict=True)
    ]


def _cell_title(group: str, name: str) -> str:
    return f"{group}: {name}" if group else name


def _panel_grid(n: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    """``n`` panels in rows of at most 4; the unused cells of the last row are hidden."""
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    size = (width * cols, height * rows + 0.8)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _legend(ax: Axes, outside: bool = False) -> bool:
    """A legend when the panel has labelled artists, where it covers least or, ``outside``,
    right of the axes, top-aligned; whether it had."""
    if not ax.get_legend_handles_labels()[1]:
        return False
    where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if outside else {"loc": "best"}
    ax.legend(fontsize=7, **where)
    return True


def _no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")


def _save(fig: Figure, path: Path | str) -> None:
    """Written at 110 dpi after a tight layout, the suptitle pinned 0.1 in below the top
    edge (at its default y, 2% of a tall figure, it would run into the top titles)."""
    if title := fig.get_suptitle():
        fig.suptitle(title, y=1 - 0.1 / fig.get_figheight())
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
