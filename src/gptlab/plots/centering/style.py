"""What every centering figure shares: one style per variant, panel grids, legends, and the
final layout.

Within a figure every variant keeps one style: ``baseline`` black, a strength-0 control
(name ending in ``_normalized``) dashed, every other variant solid, from tab10 (tab20 when
there are more than ten).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

BASELINE = "baseline"
CONTROL_SUFFIX = "_normalized"
LOSS_UNIT = "nats/token"
ITER_LABEL = "iteration (optimizer steps)"
NO_DATA = "no variant in this suite logs this"

Style = dict[str, Any]  # color and linestyle of one variant
Cell = tuple[Axes, str, Any, list[str]]  # a panel, its row title, its column, its variants


def styles(variants: Iterable[str]) -> dict[str, Style]:
    """One style per variant, in order of first appearance (see the module docstring)."""
    others = [v for v in dict.fromkeys(variants) if v != BASELINE]
    cmap = matplotlib.colormaps["tab10" if len(others) <= 10 else "tab20"]
    drawn = {
        v: {"color": cmap(i % cmap.N), "linestyle": "--" if v.endswith(CONTROL_SUFFIX) else "-"}
        for i, v in enumerate(others)
    }
    return drawn | {BASELINE: {"color": "black", "linestyle": "-"}}


def grid(
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
        fig, axes = panel_grid(len(columns), width, height)
        cells = [(ax, "", column, variants) for ax, column in zip(axes, columns, strict=True)]
        return fig, [cells[i : i + 4] for i in range(0, len(cells), 4)]
    fig = Figure(figsize=(width * len(columns), height * len(groups) + 0.8))
    axes = fig.subplots(len(groups), len(columns), squeeze=False)
    return fig, [
        [(ax, group, column, members) for ax, column in zip(row, columns, strict=True)]
        for row, (group, members) in zip(axes, groups.items(), strict=True)
    ]


def cell_title(group: str, name: str) -> str:
    return f"{group}: {name}" if group else name


def panel_grid(n: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    """``n`` panels in rows of at most 4; the unused cells of the last row are hidden."""
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def legend(ax: Axes, outside: bool = False) -> bool:
    """A legend when the panel has labelled artists, where it covers least or, ``outside``,
    right of the axes, top-aligned; whether it had."""
    if not ax.get_legend_handles_labels()[1]:
        return False
    where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1)} if outside else {"loc": "best"}
    ax.legend(fontsize=7, **where)
    return True


def no_data(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="grey")


def finish(fig: Figure) -> Figure:
    """``fig`` after a tight layout, the suptitle pinned 0.1 in below the top edge (at its
    default y, 2% of a tall figure, it would run into the top titles)."""
    if title := fig.get_suptitle():
        fig.suptitle(title, y=1 - 0.1 / fig.get_figheight())
    fig.tight_layout()
    return fig
