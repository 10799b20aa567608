"""Figures of a grokking run: learning curves and attention maps per head.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so they
render on headless machines and in threads; the caller saves or logs them.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

TOKENS = ("x", "y", "=")
_ARM_COLORS = ("tab:green", "tab:red", "tab:gray", "tab:blue", "tab:orange", "tab:purple")


def plot_curves(
    rows: list[dict[str, Any]],
    memorized_epoch: int | None,
    generalized_epoch: int | None,
    title: str = "",
    spike_epochs: list[int] | None = None,
    stable_epoch: int | None = None,
) -> Figure:
    """Accuracy and loss vs epoch (log x), with the memorization and generalization epochs.

    ``spike_epochs`` (thin purple lines): where train-loss spikes start; ``stable_epoch``
    (green dash-dot): from where the test accuracy stays generalized to the end, which after
    spikes is later than the first ``generalized_epoch`` (``gptlab.analysis.stability``).
    """
    epoch = np.array([r["epoch"] for r in rows])
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    acc, loss = fig.subplots(1, 2)
    acc.plot(epoch, [r["train_acc"] for r in rows], label="train", color="tab:blue")
    acc.plot(epoch, [r["test_acc"] for r in rows], label="test", color="tab:red")
    unmirrored = [r["test_acc_unmirrored"] for r in rows]
    if rows and unmirrored[0] is not None and unmirrored != [r["test_acc"] for r in rows]:
        acc.plot(epoch, unmirrored, label="test, mirror not in train", color="tab:orange", ls=":")
    acc.set(ylabel="accuracy", ylim=(-0.02, 1.02), title="accuracy")
    loss.plot(epoch, [r["train_loss"] for r in rows], label="train", color="tab:blue")
    loss.plot(epoch, [r["test_loss"] for r in rows], label="test", color="tab:red")
    loss.set(ylabel="cross-entropy", yscale="log", title="loss")
    for ax in (acc, loss):
        ax.set(xscale="log", xlabel="epoch")
        ax.grid(True, which="both", alpha=0.3)
        _mark_epochs(ax, memorized_epoch, generalized_epoch, spike_epochs or [], stable_epoch)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_accuracy_by_arm(arms: dict[str, list[list[dict[str, Any]]]], title: str = "") -> Figure:
    """Train (dashed) and test (solid) accuracy against optimizer step (log x), one thin
    line per seed and one colour per arm, so arms of a side-by-side benchmark compare."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for (name, seeds), color in zip(arms.items(), cycle(_ARM_COLORS)):  # every arm drawn
        for k, rows in enumerate(seeds):
            step = [r["step"] for r in rows]
            label = f"{name}, {len(seeds)} seed{'s' * (len(seeds) != 1)}" if k == 0 else None
            ax.plot(step, [r["test_acc"] for r in rows], color=color, lw=1, label=label)
            ax.plot(step, [r["train_acc"] for r in rows], color=color, lw=0.8, ls="--")
    ax.set(xscale="log", xlabel="optimizer step", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.set_title(title + "\nsolid: test accuracy, dashed: train accuracy", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _mark_epochs(
    ax: Axes,
    memorized: int | None,
    generalized: int | None,
    spikes: list[int],
    stable: int | None,
) -> None:
    for marked, name, color in ((memorized, "memorized", "tab:blue"),
                                (generalized, "generalized", "tab:red")):  # fmt: skip
        if marked is not None:
            ax.axvline(marked, color=color, ls="--", lw=1, label=f"{name} @ {marked}")
    if stable is not None:
        ax.axvline(stable, color="tab:green", ls="-.", lw=1.5, label=f"stable from {stable}")
    for k, spike in enumerate(spikes):
        # one legend entry for all spikes: there can be dozens
        label = f"train-loss spike ({len(spikes)})" if k == 0 else None
        ax.axvline(spike, color="tab:purple", lw=0.8, alpha=0.8, zorder=1, label=label)


def plot_attention(mean: np.ndarray, on_x: np.ndarray, title: str = "") -> Figure:
    """Per layer and head: the mean attention pattern (query x key) and, for every input
    pair, the weight the ``=`` token puts on ``x`` (the rest goes to ``y`` and ``=``).

    ``mean``: (L, nh, 3, 3); ``on_x``: (L, nh, p, p) indexed [x, y].
    """
    n_layers, n_heads = mean.shape[:2]
    fig = Figure(figsize=(2.6 * n_heads + 1, 5.2 * n_layers), layout="constrained")
    axes = np.array(fig.subplots(2 * n_layers, n_heads, squeeze=False))
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[2 * layer, head]
            pattern = ax.imshow(mean[layer, head], vmin=0, vmax=1, cmap="Blues")
            for (q, k), w in np.ndenumerate(mean[layer, head]):
                ax.text(k, q, f"{w:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if w > 0.6 else "black")  # fmt: skip
            ax.set_xticks(range(3), TOKENS)
            ax.set_yticks(range(3), TOKENS)
            ax.set_title(f"layer {layer} head {head}\nmean pattern", fontsize=9)
            ax.set_xlabel("key", fontsize=8)
            ax.set_ylabel("query", fontsize=8)
            ax = axes[2 * layer + 1, head]
            weights = ax.imshow(on_x[layer, head], vmin=0, vmax=1, cmap="viridis", origin="lower")
            ax.set_title("'=' attends to x", fontsize=9)
            ax.set_xlabel("y", fontsize=8)
            ax.set_ylabel("x", fontsize=8)
        fig.colorbar(pattern, ax=axes[2 * layer, :].tolist(), shrink=0.8, label="weight")
        fig.colorbar(weights, ax=axes[2 * layer + 1, :].tolist(), shrink=0.8, label="weight on x")
    fig.suptitle(title)
    return fig


def plot_attention_evolution(
    maps: list[np.ndarray],
    epochs: list[int],
    titles: list[str] | None = None,
    title: str = "",
) -> Figure:
    """Where the ``=`` token looks, over training: one panel per layer and head (rows),
    one column per epoch, each cell the weights the ``=`` query puts on the keys x, y, =.

    ``maps``: one mean attention (L, nh, 3, 3) per epoch, as
    ``gptlab.analysis.attention.attention_maps()[0]`` returns.
    Only the ``=`` row is drawn: attention is causal, so the x row is always [1, 0, 0] and
    the answer is read at ``=``. One colour scale, 0..1 (weights of a softmax), for all.
    ``titles``: one label per epoch (e.g. ``"epoch 1200\ntest 0.31"``); default the epoch.
    """
    if len(maps) != len(epochs) or (titles is not None and len(titles) != len(epochs)):
        raise ValueError(f"{len(maps)} maps, {len(epochs)} epochs and titles must match")
    rows = np.stack([m[:, :, 2, :] for m in maps], axis=-1)  # (L, nh, key, epoch)
    n_layers, n_heads = rows.shape[:2]
    labels = titles if titles is not None else [str(e) for e in epochs]
    fig = Figure(figsize=(max(6.0, 0.9 * len(epochs) + 2.5), 1.25 * n_layers * n_heads + 1.2),
                 layout="constrained")  # fmt: skip
    axes = np.array(fig.subplots(n_layers * n_heads, 1, sharex=True, squeeze=False))[:, 0]
    for ax, (layer, head) in zip(axes, np.ndindex(n_layers, n_heads), strict=True):
        image = ax.imshow(rows[layer, head], vmin=0, vmax=1, cmap="Blues", aspect="auto")
        if len(epochs) <= 20:  # numbers stay legible up to about this many columns
            for (k, e), w in np.ndenumerate(rows[layer, head]):
                ax.text(e, k, f"{w:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if w > 0.6 else "black")  # fmt: skip
        ax.set_yticks(range(3), TOKENS)
        ax.set_ylabel(f"layer {layer} head {head}\nkey", fontsize=8)
    axes[-1].set_xticks(range(len(epochs)), labels, fontsize=7)
    axes[-1].set_xlabel("epoch")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="attention of '=' on key")
    fig.suptitle(title or "attention of the '=' token over training")
    return fig
