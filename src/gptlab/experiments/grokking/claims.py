"""``gptlab grok-claims``: decide the seed's four claims about grokking, plus Omnigrok's init
scale as a fifth axis, with sweeps over seeds and tests that respect censoring, each from a
design that could show the claim either way.

Rows of ``claims.md`` (each one test and verdict):

1.  weight decay is critical: Fisher, wd 0 ends generalized in fewer seeds than the base wd;
2a. too-small models don't grok: widths whose runs do not even memorize in most seeds are
    reported as "cannot fit" (they say nothing about grokking); Fisher, the smallest width
    that memorizes in most seeds ends generalized in fewer seeds than the base ("not
    testable here" when no width below the base memorizes);
2b. too-large models show no clear transition: log-rank, the widest model's delay
    (generalization / memorization epoch) is shorter than the base's;
3a. less data generalizes sooner: log-rank, the smallest train fraction reaches the
    threshold before the largest;
3b. less data delays grokking longer: log-rank, the smallest fraction's delay is longer;
    3a and 3b rest on the same two arms: one piece of evidence, one test in Holm's count.
    Both read test pairs whose mirror (y, x) is not in training: with a random split about
    a fraction f of the test pairs have their mirror in training, a recall bias that grows
    with the fraction being compared;
4.  sharp early, flatter at grokking, by two designs on the same snapshots, each a t-test
    over seeds that a loss-matched log ratio falls from the memorization plateau to the
    generalized phase (:mod:`.matched_sharpness`): (i) the top Hessian eigenvalue against a
    run at the *same* weight decay that does not generalize (less data); (ii) the adaptive
    top eigenvalue, which LayerNorm-fed weights' scale does not move, against a wd-0 run.
    A verdict only when both point the same way (the row's p is the larger one);
5.  larger initial weights delay generalization (Omnigrok, Liu et al. 2022): log-rank, the
    largest init scale generalizes later than the smallest, at the base wd; its phase
    diagram over init scale x weight decay.

A run "generalized" when it ends stably generalized: test accuracy at or above the threshold
from some evaluation to the end. Times are the *first* epoch at the threshold of such runs:
under the cosine schedule the stable epoch is when the lr got small enough to stop the loss
spikes (1155-1190 at every fraction from 40 to 60% in the CPU plan), a time the schedule
sets. Runs that never generalized, and diverged runs (a missing outcome is a failure, not
a gap), are censored at the budget and counted as not generalized, never dropped; a run
that never memorized has its delay censored at 1. Each test's two-sided p (from the
two-sided test) is Holm-corrected over the rows; a row is "supported" or "contradicted" when
its Holm p is below alpha, in the claimed or the opposite direction, and "inconclusive"
otherwise, unless its design cannot give a verdict ("not decided" / "not testable", and why).

``--scale cpu`` (default) is the ``grok`` preset (p 47, stable in 10/10 seeds) at its own
2000-epoch budget; ``--scale gpu`` is the same plan at the seed's sizes (p 97, d_ff 1024).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from gptlab.analysis.stability import generalization_stability
from gptlab.analysis.statistics import (
    fisher_fewer,
    fisher_two_sided,
    holm,
    mean_ci,
    one_sample_t_two_sided,
    proportion_ci,
)
from gptlab.analysis.survival import (
    censored_median_ci,
    kaplan_meier,
    logrank_later,
    logrank_two_sided,
)
from gptlab.experiments.executor import resumable, resume_command
from gptlab.experiments.grokking import matched_sharpness
from gptlab.experiments.grokking import sweep as grok_sweep
from gptlab.experiments.grokking.run import GENERALIZED, PRESETS, GrokConfig
from gptlab.experiments.options import check_out_dir, command_parser
from gptlab.train.run_folder import RunFolder

Row = dict[str, Any]  # one run of a sweep (grok_sweep.collect)
UNMIRRORED = "_unmirrored"  # the suffix of a row's epochs on test pairs whose mirror is unseen


@dataclass
class ClaimsPlan:
    base: GrokConfig
    seeds: int  # per grid point
    max_epochs: int
    weight_decays: list[float]  # claim 1: 0 and the base's among them
    d_models: list[int]  # claim 2: widths (d_ff stays the base's); the base's among them
    train_fractions: list[float]  # claim 3
    init_scales: list[float]  # axis 5, crossed with phase_weight_decays
    phase_weight_decays: list[float]  # the base's among them
    sharpness_seeds: int  # claim 4: seeds of the base and of each of its two controls
    snapshot_every: int  # claim 4: epochs between the base run's parameter snapshots
    control_epochs: int  # claim 4: the wd-0 control's budget (it needs only to pass the
    control_snapshot_every: int  # base's losses, which it does fast: dense snapshots)
    per_phase: int = 5  # claim 4: snapshots measured per phase
    match_tolerance: float = 1.5  # claim 4: most a matched training loss may differ, x
    # claim 4's same-weight-decay control: the base at this train fraction (0/8 seeds stable
    # at 0.3 in the CPU plan's claim 3), a snapshot every snapshot_every epochs, full budget
    same_wd_fraction: float = 0.3
    threshold: float = GENERALIZED
    alpha: float = 0.05

    def check(self) -> None:
        for name, values, value in (
            ("weight_decays", self.weight_decays, 0.0),
            ("weight_decays", self.weight_decays, self.base.weight_decay),
            ("d_models", self.d_models, self.base.d_model),
            ("phase_weight_decays", self.phase_weight_decays, self.base.weight_decay),
        ):
            if value not in values:
                raise ValueError(f"plan: {name} {values} must include {value:g}")
        for name in ("d_models", "train_fractions", "init_scales"):
            if len(getattr(self, name)) < 2:
                raise ValueError(f"plan: {name} needs at least two values")
        if not min(self.d_models) < self.base.d_model < max(self.d_models):
            raise ValueError(
                f"plan: d_models {self.d_models} must reach below and above the base's "
                f"{self.base.d_model} (claim 2 compares both ends with it)"
            )


# The `grok` preset's model and schedule at 40% of the pairs (10/10 seeds stable at p 47
# within its 2000 epochs, benchmarks/grok_stability.py) at its own budget, 8 seeds per point:
# 22 points x 8 + 3 x 4 sharpness runs (188). Init scales up to 10 x GPT-2's std 0.02.
CPU = ClaimsPlan(
    base=dataclasses.replace(PRESETS["grok"], train_fraction=0.4, checkpoint_every=500),
    seeds=8,
    max_epochs=2000,
    weight_decays=[0.0, 0.1, 0.3, 1.0],
    d_models=[4, 8, 16, 64, 128],
    train_fractions=[0.3, 0.4, 0.5, 0.6],
    init_scales=[1.0, 3.0, 10.0],
    phase_weight_decays=[0.3, 1.0, 3.0],
    sharpness_seeds=4,
    snapshot_every=20,
    control_epochs=400,
    control_snapshot_every=2,
)

# The same plan at the seed's sizes (p 97, d_ff 1024): minutes per run on one GPU.
GPU = dataclasses.replace(
    CPU,
    base=dataclasses.replace(CPU.base, p=97, d_ff=1024),
    d_models=[4, 8, 16, 64, 256],
)
PLANS = {"cpu": CPU, "gpu": GPU}


# --- reading sweep rows -------------------------------------------------------------------


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
    mirror (y, x) is not in training (``first_generalized_epoch_unmirrored``,
    ``generalized_epoch_unmirrored``), from the run's metrics; the whole test split where
    the run had no such pairs."""
    for row in rows:
        metrics = RunFolder(row["run_dir"]).read_metrics()
        key = "test_acc_unmirrored"
        if not metrics or metrics[0][key] is None:
            key = "test_acc"
        stability = generalization_stability(metrics, key, threshold)
        row["first_generalized_epoch" + UNMIRRORED] = stability["generalized_epoch"]
        row["generalized_epoch" + UNMIRRORED] = stability["stable_generalized_epoch"]
    return rows


def generalized(row: Row, suffix: str = "") -> bool:
    """Whether a run ends stably generalized (``suffix`` UNMIRRORED: on the unmirrored test
    pairs); a diverged run has not."""
    return row["status"] == "finished" and row["generalized_epoch" + suffix] is not None


def grok_epochs(runs: Sequence[Row], suffix: str = "") -> list[int | None]:
    """Per run: the first epoch at the threshold, in runs that end stably generalized; None
    (censored at the budget) for the others. Not the stable epoch: under a decaying lr that
    is when the lr got small enough to stop the spikes, a time the schedule sets."""
    return [r["first_generalized_epoch" + suffix] if generalized(r, suffix) else None for r in runs]


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
    stable = [r["generalized_epoch" + suffix] if generalized(r, suffix) else None for r in runs]
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


# --- one decision per row -----------------------------------------------------------------


@dataclass
class Decision:
    claim: str
    experiment: str
    result: str  # the numbers behind the test
    test: str  # the test and its claimed direction
    p_claimed: float  # one-sided p in the claimed direction
    p_opposite: float  # one-sided p in the opposite direction
    p_two_sided: float  # from the two-sided test (not twice a one-sided p)
    figure: str
    weight: float = 1.0  # its share of one test in Holm's count: rows on the same arms
    #                      share 1; 0 for a row without a test
    blocked: str = ""  # the verdict when the design cannot give one, and why
    holm_p: float = math.nan
    verdict: str = ""


def decide(decisions: list[Decision], alpha: float) -> list[Decision]:
    """Holm over the rows' two-sided p; the verdict follows the adjusted p and the side."""
    adjusted = holm([d.p_two_sided for d in decisions], [d.weight for d in decisions])
    for decision, holm_p in zip(decisions, adjusted, strict=True):
        decision.holm_p = holm_p
        if decision.blocked:
            decision.verdict = decision.blocked
        elif holm_p >= alpha or math.isnan(holm_p):
            decision.verdict = "inconclusive"
        elif decision.p_claimed <= decision.p_opposite:
            decision.verdict = "supported"
        else:
            decision.verdict = "contradicted"
    return decisions


def compare_shares(treated: Sequence[Row], reference: Sequence[Row]) -> tuple[float, ...]:
    """Fisher p that ``treated`` ends generalized in fewer seeds (one-sided), in more, and
    that the shares differ (two-sided)."""
    a, n = sum(generalized(r) for r in treated), len(treated)
    b, m = sum(generalized(r) for r in reference), len(reference)
    return fisher_fewer(a, n, b, m), fisher_fewer(b, m, a, n), fisher_two_sided(a, n, b, m)


def compare_times(
    later: Sequence[float | None],
    later_bounds: float | Sequence[float],
    sooner: Sequence[float | None],
    sooner_bounds: float | Sequence[float],
) -> tuple[float, ...]:
    """Log-rank p that ``later``'s events come later than ``sooner``'s (one-sided), that
    they come sooner, and that the two differ (two-sided)."""
    return (
        logrank_later(later, later_bounds, sooner, sooner_bounds),
        logrank_later(sooner, sooner_bounds, later, later_bounds),
        logrank_two_sided(later, later_bounds, sooner, sooner_bounds),
    )


def claim_weight_decay(rows: Sequence[Row], base_wd: float, budget: int) -> Decision:
    zero, base = at(rows, weight_decay=0.0), at(rows, weight_decay=base_wd)
    later = compare_times(grok_epochs(zero), budget, grok_epochs(base), budget)[0]
    wds = sorted({r["weight_decay"] for r in rows})
    return Decision(
        "1. weight decay is critical",
        f"weight_decay in {wds}",
        "<br>".join(point_text(at(rows, weight_decay=w), f"wd {w:g}", budget) for w in wds)
        + f"<br>log-rank, wd 0 later than wd {base_wd:g}: p {later:.2g}",
        f"Fisher exact: wd 0 ends generalized in fewer seeds than wd {base_wd:g}",
        *compare_shares(zero, base),
        "claim1-weight-decay/generalization_curves.png",
    )


def fitting_widths(rows: Sequence[Row], sizes: Sequence[int]) -> list[int]:
    """The widths whose runs memorize (training accuracy at the threshold) in most seeds."""
    fit = []
    for size in sizes:
        runs = at(rows, d_model=size)
        if 2 * sum(r["memorized_epoch"] is not None for r in runs) > len(runs):
            fit.append(size)
    return fit


def bracket_text(rows: Sequence[Row], sizes: Sequence[int]) -> str:
    """Which widths never generalize and which always do: the transition lies between."""
    shares = {}
    for size in sizes:
        runs = at(rows, d_model=size)
        shares[size] = sum(generalized(r) for r in runs) / max(len(runs), 1)
    never = [s for s in sizes if shares[s] == 0]
    always = [s for s in sizes if shares[s] == 1]
    if never and always:
        return f"bracketed: d_model {max(never)} never generalizes, {min(always)} always does"
    return f"not bracketed: never at d_model {never or 'none'}, always at {always or 'none'}"


def claim_small_models(rows: Sequence[Row], config: GrokConfig, budget: int) -> Decision:
    base_size = config.d_model
    sizes = sorted({r["d_model"] for r in rows})
    fit = fitting_widths(rows, sizes)
    cannot = [s for s in sizes if s not in fit]
    lines = [
        point_text(at(rows, d_model=s), f"d_model {s}", budget)
        + (": **cannot fit** the training data" if s in cannot else "")
        for s in sizes
    ]
    lines.append(f"among the widths that memorize in most seeds, {bracket_text(rows, fit)}")
    smaller = [s for s in fit if s < base_size]
    decision = Decision(
        "2a. too-small models don't grok",
        f"d_model in {sizes} (d_ff {config.d_ff}, {config.n_heads} heads); a width that "
        "memorizes in at most half its seeds cannot fit its data and says nothing of grokking",
        "<br>".join(lines),
        f"Fisher exact: the smallest width below {base_size} that memorizes in most seeds "
        f"ends generalized in fewer seeds than d_model {base_size}",
        math.nan,
        math.nan,
        math.nan,
        "claim2-model-size/generalization_curves.png",
        weight=0.0,
        blocked=f"not testable here: no width below d_model {base_size} memorizes in most "
        f"seeds (cannot fit: {cannot or 'none'})",
    )
    if not smaller:
        return decision
    small, base = at(rows, d_model=smaller[0]), at(rows, d_model=base_size)
    decision.p_claimed, decision.p_opposite, decision.p_two_sided = compare_shares(small, base)
    decision.test = (
        f"Fisher exact: d_model {smaller[0]}, the smallest that memorizes in most seeds, ends "
        f"generalized in fewer seeds than d_model {base_size}"
    )
    decision.weight, decision.blocked = 1.0, ""
    return decision


def claim_large_models(rows: Sequence[Row], base_size: int, budget: int) -> Decision:
    largest_size = max(r["d_model"] for r in rows)
    largest, base = at(rows, d_model=largest_size), at(rows, d_model=base_size)
    return Decision(
        "2b. too-large models show no clear transition",
        f"d_model {largest_size} vs {base_size}",
        f"{point_text(largest, f'd_model {largest_size}', budget)}<br>"
        f"{point_text(base, f'd_model {base_size}', budget)}",
        f"log-rank: the delay of d_model {largest_size} is shorter than d_model {base_size}'s",
        *compare_times(*delays(base, budget), *delays(largest, budget)),
        "claim2-model-size/phase_diagram.png",
    )


def fraction_extremes(rows: Sequence[Row]) -> tuple[list[float], list[Row], list[Row]]:
    """The sorted train fractions, and the runs at the smallest and the largest."""
    fractions = sorted({r["train_fraction"] for r in rows})
    small, large = (at(rows, train_fraction=f) for f in (fractions[0], fractions[-1]))
    return fractions, small, large


def shared_arms_text(fractions: Sequence[float]) -> str:
    return (
        f"3a and 3b rest on the same arms (fractions {fractions[0]:g} and {fractions[-1]:g}): "
        "one piece of evidence, one test in Holm's count (weight 1/2 each). Test pairs whose "
        "mirror is not in training only"
    )


def claim_less_data_sooner(rows: Sequence[Row], budget: int) -> Decision:
    fractions, small, large = fraction_extremes(rows)
    first = [grok_epochs(runs, UNMIRRORED) for runs in (large, small)]
    return Decision(
        "3a. less data generalizes sooner",
        f"train_fraction in {fractions}",
        "<br>".join(
            point_text(at(rows, train_fraction=f), f"fraction {f:g}", budget, UNMIRRORED)
            for f in fractions
        )
        + f"<br>{shared_arms_text(fractions)}",
        f"log-rank: fraction {fractions[0]:g} reaches the threshold before {fractions[-1]:g}",
        *compare_times(first[0], budget, first[1], budget),
        "claim3-train-fraction/generalization_curves.png",
        weight=0.5,
    )


def claim_less_data_longer_delay(rows: Sequence[Row], budget: int) -> Decision:
    fractions, small, large = fraction_extremes(rows)
    small_text = point_text(small, f"fraction {fractions[0]:g}", budget, UNMIRRORED)
    large_text = point_text(large, f"fraction {fractions[-1]:g}", budget, UNMIRRORED)
    return Decision(
        "3b. less data delays grokking longer",
        f"train_fraction {fractions[0]:g} vs {fractions[-1]:g}",
        "delay = first epoch at the threshold / memorization epoch (censored at budget / "
        f"memorization)<br>{small_text}<br>{large_text}<br>{shared_arms_text(fractions)}",
        f"log-rank: the delay at fraction {fractions[0]:g} is longer than at {fractions[-1]:g}",
        *compare_times(*delays(small, budget, UNMIRRORED), *delays(large, budget, UNMIRRORED)),
        "claim3-train-fraction/phase_diagram.png",
        weight=0.5,
    )


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


def claim_init_scale(rows: Sequence[Row], base_wd: float, budget: int) -> Decision:
    scales = sorted({r["init_scale"] for r in rows})
    wds = sorted({r["weight_decay"] for r in rows})
    small = at(rows, init_scale=scales[0], weight_decay=base_wd)
    large = at(rows, init_scale=scales[-1], weight_decay=base_wd)
    return Decision(
        "5. larger initial weights delay generalization (Omnigrok)",
        f"init_scale in {scales} x weight_decay in {wds}",
        "<br>".join(
            point_text(at(rows, init_scale=s, weight_decay=w), f"init x{s:g}, wd {w:g}", budget)
            for w in wds
            for s in scales
        ),
        f"log-rank: init x{scales[-1]:g} generalizes later than x{scales[0]:g} at wd {base_wd:g}",
        *compare_times(grok_epochs(large), budget, grok_epochs(small), budget),
        "claim5-init-scale/phase_diagram.png",
    )


# --- the report ---------------------------------------------------------------------------


def table_markdown(decisions: Sequence[Decision], alpha: float) -> str:
    """The verdict table (the part the README copies), without the figure column."""
    lines = [
        "| claim | test (claimed direction) | one-sided p | two-sided p | Holm p | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for d in decisions:
        lines.append(
            f"| {d.claim} | {d.test} | {pfmt(d.p_claimed)} | {pfmt(d.p_two_sided)} | "
            f"{pfmt(d.holm_p)} | **{d.verdict}** |"
        )
    lines.append(
        f"\nsupported / contradicted: Holm p < {alpha:g} in the claimed / opposite direction; "
        "inconclusive otherwise; not decided / not testable: the design cannot give a verdict "
        "(the row says why). Holm runs over the two-sided p of the rows with a test, 3a and 3b "
        "(the same arms) counting as one."
    )
    return "\n".join(lines)


def report_markdown(
    plan: ClaimsPlan, decisions: Sequence[Decision], diverged: int, runs: int
) -> str:
    base = plan.base
    lines = [
        "# The seed's claims about grokking, decided",
        "",
        f"Base: `{base.operation}` mod {base.p}, train_fraction {base.train_fraction}, "
        f"d_model {base.d_model}, d_ff {base.d_ff}, {base.n_heads} heads, "
        f"LayerNorm {base.layer_norm}, lr {base.lr:g} ({base.scheduler} to {base.eta_min:g}), "
        f"weight decay {base.weight_decay:g}, batch {base.batch_size or 'full'}, "
        f"{plan.max_epochs} epochs; {plan.seeds} seeds per point "
        f"({plan.sharpness_seeds} for claim 4).",
        "",
        f"Generalized = ends with test accuracy >= {plan.threshold:g} from some evaluation "
        "(the stable epoch) to the end. Times = the first epoch at the threshold of such runs "
        "(the stable epoch is set by the lr schedule); never = censored at the budget. Shares "
        "with exact 95% CIs, medians with order-statistic CIs; delay = that first epoch / the "
        f"memorization epoch. {diverged} of {runs} runs diverged; each is counted as a run "
        "that did not generalize.",
        "",
        "## Verdicts",
        "",
        table_markdown(decisions, plan.alpha),
        "",
        "## Results",
        "",
        "| claim | experiment | result | figure |",
        "|---|---|---|---|",
    ]
    for d in decisions:
        lines.append(f"| {d.claim} | {d.experiment} | {d.result} | ![]({d.figure}) |")
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- grok-claims table: begin (written by gptlab grok-claims --readme) -->"
README_END = "<!-- grok-claims table: end -->"


def check_readme(path: Path) -> str:
    """The README's text, if it holds each grok-claims marker once, begin before end: checked
    before the runs and again when the table is written (the file may change meanwhile)."""
    if not path.is_file():
        raise ValueError(f"--readme {path}: no such file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"--readme {path}: not UTF-8 text") from None
    begins, ends = text.count(README_BEGIN), text.count(README_END)
    if not begins and not ends:
        raise ValueError(
            f"--readme {path}: no grok-claims markers ({README_BEGIN} ... {README_END})"
        )
    if begins != 1 or ends != 1:
        raise ValueError(
            f"--readme {path}: each grok-claims marker must appear once, found the begin "
            f"marker {begins} and the end marker {ends} times"
        )
    if text.index(README_END) < text.index(README_BEGIN):
        raise ValueError(f"--readme {path}: the grok-claims end marker comes before the begin one")
    return text


def update_readme(path: Path, table: str) -> None:
    """Replace the text between the README's grok-claims markers by ``table``."""
    before, rest = check_readme(path).split(README_BEGIN)
    _, after = rest.split(README_END)
    path.write_text(f"{before}{README_BEGIN}\n{table}\n{README_END}{after}")


def run_sweep(
    plan: ClaimsPlan,
    base: GrokConfig,
    folder: Path,
    grid: dict[str, list[Any]],
    seeds: int,
    workers: int | None,
    suffix: str = "",
) -> list[Row]:
    """One sweep (finished runs are reused), its runs' rows (with their epochs on the
    unmirrored test pairs) and its curves figure (of those epochs if ``suffix``)."""
    grok_sweep.sweep(
        base,
        grid,
        seeds,
        plan.max_epochs,
        folder,
        workers,
        threshold=plan.threshold,
        title=folder.name,
    )
    tasks = grok_sweep.plan(base, grid, seeds, plan.max_epochs, folder)
    rows = with_unmirrored(grok_sweep.collect(tasks, grid, plan.threshold), plan.threshold)
    axes = [k for k, v in grid.items() if len(v) > 1]
    if axes:
        draw_curves(rows, axes, plan.max_epochs, folder, suffix)
    return rows


def draw_curves(
    rows: Sequence[Row], axes: Sequence[str], budget: int, folder: Path, suffix: str = ""
) -> None:
    from gptlab.plots.sweep import plot_generalization_curves

    points = sorted({tuple(r[a] for a in axes) for r in rows})
    curves = {}
    for point in points:
        runs = at(rows, **dict(zip(axes, point, strict=True)))
        if runs:
            label = ", ".join(f"{a} {v:g}" for a, v in zip(axes, point, strict=True))
            curves[label] = kaplan_meier(grok_epochs(runs, suffix), budget)
    title = folder.name + (" (test pairs whose mirror is not in training)" if suffix else "")
    figure = plot_generalization_curves(curves, budget, title=title)
    figure.savefig(folder / "generalization_curves.png", dpi=110)


def measure_sharpness(
    plan: ClaimsPlan, folder: Path, groks: Sequence[Row], controls: dict[str, Sequence[Row]]
) -> dict[str, list[dict[str, Any]]]:
    """Claim 4: each seed's run that groks against each control of the same seed (a control
    that reached the threshold is no control: left out), and a figure per control."""
    from gptlab.plots.sweep import plot_matched_sharpness

    measured = {}
    for name, runs in controls.items():
        usable = {r["seed"] for r in finished(runs) if r["first_generalized_epoch"] is None}
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


def sharpness_runs(plan: ClaimsPlan, swept: Any) -> tuple[list[Row], dict[str, list[Row]]]:
    """Claim 4's runs: the base with snapshots, its wd-0 control and its same-wd control."""
    base, seeds = plan.base, plan.sharpness_seeds
    groks = swept(
        "claim4-sharpness/groks",
        {},
        dataclasses.replace(base, snapshot_every=plan.snapshot_every),
        seeds,
    )
    wd0 = dataclasses.replace(base, weight_decay=0.0, snapshot_every=plan.control_snapshot_every)
    same_wd = dataclasses.replace(
        base, train_fraction=plan.same_wd_fraction, snapshot_every=plan.snapshot_every
    )
    return groks, {
        "control": swept("claim4-sharpness/control", {}, wd0, seeds, plan.control_epochs),
        "same-wd-control": swept("claim4-sharpness/same-wd-control", {}, same_wd, seeds),
    }


def run_claims(
    plan: ClaimsPlan, out: Path, workers: int | None = None, readme: Path | None = None
) -> str:
    """Every experiment (finished runs and measures are reused), then ``out/claims.md``;
    returns its text."""
    plan.check()
    if readme is not None:  # now, not after the runs
        check_readme(readme)
    base, budget = plan.base, plan.max_epochs
    every_run: list[Row] = []

    def swept(name, grid, config=base, seeds=plan.seeds, epochs=budget, suffix="") -> list[Row]:
        arm = dataclasses.replace(plan, max_epochs=epochs)
        rows = run_sweep(arm, config, out / name, grid, seeds, workers, suffix)
        every_run.extend(rows)
        return rows

    rows = swept("claim1-weight-decay", {"weight_decay": plan.weight_decays})
    decisions = [claim_weight_decay(rows, base.weight_decay, budget)]
    rows = swept("claim2-model-size", {"d_model": plan.d_models})
    decisions += [
        claim_small_models(rows, base, budget),
        claim_large_models(rows, base.d_model, budget),
    ]
    grid = {"train_fraction": plan.train_fractions}
    rows = swept("claim3-train-fraction", grid, suffix=UNMIRRORED)
    decisions += [claim_less_data_sooner(rows, budget), claim_less_data_longer_delay(rows, budget)]
    groks, controls = sharpness_runs(plan, swept)
    measured = measure_sharpness(plan, out / "claim4-sharpness", groks, controls)
    control_text = point_text(at(controls["same-wd-control"]), "runs", budget)
    decisions.append(claim_sharpness(measured, control_text))
    grid = {"init_scale": plan.init_scales, "weight_decay": plan.phase_weight_decays}
    rows = swept("claim5-init-scale", grid)
    decisions.append(claim_init_scale(rows, base.weight_decay, budget))
    decide(decisions, plan.alpha)
    diverged = sum(r["status"] == "diverged" for r in every_run)
    text = report_markdown(plan, decisions, diverged, len(every_run))
    (out / "claims.md").write_text(text)
    if readme is not None:
        update_readme(readme, table_markdown(decisions, plan.alpha))
    return text


def main(argv: list[str]) -> int:
    parser = command_parser(
        "gptlab grok-claims",
        "Decide the seed's four claims about grokking, and init scale as a fifth axis:\n"
        "8 seeds per grid point, log-rank and Fisher tests, sharpness at equal training loss\n"
        "against two controls. Took 37 min at --scale cpu on a 2-core CPU (2026-12-05; see\n"
        "docs/grokking.md); finished runs and measures are reused, so an interrupted call\n"
        "resumes.",
    )
    parser.add_argument(
        "--scale",
        choices=sorted(PLANS),
        default="cpu",
        help="cpu: the grok preset (p 47); gpu: the seed's sizes (p 97, d_ff 1024)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/grok-claims"), help="output folder")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also write the verdict table between this file's grok-claims markers",
    )
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers} must be >= 1")
    check_out_dir(args.out)
    with resumable(resume_command("grok-claims", argv, args.out), grok_sweep.run_folder_name):
        print(run_claims(PLANS[args.scale], args.out, args.workers, args.readme))
    return 0
