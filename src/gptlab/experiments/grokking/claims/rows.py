"""Reading a sweep's runs for the claims: which runs sit at a grid point, which ended
generalized, their times to the threshold and delays (censored, never dropped), and the
one-line text of a grid point."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gptlab.analysis.stability import generalization_stability
from gptlab.analysis.statistics import proportion_ci
from gptlab.analysis.survival import censored_median_ci
from gptlab.train.run_folder import RunFolder

Row = dict[str, Any]  # one run of a sweep (grok_sweep.collect)


UNMIRRORED = "_unmirrored"  # the suffix of a row's epochs on test pairs whose mirror is unseen


def finished(rows: Sequence[Row], **where: Any) -> list[Row]:
    """The finished runs at a grid point."""
    return [r for r in at(rows, **where) if r["status"] == "finished"]


def at(rows: Sequence[Row], **where: Any) -> list[Row]:
    """The finished and diverged runs at a grid point: a diverged run is one that did not
    generalize, counted, never dropped."""
    return [
        r
        for r in rows
        if r["status"] in ("finished", "diverged") and all(r[k] == v for k, v in where.items())
    ]


def with_unmirrored(rows: list[Row], threshold: float) -> list[Row]:
    """Each row with the first and the stable epoch at ``threshold`` of its test pairs whose
    mirror (y, x) is not in training (``generalized_epoch_unmirrored``,
    ``stable_generalized_epoch_unmirrored``), from the run's metrics; the whole test split
    where the run had no such pairs."""
    for row in rows:
        metrics = RunFolder(row["run_dir"]).read_metrics()
        key = "test_acc_unmirrored"
        if not metrics or metrics[0][key] is None:
            key = "test_acc"
        stability = generalization_stability(metrics, key, threshold)
        row["generalized_epoch" + UNMIRRORED] = stability["generalized_epoch"]
        row["stable_generalized_epoch" + UNMIRRORED] = stability["stable_generalized_epoch"]
    return rows


def generalized(row: Row, suffix: str = "") -> bool:
    """Whether a run ends stably generalized (``suffix`` UNMIRRORED: on the unmirrored test
    pairs); a diverged run has not."""
    return row["status"] == "finished" and row["stable_generalized_epoch" + suffix] is not None


def grok_epochs(runs: Sequence[Row], suffix: str = "") -> list[int | None]:
    """Per run: the first epoch at the threshold, in runs that end stably generalized; None
    (censored at the budget) for the others. Not the stable epoch: under a decaying lr that
    is when the lr got small enough to stop the spikes, a time the schedule sets."""
    return [r["generalized_epoch" + suffix] if generalized(r, suffix) else None for r in runs]


def delays(
    runs: Sequence[Row], budget: int, suffix: str = ""
) -> tuple[list[float | None], list[float]]:
    """Per run: :func:`grok_epochs` / memorization epoch (None if it never generalized), and
    the bound it is censored at when None: budget / memorization, or 1 for a run that never
    memorized (its delay is unknown and at least 1: test accuracy does not reach the
    threshold before training accuracy does)."""
    ratios: list[float | None] = []
    bounds: list[float] = []
    for run, epoch in zip(runs, grok_epochs(runs, suffix), strict=True):
        memorized = run["memorized_epoch"]
        known = memorized is not None and epoch is not None
        ratios.append(epoch / memorized if known else None)
        bounds.append(budget / memorized if memorized is not None else 1.0)
    return ratios, bounds


def point_text(runs: Sequence[Row], label: str, budget: int, suffix: str = "") -> str:
    """``wd 1: 8/8 [0.63, 1] end generalized, median first epoch at the threshold 535 [470,
    690] (stable from 1155), delay x10.7``: medians over seeds."""
    if not runs:
        return f"{label}: no run"
    count = sum(generalized(r, suffix) for r in runs)
    low, high = proportion_ci(count, len(runs))
    first = censored_median_ci(grok_epochs(runs, suffix))
    stable = [
        r["stable_generalized_epoch" + suffix] if generalized(r, suffix) else None for r in runs
    ]
    ratios, _ = delays(runs, budget, suffix)
    delay = censored_median_ci(ratios).median
    notes = [f"{n} {what}" for n, what in missing_outcomes(runs) if n]
    return (
        f"{label}: {count}/{len(runs)} [{low:.2f}, {high:.2f}] end generalized"
        + (f" ({', '.join(notes)})" if notes else "")
        + f", median first epoch at the threshold {fmt(first.median)} [{fmt(first.low)}, "
        f"{fmt(first.high)}] (stable from {fmt(censored_median_ci(stable).median)}), "
        + ("median delay beyond the budget" if math.isinf(delay) else f"delay x{delay:.1f}")
    )


def missing_outcomes(runs: Sequence[Row]) -> list[tuple[int, str]]:
    return [
        (sum(r["status"] == "diverged" for r in runs), "diverged: counted as not generalized"),
        (sum(r["memorized_epoch"] is None for r in runs), "never memorized"),
    ]


def fmt(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}"


def pfmt(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2g}"
