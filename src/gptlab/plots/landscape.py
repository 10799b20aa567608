"""Loss-landscape figures: a 3D surface with contour lines beside a 2D heat map with levels.

``losses[i, j]`` is the loss at ``a = coords[i]`` along direction 1 and ``b = coords[j]``
along direction 2 (``gptlab.analysis.landscape.loss_surface``). Every panel puts direction 1
on x and direction 2 on y, so the surface and the heat map read the same way.

The colour and z scale is logarithmic and comes from the data (its min and max) unless
``vmin``/``vmax`` are given: a fixed range wide enough for any run (1e-4..1e2) left the
0.02..7 of a real grid as one near-uniform colour. The evolution figure uses one scale for
all its panels so epochs compare by eye; pass the same ``vmin``/``vmax`` to several figures
to compare them too.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CMAP = "viridis"
LEVELS = 11  # contour levels, evenly spaced in log loss


def loss_range(
    losses: np.ndarray, vmin: float | None = None, vmax: float | None = None
) -> tuple[float, float]:
    """Log-scale limits: ``vmin``/``vmax`` where given, else the smallest positive and the
    largest finite loss. A flat grid gets a range around its value (a log scale needs
    ``vmin < vmax``)."""
    values = np.asarray(losses, dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    low, high = (positive.min(), positive.max()) if positive.size else (1e-3, 1.0)
    if low == high:
        low, high = low / 2, high * 2
    lo = float(low if vmin is None else vmin)
    hi = float(high if vmax is None else vmax)
    if not (0 < lo < hi):
        raise ValueError(f"need 0 < vmin < vmax for a log scale, got {lo!r}, {hi!r}")
    return lo, hi


def _log_levels(vmin: float, vmax: float) -> np.ndarray:
    return np.geomspace(vmin, vmax, LEVELS)


def _grid(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) = (direction 1, direction 2) at every ``losses[i, j]``."""
    return np.meshgrid(coords, coords, indexing="ij")


def _heat_map(ax: Axes, coords: np.ndarray, losses: np.ndarray, norm: LogNorm, labels: bool):
    x, y = _grid(coords)
    clipped = np.clip(losses, norm.vmin, norm.vmax)
    mesh = ax.pcolormesh(x, y, clipped, norm=norm, cmap=CMAP, shading="gouraud")
    contours = ax.contour(x, y, clipped, levels=_log_levels(norm.vmin, norm.vmax),
                          colors="white", linewidths=0.6, alpha=0.8)  # fmt: skip
    if labels:
        ax.clabel(contours, contours.levels[1::2], fmt=lambda v: f"{v:.2g}", fontsize=7)
    ax.plot(0, 0, marker="+", color="red", ms=10, mew=2, label="current parameters")
    ax.set(xlabel="direction 1", ylabel="direction 2", aspect="equal")
    return mesh


def plot_landscape(
    coords: np.ndarray,
    losses: np.ndarray,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """3D surface and heat map of ``losses[i, j]`` at (direction 1, direction 2) =
    (coords[i], coords[j]), on a log scale from ``vmin`` to ``vmax`` (default: the data's)."""
    vmin, vmax = loss_range(losses, vmin, vmax)
    norm = LogNorm(vmin, vmax)
    x, y = _grid(coords)
    z = np.log10(np.clip(losses, vmin, vmax))
    floor, ceiling = np.log10(vmin), np.log10(vmax)
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax3d = fig.add_subplot(1, 2, 1, projection="3d")
    ax3d.plot_surface(x, y, z, cmap=CMAP, vmin=floor, vmax=ceiling, linewidth=0, alpha=0.9)
    ax3d.contour(x, y, z, levels=np.log10(_log_levels(vmin, vmax)), cmap=CMAP, offset=floor,
                 vmin=floor, vmax=ceiling)  # fmt: skip
    ax3d.set(xlabel="direction 1", ylabel="direction 2", zlabel="log10 training loss",
             zlim=(floor, ceiling), title="surface")  # fmt: skip
    for axis in (ax3d.xaxis, ax3d.yaxis):
        axis.set_major_locator(MaxNLocator(5))  # the default 9 overlap on the slanted axes
    ax = fig.add_subplot(1, 2, 2)
    mesh = _heat_map(ax, coords, losses, norm, labels=True)
    ax.set_title("heat map")
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(mesh, ax=ax, label="training loss (log scale)")
    fig.suptitle(title)
    return fig


def pick_epochs(epochs: list[int], panels: int) -> list[int]:
    """Indices of up to ``panels`` epochs spaced evenly in log-epoch (the phases of grokking
    are spread over orders of magnitude)."""
    targets = np.geomspace(max(epochs[0], 1), max(epochs[-1], 1), panels)
    log_epochs = np.log(np.maximum(np.array(epochs), 1))
    return sorted({int(np.abs(log_epochs - np.log(t)).argmin()) for t in targets})


def plot_landscape_evolution(
    coords: np.ndarray,
    losses: np.ndarray,
    epochs: list[int],
    title: str = "",
    panels: int = 6,
    vmin: float | None = None,
    vmax: float | None = None,
    titles: list[str] | None = None,
) -> Figure:
    """Heat maps of ``losses`` (N, R, R) at up to ``panels`` of the N ``epochs``, spaced
    evenly in log-epoch, all on one log colour scale (default: min and max of the shown
    panels) with one colour bar.

    ``titles``: one per epoch (N of them, e.g. ``"epoch 1200\\ntrain 1.00, test 0.31"``),
    used as the titles of the panels that are shown; default ``"epoch E"``.
    """
    if titles is not None and len(titles) != len(epochs):
        raise ValueError(f"{len(titles)} titles for {len(epochs)} epochs")
    picks = pick_epochs(epochs, panels)
    vmin, vmax = loss_range(losses[picks], vmin, vmax)
    norm = LogNorm(vmin, vmax)
    # width fitted to square panels, so the colour bar sits next to them, not apart
    fig = Figure(figsize=(2.5 * len(picks) + 1.4, 3.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(picks), sharex=True, sharey=True))
    for ax, i in zip(axes, picks, strict=True):
        mesh = _heat_map(ax, coords, losses[i], norm, labels=False)
        ax.set_title(titles[i] if titles is not None else f"epoch {epochs[i]}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(5))
    for ax in axes[1:]:
        ax.set_ylabel("")  # shared y axis: the first panel names it
    fig.colorbar(mesh, ax=axes.tolist(), shrink=0.8, pad=0.01, label="training loss (log scale)")
    fig.suptitle(f"loss landscape over training — {title}" if title else "loss landscape")
    return fig
