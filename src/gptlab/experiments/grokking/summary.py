"""A grokking run's summary from its metrics rows: when it memorized, when it first and
stably generalized (``gptlab.analysis.stability``), and what the monitors cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gptlab.analysis.stability import generalization_stability
from gptlab.experiments.grokking.evaluate import GENERALIZED, MEMORIZED, first_epoch
from gptlab.train.lifecycle import Counters


def summarize(
    rows: list[dict[str, Any]], counters: Counters, timers: dict[str, float]
) -> dict[str, Any]:
    """``generalized_epoch`` is the first evaluation at test accuracy >= 0.99;
    ``stable_generalized_epoch`` the first from which it stays there."""
    wall = max(counters.wall_s, 1e-9)
    memorized = first_epoch(rows, "train_acc", MEMORIZED)
    generalized = first_epoch(rows, "test_acc", GENERALIZED)
    stability = generalization_stability(rows, "test_acc", GENERALIZED)
    stable = next((r for r in rows if r["epoch"] == stability["stable_generalized_epoch"]), None)
    return {
        "epochs_completed": counters.unit,
        "final": rows[-1] if rows else None,
        "memorized_epoch": memorized and memorized["epoch"],
        **stability,
        "stable_generalized_epoch_unmirrored": stable_unmirrored(rows),
        "memorized_time_s": memorized and memorized["time_s"],
        "generalized_time_s": generalized and generalized["time_s"],
        "stable_generalized_time_s": stable and stable["time_s"],
        "wall_time_s": counters.wall_s,
        "landscape_time_s": timers["landscape"],
        "landscape_share": timers["landscape"] / wall,
        "render_time_s": timers["render"],
        "render_share": timers["render"] / wall,
    }


def stable_unmirrored(rows: list[dict[str, Any]]) -> int | None:
    """The stable epoch on test examples whose mirror is not in training: they cannot be
    answered by memorizing a symmetric operation. None without such examples."""
    if not rows or rows[0]["test_acc_unmirrored"] is None:
        return None
    stability = generalization_stability(rows, "test_acc_unmirrored", GENERALIZED)
    return stability["stable_generalized_epoch"]


def summary_line(run_dir: Path, summary: dict[str, Any]) -> str:
    dips = ""
    if summary["generalized_epoch"] is not None:
        share = summary["share_at_threshold_after_generalizing"]
        dips = (
            f" ({summary['dips_after_generalizing']} dips after, worst "
            f"{summary['worst_dip']:.2f}; {share:.0%} of evaluations after at >= {GENERALIZED})"
        )
    return (
        f"{run_dir}: memorized at epoch {summary['memorized_epoch']}, "
        f"generalized at {summary['generalized_epoch']}{dips}, "
        f"stable from {summary['stable_generalized_epoch']}, "
        f"final test acc {summary['final']['test_acc']:.4f}, {summary['wall_time_s']:.0f} s"
    )
