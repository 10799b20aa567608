"""``gptlab grok-claims``: decide the seed's four claims about grokking, plus Omnigrok's init
scale as a fifth axis, with sweeps over seeds and tests that respect censoring.

Rows of ``claims.md`` (each one test, one p-value, one verdict):

1.  weight decay is critical: Fisher, wd 0 generalizes in fewer seeds than the base wd;
2a. too-small models don't grok: Fisher, the smallest width in fewer seeds than the base
    (and which widths bracket the transition: none vs all seeds);
2b. too-large models show no clear transition: log-rank, the widest model's delay
    (generalization / memorization epoch) is shorter than the base's;
3a. less data generalizes sooner: log-rank, the smallest train fraction's stable epoch comes
    before the largest's;
3b. less data delays grokking longer: log-rank, the smallest fraction's delay is longer;
4.  sharp early, flatter at grokking: t-test over seeds, the top Hessian eigenvalue relative
    to a wd-0 run at the same training loss falls from the memorization plateau to the
    generalized phase (:mod:`.matched_sharpness`);
5.  larger initial weights delay generalization (Omnigrok, Liu et al. 2022): log-rank, the
    largest init scale generalizes later than the smallest, at the base wd; its phase
    diagram over init scale x weight decay.

A run "generalized" at its *stable* epoch: test accuracy at or above the threshold from
there to the end. Runs that never did are right-censored at the budget, never dropped, and
diverged runs are left out of every test (and counted). Each test's two-sided p (twice the
smaller one-sided p) is Holm-corrected over the rows; a row is "supported" or
"contradicted" when its Holm p is below alpha, in the claimed or the opposite direction,
and "inconclusive" otherwise.

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

from scipy import stats

from gptlab.analysis.statistics import (
    censored_median_ci,
    fisher_fewer,
    holm,
    kaplan_meier,
    logrank_later,
    mean_ci,
    proportion_ci,
)
from gptlab.experiments.executor import resumable, resume_command
from gptlab.experiments.grokking import matched_sharpness
from gptlab.experiments.grokking import sweep as grok_sweep
from gptlab.experiments.grokking.run import GENERALIZED, PRESETS, GrokConfig
from gptlab.experiments.options import check_out_dir, command_parser

Row = dict[str, Any]  # one run of a sweep (grok_sweep.collect)


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
    sharpness_seeds: int  # claim 4: seeds of the base and of its wd-0 control
    snapshot_every: int  # claim 4: epochs between the base run's parameter snapshots
    control_epochs: int  # claim 4: the wd-0 control's budget (it needs only to pass the
    control_snapshot_every: int  # base's losses, which it does fast: dense snapshots)
    per_phase: int = 5  # claim 4: snapshots measured per phase
    match_tolerance: float = 1.5  # claim 4: most a matched training loss may differ, x
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
# 21 points x 8 + 2 x 4 sharpness runs. Init scales up to 10 x GPT-2's std 0.02.
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
    """The finished runs at a grid point (diverged ones have no time to generalize)."""
    return [
        r for r in rows if r["status"] == "finished" and all(r[k] == v for k, v in where.items())
    ]


def stable_epochs(runs: Sequence[Row]) -> list[int | None]:
    return [r["generalized_epoch"] for r in runs]


def delays(runs: Sequence[Row], budget: int) -> tuple[list[float | None], list[float]]:
    """Per run that memorized: generalization / memorization epoch (None if it never
    generalized), and the bound it is censored at when None (budget / memorization)."""
    memorized = [r for r in runs if r["memorized_epoch"] is not None]
    return grok_sweep.delay_ratios(memorized), [budget / r["memorized_epoch"] for r in memorized]


def point_text(runs: Sequence[Row], label: str, budget: int) -> str:
    """``wd 1: 8/8 [0.63, 1] stable, median epoch 1155 [1110, 1380] (first crossing 690),
    delay x23.1``: medians over seeds; the delay is the stable epoch over memorization's."""
    if not runs:
        return f"{label}: no finished run"
    times = stable_epochs(runs)
    count = sum(t is not None for t in times)
    low, high = proportion_ci(count, len(runs))
    median = censored_median_ci(times)
    first = censored_median_ci([r["first_generalized_epoch"] for r in runs]).median
    ratios, _ = delays(runs, budget)
    if not ratios:
        delay = "no delay: never memorized"
    else:
        delay = censored_median_ci(ratios).median
        delay = "median delay beyond the budget" if math.isinf(delay) else f"delay x{delay:.1f}"
    return (
        f"{label}: {count}/{len(runs)} [{low:.2f}, {high:.2f}] stable, median epoch "
        f"{fmt(median.median)} [{fmt(median.low)}, {fmt(median.high)}] (first crossing "
        f"{fmt(first)}), {delay}"
    )


def fmt(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f}"


# --- one decision per row -----------------------------------------------------------------


@dataclass
class Decision:
    claim: str
    experiment: str
    result: str  # the numbers behind the test
    test: str  # the test and its claimed direction
    p_claimed: float  # one-sided p in the claimed direction
    p_opposite: float  # one-sided p in the opposite direction
    figure: str
    holm_p: float = math.nan
    verdict: str = ""

    @property
    def p_two_sided(self) -> float:
        return min(1.0, 2 * min(self.p_claimed, self.p_opposite))


def decide(decisions: list[Decision], alpha: float) -> list[Decision]:
    """Holm over the rows' two-sided p; the verdict follows the adjusted p and the side."""
    for decision, adjusted in zip(decisions, holm([d.p_two_sided for d in decisions]), strict=True):
        decision.holm_p = adjusted
        if adjusted >= alpha or math.isnan(adjusted):
            decision.verdict = "inconclusive"
        elif decision.p_claimed <= decision.p_opposite:
            decision.verdict = "supported"
        else:
            decision.verdict = "contradicted"
    return decisions


def compare_shares(treated: Sequence[Row], reference: Sequence[Row]) -> tuple[float, float]:
    """One-sided Fisher p that ``treated`` generalizes in fewer seeds, and in more."""
    a = sum(t is not None for t in stable_epochs(treated))
    b = sum(t is not None for t in stable_epochs(reference))
    return (
        fisher_fewer(a, len(treated), b, len(reference)),
        fisher_fewer(b, len(reference), a, len(treated)),
    )


def compare_times(
    later: Sequence[float | None],
    later_bounds: float | Sequence[float],
    sooner: Sequence[float | None],
    sooner_bounds: float | Sequence[float],
) -> tuple[float, float]:
    """One-sided log-rank p that ``later``'s events come later than ``sooner``'s, and
    that they come sooner."""
    return (
        logrank_later(later, later_bounds, sooner, sooner_bounds),
        logrank_later(sooner, sooner_bounds, later, later_bounds),
    )


def claim_weight_decay(rows: Sequence[Row], base_wd: float, budget: int) -> Decision:
    zero, base = finished(rows, weight_decay=0.0), finished(rows, weight_decay=base_wd)
    fewer, more = compare_shares(zero, base)
    later, _ = compare_times(stable_epochs(zero), budget, stable_epochs(base), budget)
    wds = sorted({r["weight_decay"] for r in rows})
    return Decision(
        "1. weight decay is critical",
        f"weight_decay in {wds}",
        "<br>".join(point_text(finished(rows, weight_decay=w), f"wd {w:g}", budget) for w in wds)
        + f"<br>log-rank, wd 0 later than wd {base_wd:g}: p {later:.2g}",
        f"Fisher exact: wd 0 generalizes in fewer seeds than wd {base_wd:g}",
        fewer,
        more,
        "claim1-weight-decay/generalization_curves.png",
    )


def bracket_text(rows: Sequence[Row], sizes: Sequence[int]) -> str:
    """Which widths never generalize and which always do: the transition lies between."""
    shares = {}
    for size in sizes:
        runs = finished(rows, d_model=size)
        shares[size] = sum(t is not None for t in stable_epochs(runs)) / max(len(runs), 1)
    never = [s for s in sizes if shares[s] == 0]
    always = [s for s in sizes if shares[s] == 1]
    if never and always:
        return f"bracketed: d_model {max(never)} never generalizes, {min(always)} always does"
    return f"not bracketed: never at d_model {never or 'none'}, always at {always or 'none'}"


def claim_small_models(rows: Sequence[Row], config: GrokConfig, budget: int) -> Decision:
    base_size = config.d_model
    sizes = sorted({r["d_model"] for r in rows})
    smallest, base = finished(rows, d_model=sizes[0]), finished(rows, d_model=base_size)
    fewer, more = compare_shares(smallest, base)
    return Decision(
        "2a. too-small models don't grok",
        f"d_model in {sizes} (d_ff {config.d_ff}, {config.n_heads} heads)",
        "<br>".join(point_text(finished(rows, d_model=s), f"d_model {s}", budget) for s in sizes)
        + f"<br>{bracket_text(rows, sizes)}",
        f"Fisher exact: d_model {sizes[0]} generalizes in fewer seeds than d_model {base_size}",
        fewer,
        more,
        "claim2-model-size/generalization_curves.png",
    )


def claim_large_models(rows: Sequence[Row], base_size: int, budget: int) -> Decision:
    largest_size = max(r["d_model"] for r in rows)
    largest, base = finished(rows, d_model=largest_size), finished(rows, d_model=base_size)
    base_delays, largest_delays = delays(base, budget), delays(largest, budget)
    longer, shorter = compare_times(*base_delays, *largest_delays)
    return Decision(
        "2b. too-large models show no clear transition",
        f"d_model {largest_size} vs {base_size}",
        f"{point_text(largest, f'd_model {largest_size}', budget)}<br>"
        f"{point_text(base, f'd_model {base_size}', budget)}",
        f"log-rank: the delay of d_model {largest_size} is shorter than d_model {base_size}'s",
        longer,
        shorter,
        "claim2-model-size/phase_diagram.png",
    )


def fraction_extremes(rows: Sequence[Row]) -> tuple[list[float], list[Row], list[Row]]:
    """The sorted train fractions, and the finished runs at the smallest and the largest."""
    fractions = sorted({r["train_fraction"] for r in rows})
    small, large = (finished(rows, train_fraction=f) for f in (fractions[0], fractions[-1]))
    return fractions, small, large


def claim_less_data_sooner(rows: Sequence[Row], budget: int) -> Decision:
    fractions, small, large = fraction_extremes(rows)
    large_later, small_later = compare_times(
        stable_epochs(large), budget, stable_epochs(small), budget
    )
    return Decision(
        "3a. less data generalizes sooner",
        f"train_fraction in {fractions}",
        "<br>".join(
            point_text(finished(rows, train_fraction=f), f"fraction {f:g}", budget)
            for f in fractions
        ),
        f"log-rank: fraction {fractions[0]:g} reaches stable generalization before "
        f"{fractions[-1]:g}",
        large_later,
        small_later,
        "claim3-train-fraction/generalization_curves.png",
    )


def claim_less_data_longer_delay(rows: Sequence[Row], budget: int) -> Decision:
    fractions, small, large = fraction_extremes(rows)
    longer, shorter = compare_times(*delays(small, budget), *delays(large, budget))
    return Decision(
        "3b. less data delays grokking longer",
        f"train_fraction {fractions[0]:g} vs {fractions[-1]:g}",
        "delay = stable generalization / memorization epoch (censored at budget / "
        f"memorization)<br>{point_text(small, f'fraction {fractions[0]:g}', budget)}<br>"
        f"{point_text(large, f'fraction {fractions[-1]:g}', budget)}",
        f"log-rank: the delay at fraction {fractions[0]:g} is longer than at {fractions[-1]:g}",
        longer,
        shorter,
        "claim3-train-fraction/phase_diagram.png",
    )


def claim_sharpness(measured: Sequence[dict[str, Any]]) -> Decision:
    """``measured``: :func:`matched_sharpness.measure_pair` of each seed."""
    eig = [matched_sharpness.log_ratios(m, "hessian_top_eig") for m in measured]
    trace = [matched_sharpness.log_ratios(m, "hessian_trace") for m in measured]
    changes = [e["change"] for e in eig if not math.isnan(e["change"])]
    lines = [f"{len(changes)} of {len(measured)} seeds with matched pairs in both phases"]
    for phase in matched_sharpness.PHASES:
        matched = [sum(m["phases"][phase]["matched"]) for m in measured]
        taken = [len(m["phases"][phase]["matched"]) for m in measured]
        lines.append(
            f"{phase}: {sum(matched)} of {sum(taken)} snapshots matched within "
            f"x{measured[0]['tolerance'] if measured else 'n/a'} of the control's loss"
        )
    for name, per_seed in (("top eigenvalue", eig), ("trace", trace)):
        for key in (*matched_sharpness.PHASES, "change"):
            values = [s[key] for s in per_seed if not math.isnan(s[key])]
            lines.append(f"{name}, log ratio to control, {key}: {ci_text(values)}")
    raw = [raw_phase_change(m) for m in measured]
    lines.append(
        "unmatched, along the run (log top eigenvalue, generalized - memorized): "
        + ci_text([r for r in raw if not math.isnan(r)])
    )
    p_flatter, p_sharper = one_sample_t(changes)
    return Decision(
        "4. sharp minima early, flatter at grokking",
        "base wd vs a wd-0 run of the same seed at the nearest training loss (pairs "
        "further apart than the tolerance are left out); top Hessian eigenvalue (Lanczos) "
        "and Hutchinson trace of the full-batch training loss",
        "<br>".join(lines),
        "t-test over seeds: the log eigenvalue ratio to the loss-matched control falls from "
        "the memorization plateau to the generalized phase",
        p_flatter,
        p_sharper,
        "claim4-sharpness/matched_sharpness.png",
    )


def raw_phase_change(measured: dict[str, Any]) -> float:
    means = []
    for phase in matched_sharpness.PHASES:
        eig = [v for v in measured["phases"][phase]["hessian_top_eig"] if v > 0]
        means.append(sum(math.log(v) for v in eig) / len(eig) if eig else math.nan)
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
    small = finished(rows, init_scale=scales[0], weight_decay=base_wd)
    large = finished(rows, init_scale=scales[-1], weight_decay=base_wd)
    later, sooner = compare_times(stable_epochs(large), budget, stable_epochs(small), budget)
    return Decision(
        "5. larger initial weights delay generalization (Omnigrok)",
        f"init_scale in {scales} x weight_decay in {wds}",
        "<br>".join(
            point_text(
                finished(rows, init_scale=s, weight_decay=w), f"init x{s:g}, wd {w:g}", budget
            )
            for w in wds
            for s in scales
        ),
        f"log-rank: init x{scales[-1]:g} generalizes later than x{scales[0]:g} at wd {base_wd:g}",
        later,
        sooner,
        "claim5-init-scale/phase_diagram.png",
    )


# --- the report ---------------------------------------------------------------------------


def table_markdown(decisions: Sequence[Decision], alpha: float) -> str:
    """The verdict table (the part the README copies), without the figure column."""
    lines = [
        "| claim | test (claimed direction) | one-sided p | Holm p (two-sided) | verdict |",
        "|---|---|---|---|---|",
    ]
    for d in decisions:
        lines.append(
            f"| {d.claim} | {d.test} | {d.p_claimed:.2g} | {d.holm_p:.2g} | **{d.verdict}** |"
        )
    lines.append(
        f"\nsupported / contradicted: Holm p < {alpha:g} in the claimed / opposite direction; "
        "inconclusive otherwise."
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
        f"Generalized = test accuracy >= {plan.threshold:g} from the stable epoch to the end; "
        "never = censored at the budget. Shares with exact 95% CIs, medians with "
        "order-statistic CIs; delay = stable generalization epoch / memorization epoch. "
        f"{diverged} of {runs} runs diverged; they are left out of every test.",
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
) -> list[Row]:
    """One sweep (finished runs are reused), its runs' rows and its curves figure."""
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
    rows = grok_sweep.collect(tasks, grid, plan.threshold)
    axes = [k for k, v in grid.items() if len(v) > 1]
    if axes:
        draw_curves(rows, axes, plan.max_epochs, folder)
    return rows


def draw_curves(rows: Sequence[Row], axes: Sequence[str], budget: int, folder: Path) -> None:
    from gptlab.plots.sweep import plot_generalization_curves

    points = sorted({tuple(r[a] for a in axes) for r in rows})
    curves = {}
    for point in points:
        runs = finished(rows, **dict(zip(axes, point, strict=True)))
        if runs:
            label = ", ".join(f"{a} {v:g}" for a, v in zip(axes, point, strict=True))
            curves[label] = kaplan_meier(stable_epochs(runs), budget)
    figure = plot_generalization_curves(curves, budget, title=folder.name)
    figure.savefig(folder / "generalization_curves.png", dpi=110)


def run_claims(
    plan: ClaimsPlan, out: Path, workers: int | None = None, readme: Path | None = None
) -> str:
    """Every experiment (finished runs and measures are reused), then ``out/claims.md``;
    returns its text."""
    from gptlab.plots.sweep import plot_matched_sharpness

    plan.check()
    if readme is not None:  # now, not after the runs
        check_readme(readme)
    base, budget = plan.base, plan.max_epochs
    every_run: list[Row] = []

    def swept(name: str, grid: dict, config=base, seeds=plan.seeds, epochs=budget) -> list[Row]:
        arm = dataclasses.replace(plan, max_epochs=epochs)
        rows = run_sweep(arm, config, out / name, grid, seeds, workers)
        every_run.extend(rows)
        return rows

    rows = swept("claim1-weight-decay", {"weight_decay": plan.weight_decays})
    decisions = [claim_weight_decay(rows, base.weight_decay, budget)]
    rows = swept("claim2-model-size", {"d_model": plan.d_models})
    decisions += [
        claim_small_models(rows, base, budget),
        claim_large_models(rows, base.d_model, budget),
    ]
    rows = swept("claim3-train-fraction", {"train_fraction": plan.train_fractions})
    decisions += [claim_less_data_sooner(rows, budget), claim_less_data_longer_delay(rows, budget)]
    groks = swept(
        "claim4-sharpness/groks",
        {},
        dataclasses.replace(base, snapshot_every=plan.snapshot_every),
        plan.sharpness_seeds,
    )
    control = swept(
        "claim4-sharpness/control",
        {},
        dataclasses.replace(base, weight_decay=0.0, snapshot_every=plan.control_snapshot_every),
        plan.sharpness_seeds,
        plan.control_epochs,
    )
    folder = out / "claim4-sharpness"
    measured = [
        matched_sharpness.measure_pair(
            folder / "groks" / "base" / f"seed-{seed}",
            folder / "control" / "base" / f"seed-{seed}",
            plan.threshold,
            plan.per_phase,
            plan.match_tolerance,
        )
        for seed in sorted(
            {r["seed"] for r in finished(groks)} & {r["seed"] for r in finished(control)}
        )
    ]
    plot_matched_sharpness(measured).savefig(folder / "matched_sharpness.png", dpi=110)
    decisions.append(claim_sharpness(measured))
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
        "8 seeds per grid point, log-rank and Fisher tests, sharpness at equal training loss.\n"
        "Takes about 45 min at --scale cpu on a 2-core CPU (see docs/grokking.md); finished\n"
        "runs and measures are reused, so an interrupted call resumes.",
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
