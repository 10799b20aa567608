"""Verdicts from results: one :class:`Decision` per row of ``claims.md`` (claims 1, 2a, 2b,
3a, 3b and 5; claim 4 is :mod:`.sharpness`), each a test in the claimed direction, and one
Holm correction over the rows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gptlab.analysis.statistics import fisher_fewer, fisher_two_sided, holm
from gptlab.analysis.survival import logrank_later, logrank_two_sided
from gptlab.config import flat_value
from gptlab.experiments.grokking import GrokConfig
from gptlab.experiments.grokking.claims.rows import (
    UNMIRRORED,
    Row,
    at,
    delays,
    generalized,
    grok_epochs,
    point_text,
)


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
    base_size = flat_value(config, "d_model")
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
        f"d_model in {sizes} (d_ff {flat_value(config, 'd_ff')}, "
        f"{flat_value(config, 'n_heads')} heads); a width that "
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
