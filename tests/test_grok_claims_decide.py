"""The verdict of each claim on synthetic sweeps, and one Holm correction over the rows."""

import math

import pytest
from claims_data import runs

from gptlab.analysis.statistics import holm
from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking.claims.decide import (
    Decision,
    bracket_text,
    claim_init_scale,
    claim_large_models,
    claim_less_data_longer_delay,
    claim_less_data_sooner,
    claim_small_models,
    claim_weight_decay,
    decide,
)

BUDGET = 2000


def decided(decision: Decision) -> str:
    return decide([decision], alpha=0.05)[0].verdict


def row(claimed, opposite, two_sided=None, weight=1.0):
    two_sided = min(1.0, 2 * min(claimed, opposite)) if two_sided is None else two_sided
    return Decision("c", "e", "r", "t", claimed, opposite, two_sided, "f.png", weight)


def test_decide_holm_corrects_the_two_sided_p_over_rows_and_reads_the_side():
    rows = decide([row(0.001, 0.999), row(0.999, 0.001), row(0.02, 0.98)], alpha=0.05)
    assert [r.verdict for r in rows] == ["supported", "contradicted", "supported"]
    # two-sided p 0.002, 0.002 and 0.04 times 3, 2 and 1, kept monotone
    assert [r.holm_p for r in rows] == pytest.approx([0.006, 0.006, 0.04])
    rows = decide([row(0.001, 0.999), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "supported"
    rows = decide([row(0.001, 0.999), row(0.02, 0.98), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "inconclusive" and rows[1].holm_p == pytest.approx(0.08)
    # the two-sided p is the test's own, not twice the smaller one-sided p
    assert decide([row(0.02, 0.98, two_sided=0.06)], alpha=0.05)[0].verdict == "inconclusive"


def test_weighted_holm_counts_rows_on_the_same_arms_as_one_test():
    p = [0.01, 0.02, 0.015, 0.3]
    assert holm(p, [1] * 4) == pytest.approx(holm(p))
    assert holm(p) == pytest.approx([0.04, 0.045, 0.045, 0.3])
    # the last two share one test: the family counts 3, not 4
    shared = holm(p, [1, 1, 0.5, 0.5])
    assert shared[0] == pytest.approx(0.03)  # 3 x 0.01
    assert shared[1] == pytest.approx(0.04)  # 2 remaining x 0.02
    assert shared[2] == pytest.approx(0.04)  # 1 remaining x 0.015 / 0.5, kept monotone
    rows = [row(0.01, 0.99) for _ in range(3)]  # two-sided 0.02 each, x 3 tests
    assert [r.verdict for r in decide(rows, 0.05)] == ["inconclusive"] * 3
    rows = [row(0.01, 0.99), row(0.01, 0.99, weight=0.5), row(0.01, 0.99, weight=0.5)]
    assert [r.verdict for r in decide(rows, 0.05)] == ["supported"] * 3  # x 2 tests
    # weight 0 (no test) stays out of the count, with no p
    assert holm([0.02, math.nan], [1, 0])[0] == pytest.approx(0.02)
    assert math.isnan(holm([0.02, math.nan], [1, 0])[1])


def test_weight_decay_is_supported_only_when_wd_0_generalizes_in_fewer_seeds():
    never = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    decision = claim_weight_decay(never, 1.0, BUDGET)
    assert decision.p_claimed == pytest.approx(1 / 12870)  # 0/8 vs 8/8: 1 / C(16, 8)
    assert decision.p_two_sided == pytest.approx(2 / 12870)  # the other extreme table too
    assert decided(decision) == "supported"
    assert "wd 0: 0/8" in decision.result and "wd 1: 8/8" in decision.result
    # 2 of 8 without decay vs 3 of 8 with it: inside the noise of 8 seeds
    close = runs(8, [500] * 2 + [None] * 6, weight_decay=0.0)
    close += runs(8, [500] * 3 + [None] * 5, weight_decay=1.0)
    assert decided(claim_weight_decay(close, 1.0, BUDGET)) == "inconclusive"
    both = runs(8, 300, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    assert decided(claim_weight_decay(both, 1.0, BUDGET)) == "inconclusive"


def test_fisher_two_sided_p_is_the_exact_one():
    rows = runs(6, [500] * 3 + [None] * 3, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    decision = claim_weight_decay(rows, 1.0, BUDGET)
    assert decision.p_claimed == pytest.approx(0.055, abs=1e-3)
    assert decision.p_two_sided == pytest.approx(0.055, abs=1e-3)  # not 0.110


def test_diverged_runs_count_as_runs_that_did_not_generalize():
    rows = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    assert decided(claim_weight_decay(rows, 1.0, BUDGET)) == "supported"
    # 6 of the base's 8 diverge (their last stable epoch is no outcome): 2/8 vs 0/8
    rows = runs(8, None, weight_decay=0.0) + runs(2, 900, weight_decay=1.0)
    rows += runs(6, 900, status="diverged", weight_decay=1.0)
    decision = claim_weight_decay(rows, 1.0, BUDGET)
    assert decided(decision) == "inconclusive"  # dropped, 2/2 vs 0/8 read as supported
    assert "wd 1: 2/8" in decision.result and "6 diverged" in decision.result


def test_widths_that_cannot_fit_their_data_are_set_apart_from_the_test():
    config = replace_flat(grok.PRESETS["grok"], d_model=64)
    unfit = runs(8, None, memorized=None, d_model=4) + runs(8, None, memorized=None, d_model=8)
    large = runs(8, 1000, d_model=64) + runs(8, 150, d_model=128)
    # 16 memorizes and does not grok: the claim holds among models that fit
    rows = unfit + runs(8, [900] + [None] * 7, d_model=16) + large
    decision = claim_small_models(rows, config, BUDGET)
    assert decided(decision) == "supported" and "d_model 16, the smallest" in decision.test
    assert "d_model 4: 0/8" in decision.result and "cannot fit" in decision.result
    # 16 memorizes and groks as often as 64: the same design says no
    rows = unfit + runs(8, 900, d_model=16) + large
    assert decided(claim_small_models(rows, config, BUDGET)) == "inconclusive"
    # no width below the base fits: not testable, and no test in Holm's count
    rows = unfit + runs(8, None, memorized=None, d_model=16) + large
    decision = claim_small_models(rows, config, BUDGET)
    assert decided(decision).startswith("not testable here: no width below d_model 64")
    assert decision.weight == 0 and math.isnan(decision.holm_p)
    assert bracket_text(large, [64, 128]).startswith("not bracketed")


def test_large_models_compare_the_delay_with_the_base():
    rows = runs(8, 1000, d_model=64) + runs(8, 150, d_model=128)
    large = claim_large_models(rows, 64, BUDGET)  # delay x1.5 vs x10, same memorization
    assert decided(large) == "supported" and "d_model 128 vs 64" in large.experiment
    slow = rows[:8] + runs(8, 1900, d_model=128)
    assert decided(claim_large_models(slow, 64, BUDGET)) == "contradicted"


def test_time_claims_read_the_first_crossing_not_the_stable_epoch():
    # the lr schedule sets the stable epoch (1160 everywhere); the first crossing differs
    slow = runs(8, 1160, first=1100, init_scale=10.0, weight_decay=1.0)
    fast = runs(8, 1160, first=[300 + s for s in range(8)], init_scale=1.0, weight_decay=1.0)
    assert decided(claim_init_scale(slow + fast, 1.0, BUDGET)) == "supported"
    # stable much later (the stable epoch would say supported), first crossing the same
    late = runs(8, 1900, first=[300 + s for s in range(8)], init_scale=10.0, weight_decay=1.0)
    assert decided(claim_init_scale(late + fast, 1.0, BUDGET)) == "inconclusive"


def test_train_fraction_rows_split_speed_and_delay_on_unmirrored_pairs():
    # the literature: more data generalizes sooner, and the delay is longer with less data
    rows = runs(8, 1500, memorized=100, train_fraction=0.3)
    rows += runs(8, 300, memorized=100, train_fraction=0.6)
    sooner, longer = (
        claim_less_data_sooner(rows, BUDGET),
        claim_less_data_longer_delay(rows, BUDGET),
    )
    assert decided(sooner) == "contradicted" and decided(longer) == "supported"
    assert sooner.weight == longer.weight == 0.5 and "same arms" in sooner.result
    # never generalizing with less data: a censored, still longer delay
    rows = runs(8, None, memorized=100, train_fraction=0.3) + rows[8:]
    assert decided(claim_less_data_longer_delay(rows, BUDGET)) == "supported"
    # all test pairs say 0.6 is sooner, but only through mirrors seen in training: on the
    # unmirrored pairs both fractions take as long
    unseen = [(e, e) for e in range(800, 1200, 50)]
    rows = runs(8, 900, unmirrored=unseen, train_fraction=0.3)
    rows += runs(8, 300, unmirrored=unseen[::-1], train_fraction=0.6)
    assert decided(claim_less_data_sooner(rows, BUDGET)) == "inconclusive"


def test_init_scale_compares_the_extremes_at_the_base_weight_decay():
    rows = runs(8, 800, init_scale=1.0, weight_decay=1.0)
    rows += runs(8, 1600, init_scale=10.0, weight_decay=1.0)
    rows += runs(8, 100, init_scale=10.0, weight_decay=3.0)  # another wd: not in the test
    assert decided(claim_init_scale(rows, 1.0, BUDGET)) == "supported"
    assert "init x10, wd 3: 8/8" in claim_init_scale(rows, 1.0, BUDGET).result
