"""The centering suite's effect sizes: a forest plot of its paired contrasts."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gptlab.plots.centering.style import LOSS_UNIT, finish


def plot_effects(contrasts: list[dict[str, Any]]) -> Figure:
    """centering_effects.png: forest plot, one panel per contrast family. Per contrast: the
    mean difference in final val loss (treatment - control) with its 95% CI, filled when
    significant after Holm correction (p < 0.05), the Holm p at the right, and the
    +-minimum detectable effect as grey ticks; left of zero = treatment better."""
    families: dict[str, list[dict[str, Any]]] = {}
    for contrast in contrasts:
        families.setdefault(contrast["family"], []).append(contrast)
    fig = Figure(figsize=(10, 1.6 * len(families) + 0.45 * len(contrasts)))
    axes = fig.subplots(
        len(families),
        1,
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
    return finish(fig)


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
