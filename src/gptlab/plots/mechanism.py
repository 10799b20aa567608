"""Figures of a grokking run's mechanism (see :mod:`gptlab.experiments.grokking.mechanism`):
sharpness under the accuracy curves, the Fourier spectrum of the embedding over training
with restricted / excluded loss, and the training path on its trajectory-PCA landscape.

``rows`` are the run's metrics.jsonl rows, ``result`` the dict ``analyze`` writes to
mechanism.json, ``marks`` the (memorized, generalized) epochs, None when never.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

Marks = tuple[int | None, int | None]


def _mark(ax, marks: Marks) -> None:
    styles = (("memorized", "tab:blue"), ("generalized", "tab:red"))
    for epoch, (label, color) in zip(marks, styles, strict=True):
        if epoch is not None:
            ax.axvline(epoch, color=color, ls="--", lw=1, alpha=0.7, label=f"{label} ({epoch})")


def _accuracy(ax, rows: list[dict[str, Any]], marks: Marks) -> None:
    epoch = [r["epoch"] for r in rows]
    ax.plot(epoch, [r["train_acc"] for r in rows], color="tab:blue", label="train")
    ax.plot(epoch, [r["test_acc"] for r in rows], color="tab:red", label="test")
    _mark(ax, marks)
    ax.set_ylabel("accuracy")
    ax.set_xscale("log")
    ax.legend(fontsize=8, loc="center left")


def plot_sharpness(rows: list[dict[str, Any]], result: dict[str, Any], marks: Marks) -> Figure:
    """Accuracy, then the top Hessian eigenvalue and the Hutchinson trace of the training
    loss, on one epoch axis: is the minimum sharp early and flat when the run generalizes?"""
    fig = Figure(figsize=(8, 8), layout="constrained")
    acc, top, trace = fig.subplots(3, 1, sharex=True)
    _accuracy(acc, rows, marks)
    epochs = result["epochs"]
    top.plot(epochs, result["sharpness"]["hessian_top_eig"], "o-", ms=3, color="tab:purple")
    top.set_ylabel("top Hessian eigenvalue\n(Lanczos)")
    trace.plot(epochs, result["sharpness"]["hessian_trace"], "o-", ms=3, color="tab:green")
    trace.set_ylabel("Hessian trace\n(Hutchinson)")
    for ax, key in ((top, "hessian_top_eig"), (trace, "hessian_trace")):
        _value_scale(ax, result["sharpness"][key])
        _mark(ax, marks)
    trace.set_xlabel("epoch")
    fig.suptitle("sharpness of the training loss over training")
    return fig


def _value_scale(ax, values: list[float]) -> None:
    """Log scale, or symlog where an estimate dips to or below zero (a Hutchinson trace can,
    and so can the top eigenvalue away from a minimum)."""
    if min(values) > 0:
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=max(abs(v) for v in values) * 1e-3)


def plot_mechanism(rows: list[dict[str, Any]], result: dict[str, Any], marks: Marks) -> Figure:
    """Embedding norm per frequency over training (heat map), the final logits' energy per
    frequency of x + y with the key frequencies, and train / test / restricted / excluded
    loss on log scales."""
    fig = Figure(figsize=(14, 4.5), layout="constrained")
    heat, spectrum, losses = fig.subplots(1, 3)
    _frequency_norms(heat, result)
    _key_frequencies(spectrum, result["fourier"])
    _progress_measures(losses, rows, result, marks)
    return fig


def _frequency_norms(heat, result: dict[str, Any]) -> None:
    fourier, epochs = result["fourier"], result["epochs"]
    norms = np.array(fourier["frequency_norms"])  # (T, p // 2 + 1)
    image = heat.pcolormesh(
        np.arange(len(epochs) + 1), np.arange(norms.shape[1] + 1) - 0.5, norms.T, cmap="viridis"
    )
    ticks = np.linspace(0, len(epochs) - 1, min(6, len(epochs))).astype(int)
    heat.set_xticks(ticks + 0.5, [str(epochs[i]) for i in ticks])
    heat.set_xlabel("epoch (snapshot)")
    heat.set_ylabel("frequency k")
    heat.set_title("token embedding: norm per frequency")
    heat.figure.colorbar(image, ax=heat)


def _key_frequencies(spectrum, fourier: dict[str, Any]) -> None:
    keys = fourier["key_frequencies"]
    energy = np.array(fourier["logit_frequency_energy"])
    energy = energy / max(energy.sum(), 1e-30)
    colors = ["tab:red" if k in keys else "tab:gray" for k in range(len(energy))]
    spectrum.bar(range(len(energy)), energy, color=colors)
    spectrum.set_xlabel("frequency k")
    spectrum.set_ylabel("share of the energy along cos/sin(w_k(x+y))")
    spectrum.set_title(
        f"final logits along cos/sin(w_k (x+y))\nkey frequencies {keys} "
        f"(red: {fourier['key_share']:.0%} of it)",
        fontsize=9,
    )


def _progress_measures(
    losses, rows: list[dict[str, Any]], result: dict[str, Any], marks: Marks
) -> None:
    fourier, epochs = result["fourier"], result["epochs"]
    epoch = [r["epoch"] for r in rows]
    losses.plot(epoch, [r["train_loss"] for r in rows], color="tab:blue", label="train")
    losses.plot(epoch, [r["test_loss"] for r in rows], color="tab:red", label="test")
    losses.plot(
        epochs,
        fourier["restricted_loss"],
        "o-",
        ms=3,
        color="tab:green",
        label="restricted (key freqs only)",
    )
    losses.plot(
        epochs,
        fourier["excluded_loss"],
        "o-",
        ms=3,
        color="tab:orange",
        label="excluded (train, key freqs removed)",
    )
    _mark(losses, marks)
    losses.set_xscale("log")
    losses.set_yscale("log")
    losses.set_xlabel("epoch")
    losses.set_title("progress measures (Nanda et al. 2023)")
    losses.legend(fontsize=7)


def plot_trajectory(result: dict[str, Any], marks: Marks) -> Figure:
    """Train and test loss on the trajectory-PCA plane, with the training path drawn on it
    (colour = epoch) and the snapshots nearest memorization and generalization marked."""
    trajectory, epochs = result["trajectory"], np.array(result["epochs"])
    grid, path = np.array(trajectory["grid"]), np.array(trajectory["path"])
    explained = trajectory["explained_variance"]
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    for ax, split in zip(fig.subplots(1, 2), ("train", "test"), strict=True):
        loss = np.array(trajectory[f"{split}_loss"])
        levels = np.geomspace(max(loss.min(), 1e-6), loss.max(), 16)
        contour = ax.contourf(
            grid[..., 0], grid[..., 1], loss, levels, norm=LogNorm(), cmap="viridis_r"
        )
        fig.colorbar(contour, ax=ax, label=f"{split} loss", format="%.3g")
        line = ax.scatter(
            path[:, 0],
            path[:, 1],
            c=epochs,
            cmap="autumn",
            s=12,
            zorder=3,
            norm=LogNorm(max(epochs.min(), 1), epochs.max()),
        )
        ax.plot(path[:, 0], path[:, 1], color="white", lw=0.8, zorder=2)
        for epoch, label in zip(marks, ("memorized", "generalized"), strict=True):
            if epoch is not None:
                i = int(np.abs(epochs - epoch).argmin())
                ax.annotate(
                    label,
                    path[i],
                    color="white",
                    fontsize=8,
                    xytext=(5, 5),
                    textcoords="offset points",
                )
        ax.annotate("end", path[-1], color="white", fontsize=8)
        ax.set_xlabel(f"PC1 ({explained[0]:.0%} of path variance)")
        ax.set_ylabel(f"PC2 ({explained[1]:.0%})")
        ax.set_title(f"{split} loss on the trajectory plane")
    fig.colorbar(line, ax=ax, label="epoch")
    return fig
