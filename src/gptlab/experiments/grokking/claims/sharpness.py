"""Claim 4, sharp minima early and flatter at grokking: the loss-matched sharpness of the
base run against its two controls (:mod:`gptlab.experiments.grokking.matched_sharpness`),
and its verdict, given only where both designs agree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from gptlab.analysis.statistics import mean_ci, one_sample_t_two_sided
from gptlab.experiments.grokking import matched_sharpness
from gptlab.experiments.grokking.claims.decide import Decision
from gptlab.experiments.grokking.claims.plan import ClaimsPlan
from gptlab.experiments.grokking.claims.rows import Row, finished

# claim 4's controls: folder -> the name of its measures (NAME.json) and figure (NAME.png)
CONTROLS = {"same-wd-control": "matched_sharpness_same_wd", "control": "matched_sharpness"}


# claim 4's two designs: (control folder, measure, what it is)
DESIGNS = {
    "(i)": ("same-wd-control", "hessian_top_eig", "top eigenvalue vs a same-wd control"),
    "(ii)": ("control", "adaptive_top_eig", "adaptive top eigenvalue vs a wd-0 control"),
}


def design_changes(measured: Sequence[dict[str, Any]], measure: str) -> list[float]:
    """Per seed with matched pairs in both phases: the change of the log ratio to the
    control, generalized - memorized (below 0: flatter after grokking)."""
    changes = [matched_sharpness.log_ratios(m, measure)["change"] for m in measured]
    return [c for c in changes if not math.isnan(c)]


def claim_sharpness(measured: dict[str, Sequence[dict[str, Any]]], control_text: str) -> Decision:
    """``measured``: per control folder of :data:`DESIGNS`,
    :func:`matched_sharpness.measure_pair` of each seed. The row's p is the larger of the
    two designs' (an intersection-union test: both must show it)."""
    changes = {
        name: design_changes(measured[folder], measure)
        for name, (folder, measure, _) in DESIGNS.items()
    }
    tests = [(*one_sample_t(c), one_sample_t_two_sided(c)) for c in changes.values()]
    lines = [
        f"design {name} {DESIGNS[name][2]}: log ratio change {ci_text(c)}; one-sided p "
        f"flatter {t[0]:.2g}, sharper {t[1]:.2g}, two-sided {t[2]:.2g}"
        for (name, c), t in zip(changes.items(), tests, strict=True)
    ]
    lines.append(f"same-wd control: {control_text}")
    for folder in CONTROLS:
        lines += sharpness_lines(folder, measured[folder])
    for measure in matched_sharpness.MEASURES:  # the run's own measures: one list per seed
        raw = [raw_phase_change(m, measure) for m in measured["control"]]
        lines.append(
            f"unmatched, along the run: log {measure}, generalized - memorized: "
            + ci_text([r for r in raw if not math.isnan(r)])
        )
    return Decision(
        "4. sharp minima early, flatter at grokking",
        "the base vs, at the nearest training loss (pairs further apart than the tolerance "
        "left out), (i) a run of the same seed and weight decay that does not generalize "
        "(less data) and (ii) a wd-0 run of the same seed; Lanczos top eigenvalue, adaptive "
        "top eigenvalue (diag(|w|) H diag(|w|)) and Hutchinson trace of the training loss",
        "<br>".join(lines),
        "t-tests over seeds, designs (i) and (ii) both: the log sharpness ratio to the "
        "loss-matched control falls from the memorization plateau to the generalized phase",
        *(max(t[i] for t in tests) for i in range(3)),
        "claim4-sharpness/matched_sharpness_same_wd.png",
        blocked=designs_disagree(changes),
    )


def designs_disagree(changes: dict[str, list[float]]) -> str:
    """Why claim 4's designs cannot decide together ('' when they can): one has too few
    seeds, or their mean changes point opposite ways."""
    for name, values in changes.items():
        if len(values) < 2:
            return (
                f"not decided: design {name} has {len(values)} seed(s) with matched pairs in "
                "both phases"
            )
    flatter = {name: float(np.mean(values)) < 0 for name, values in changes.items()}
    if len(set(flatter.values())) > 1:
        says = ", ".join(f"{n} {'flatter' if f else 'sharper'}" for n, f in flatter.items())
        return f"not decided: the designs disagree ({says})"
    return ""


def sharpness_lines(folder: str, measured: Sequence[dict[str, Any]]) -> list[str]:
    """Against one control: matched snapshots per phase, each measure's log ratio per phase
    and its change."""
    counts = [
        f"{phase} {sum(sum(m['phases'][phase]['matched']) for m in measured)} of "
        f"{sum(len(m['phases'][phase]['matched']) for m in measured)}"
        for phase in matched_sharpness.PHASES
    ]
    lines = [f"vs {folder}: snapshots matched, {', '.join(counts)}"]
    for measure in matched_sharpness.MEASURES:
        per_seed = [matched_sharpness.log_ratios(m, measure) for m in measured]
        parts = [
            f"{key} {ci_text([s[key] for s in per_seed if not math.isnan(s[key])])}"
            for key in (*matched_sharpness.PHASES, "change")
        ]
        lines.append(f"vs {folder}, {measure}, log ratio: {'; '.join(parts)}")
    return lines


def raw_phase_change(measured: dict[str, Any], measure: str) -> float:
    means = []
    for phase in matched_sharpness.PHASES:
        values = [v for v in measured["phases"][phase][measure] if v > 0]
        means.append(sum(math.log(v) for v in values) / len(values) if values else math.nan)
    return means[1] - means[0]


def ci_text(values: Sequence[float]) -> str:
    if len(values) < 2:
        return f"{len(values)} seed(s): no CI"
    mean, low, high = mean_ci(values)
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] (95% CI, {len(values)} seeds)"


def one_sample_t(values: Sequence[float]) -> tuple[float, float]:
    """One-sided p that the mean is below 0, and above 0 (no evidence under 2 values)."""
    if len(values) < 2 or len(set(values)) == 1:
        return 1.0, 1.0
    return (
        float(stats.ttest_1samp(values, 0.0, alternative="less").pvalue),
        float(stats.ttest_1samp(values, 0.0, alternative="greater").pvalue),
    )


def measure_sharpness(
    plan: ClaimsPlan, folder: Path, groks: Sequence[Row], controls: dict[str, Sequence[Row]]
) -> dict[str, list[dict[str, Any]]]:
    """Claim 4: each seed's run that groks against each control of the same seed (a control
    that reached the threshold is no control: left out), and a figure per control."""
    from gptlab.plots.sweep import plot_matched_sharpness

    measured = {}
    for name, runs in controls.items():
        usable = {r["seed"] for r in finished(runs) if r["generalized_epoch"] is None}
        seeds = sorted({r["seed"] for r in finished(groks)} & usable)
        cache = CONTROLS[name]
        measured[name] = [
            matched_sharpness.measure_pair(
                folder / "groks" / "base" / f"seed-{seed}",
                folder / name / "base" / f"seed-{seed}",
                plan.threshold,
                plan.per_phase,
                plan.match_tolerance,
                cache,
            )
            for seed in seeds
        ]
        plot_matched_sharpness(measured[name]).savefig(folder / f"{cache}.png", dpi=110)
    return measured
