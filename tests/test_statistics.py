"""Paired statistics for comparing variants over the same seeds."""

import math

import numpy as np
import pytest
from scipy import stats

from gptlab.analysis.statistics import (
    censored,
    censored_median_ci,
    fisher_fewer,
    fisher_two_sided,
    holm,
    kaplan_meier,
    logrank_later,
    logrank_two_sided,
    mean_ci,
    minimum_detectable_effect,
    one_sample_t_two_sided,
    paired_comparison,
    paired_contrasts,
    paired_t_power,
    proportion_ci,
    summarize,
)


def test_summarize_uses_the_sample_standard_deviation():
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert (s.mean, s.n) == (2.5, 4)
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    assert math.isnan(summarize([1.0]).std)


def test_paired_difference_ci_and_t_test_on_known_numbers():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 * sqrt(3) on 2 df
    result = paired_comparison([11.0, 22.0, 33.0], [10.0, 20.0, 30.0])
    assert result.mean_difference == pytest.approx(2.0)
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n)
    assert (result.ci_low, result.ci_high) == pytest.approx((2 - half, 2 + half))
    assert result.t_pvalue == pytest.approx(0.07417990022744858)
    assert not result.ci_excludes_zero


def test_paired_tests_agree_with_scipy():
    variant = [1.712, 1.705, 1.731, 1.698, 1.720, 1.709]
    baseline = [1.715, 1.711, 1.733, 1.707, 1.722, 1.716]
    result = paired_comparison(variant, baseline)
    assert result.t_pvalue == pytest.approx(stats.ttest_rel(variant, baseline).pvalue)
    assert result.wilcoxon_pvalue == pytest.approx(stats.wilcoxon(variant, baseline).pvalue)
    assert result.ci_excludes_zero and result.mean_difference < 0


def test_identical_runs_are_no_evidence():
    result = paired_comparison([1.0, 2.0], [1.0, 2.0])
    assert result.mean_difference == 0 and result.t_pvalue == 1.0
    assert result.wilcoxon_pvalue == 1.0


def test_paired_comparison_refuses_unpaired_or_single_samples():
    with pytest.raises(ValueError, match="differ in size"):
        paired_comparison([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_comparison([1.0], [2.0])


def test_holm_adjusts_step_down_and_keeps_input_order():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_holm_keeps_nan_and_counts_it_in_the_family():
    # max(0.0, nan) is 0.0 in Python: a nan once came back as an adjusted p of 0
    assert math.isnan(holm([math.nan])[0])
    # the nan counts in m = 3 and ranks last, as p = 1 would: statsmodels 0.15
    # multipletests([0.01, 1.0, 0.04], method="holm") gives [0.03, 1.0, 0.08]
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.03) and adjusted[2] == pytest.approx(0.08)
    assert math.isnan(adjusted[1])


def test_a_nan_difference_gives_a_nan_p_not_certainty():
    # one nan makes sd(d) nan, which sent the t-test down the 'all differences equal' path
    result = paired_comparison([1.0, math.nan], [0.0, 0.0])
    assert math.isnan(result.t_pvalue) and math.isnan(result.mean_difference)
    assert holm([result.t_pvalue, 0.01])[1] == pytest.approx(0.02)


# --- time-to-event summaries with censoring (grokking sweeps) ---


def test_censored_median_counts_never_as_infinity_not_as_missing():
    # dropping the two runs that never grokked would report a median of 150
    result = censored_median_ci([100, 200, None, None, 120])
    assert result.median == 200
    assert censored_median_ci([100, None, None]).median == math.inf
    assert censored_median_ci([100, 300]).median == 200


def test_censored_median_ci_uses_order_statistics_with_their_true_coverage():
    times = list(range(1, 11))  # n = 10: [x_(2), x_(9)] covers 1 - 2 P(Bin(10, 1/2) <= 1) = 97.9%
    result = censored_median_ci(times, confidence=0.95)
    assert (result.low, result.high) == (2, 9)
    assert result.confidence == pytest.approx(1 - 2 * 11 / 1024)
    small = censored_median_ci([5, 1, None])  # n = 3 cannot reach 95%: (min, max), 75%
    assert (small.low, small.high, small.confidence) == (1, math.inf, 0.75)
    with pytest.raises(ValueError):
        censored_median_ci([])


def test_proportion_ci_is_exact_clopper_pearson():
    low, high = proportion_ci(0, 3)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 3))
    low, high = proportion_ci(3, 3)
    assert high == 1 and low == pytest.approx(0.025 ** (1 / 3))
    with pytest.raises(ValueError):
        proportion_ci(4, 3)


def test_minimum_detectable_effect_matches_published_power_tables():
    # G*Power, paired t, two-sided alpha 0.05, power 0.8: dz = 0.9962 at n = 10, 1.6820 at 5
    assert minimum_detectable_effect(1.0, 10) == pytest.approx(0.9962, abs=1e-3)
    assert minimum_detectable_effect(1.0, 5) == pytest.approx(1.6820, abs=1e-3)
    assert minimum_detectable_effect(0.01, 5) == pytest.approx(0.016820, abs=1e-5)  # scales
    assert minimum_detectable_effect(1.0, 20) < minimum_detectable_effect(1.0, 10)
    assert minimum_detectable_effect(0.0, 5) == 0.0
    with pytest.raises(ValueError, match="at least 2 pairs"):
        minimum_detectable_effect(1.0, 1)


def test_minimum_detectable_effect_at_two_pairs_is_not_cut_short_by_a_nan_tail():
    # exact noncentral t (scipy 1.17), alpha 0.05 two-sided, power 0.8; statsmodels 0.15
    # TTestPower().solve_power agrees to 1e-6: 11.549890 (n 2), 3.264044 (3), 2.127949 (4).
    # A nan in the negligible lower tail at n = 2 once gave 5.45, which has power 0.455.
    assert minimum_detectable_effect(1.0, 2) == pytest.approx(11.549888, abs=1e-4)
    assert minimum_detectable_effect(1.0, 3) == pytest.approx(3.264044, abs=1e-5)
    assert minimum_detectable_effect(1.0, 4) == pytest.approx(2.127949, abs=1e-5)
    # power by simulation at n = 2 (2M draws: 0.455 at 5.45 sd, 0.800 at 11.55 sd)
    assert paired_t_power(5.45, 2) == pytest.approx(0.4546, abs=1e-3)
    assert paired_t_power(11.549888, 2) == pytest.approx(0.8, abs=1e-5)
    assert paired_t_power(0.0, 7) == pytest.approx(0.05)  # no effect: the test's level
    rng = np.random.default_rng(1)
    draws = rng.normal(minimum_detectable_effect(1.0, 2), 1.0, size=(40_000, 2))
    rejected = stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.01)


def test_minimum_detectable_effect_at_the_holm_level():
    # alpha 0.05 / 16 (16 contrasts under one Holm correction), exact noncentral t; a
    # 400,000-draw simulation gives power 0.7995 at 3.5647 sd for n = 5 (and 0.65 at 3.05),
    # statsmodels 0.15 TTestPower gives 1.591007 at n = 10
    assert minimum_detectable_effect(1.0, 5, comparisons=16) == pytest.approx(3.564744, abs=1e-5)
    assert minimum_detectable_effect(1.0, 10, comparisons=16) == pytest.approx(1.591006, abs=1e-5)
    assert minimum_detectable_effect(1.0, 5, alpha=0.05 / 16) == pytest.approx(3.564744, abs=1e-5)
    rng = np.random.default_rng(2)
    draws = rng.normal(minimum_detectable_effect(1.0, 5, comparisons=16), 1.0, size=(40_000, 5))
    rejected = stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05 / 16
    assert rejected.mean() == pytest.approx(0.8, abs=0.01)
    with pytest.raises(ValueError, match="comparisons = 0"):
        minimum_detectable_effect(1.0, 5, comparisons=0)


def test_minimum_detectable_effect_has_the_requested_power_by_simulation():
    rng = np.random.default_rng(0)
    effect = minimum_detectable_effect(1.0, 6)
    draws = rng.normal(effect, 1.0, size=(20_000, 6))
    rejected = stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.015)


def test_mean_ci_is_the_t_interval_and_nan_for_one_value():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert mean_ci([5.0])[0] == 5.0 and math.isnan(mean_ci([5.0])[1])


def test_paired_contrasts_pair_by_seed_and_share_one_holm_correction():
    values = {
        "baseline": {0: 2.0, 1: 2.1, 2: 2.2, 3: 2.05},
        "centered": {0: 1.9, 1: 2.0, 2: 2.1, 3: 1.93},
        "control": {0: 1.95, 1: 2.05, 2: 2.12},  # seed 3 diverged: paired over 0-2 only
        "lonely": {7: 1.0},  # no common seed with anyone: not tested
    }
    pairs = [("centered", "baseline", "vs baseline"), ("control", "baseline", "vs baseline"),
             ("centered", "control", "beyond"), ("lonely", "baseline", "vs baseline")]  # fmt: skip
    result = paired_contrasts(values, pairs)
    assert [(c.treatment, c.control, c.paired.n) for c in result] == [
        ("centered", "baseline", 4), ("control", "baseline", 3), ("centered", "control", 3)
    ]  # fmt: skip
    assert [c.holm_p for c in result] == holm([c.paired.t_pvalue for c in result])
    beyond = result[2]
    assert beyond.paired.mean_difference == pytest.approx(-0.04)
    ratio, low, high = beyond.relative_ratio
    assert ratio == pytest.approx(math.exp(-0.04)) and low < ratio < high
    spread = np.std([-0.05, -0.05, -0.02], ddof=1)
    assert beyond.mde == pytest.approx(minimum_detectable_effect(spread, 3))
    # three contrasts under one Holm correction: at n = 3 the MDE at alpha 0.05 / 3 is
    # 5.6675 sd against 3.2640 (400,000 simulated draws: power 0.7999 at 5.6675 sd)
    assert beyond.mde_holm == pytest.approx(5.667476 * spread, rel=1e-5)
    assert beyond.mde == pytest.approx(3.264044 * spread, rel=1e-5)


def test_logrank_later_reads_the_side_and_counts_censored_runs():
    late = [100, 200, 300, None, None, None, None, None]  # 3 of 8 by the budget
    early = [50, 60, 70, 80, 90, 100, 110, 120]
    assert logrank_later(late, 2000, early, 2000) < 0.001
    assert logrank_later(early, 2000, late, 2000) > 0.999
    # no event in either group, or an empty group: no evidence
    assert logrank_later([None] * 8, 2000, [None] * 8, 2000) == 1.0
    assert logrank_later([], 2000, early, 2000) == 1.0


def test_censored_takes_one_bound_per_run_or_one_for_all():
    data = censored([3.0, None, None], [9.0, 10.0, 5.0])
    assert data._uncensored.tolist() == [3.0] and sorted(data._right.tolist()) == [5.0, 10.0]
    assert censored([None, 1.0], 7.0)._right.tolist() == [7.0]
    with pytest.raises(ValueError, match="2 censoring bounds for 3 times"):
        censored([1.0, 2.0, 3.0], [1.0, 2.0])


def test_logrank_two_sided_is_the_two_sided_test():
    # lifelines 0.30 logrank_test on the same data: p 0.44954793808564086 (chi2 0.5718)
    a, b = [100, 150, None, 400, None], [90, 120, 200, 210, None]
    assert logrank_two_sided(a, 500, b, 500) == pytest.approx(0.449547938, abs=1e-8)
    assert logrank_two_sided(b, 500, a, 500) == pytest.approx(0.449547938, abs=1e-8)
    assert logrank_two_sided([None] * 3, 500, [None] * 3, 500) == 1.0


def test_fisher_fewer_is_one_sided():
    assert fisher_fewer(0, 8, 8, 8) == pytest.approx(1 / 12870)
    assert fisher_fewer(8, 8, 0, 8) == 1.0
    assert fisher_fewer(4, 8, 4, 8) > 0.5


def test_fisher_two_sided_is_not_twice_the_one_sided_p():
    # 3/6 vs 8/8: of the tables with these margins (3, 4, 5 or 6 successes in the first
    # row: 165, 990, 1386, 462 of C(14, 6) = 3003) only the observed one is no more likely
    # than itself, so p = 165 / 3003 = 5 / 91; doubling the one-sided p gives 10 / 91
    assert fisher_two_sided(3, 6, 8, 8) == pytest.approx(5 / 91)
    assert 2 * fisher_fewer(3, 6, 8, 8) == pytest.approx(10 / 91)
    assert fisher_two_sided(8, 8, 3, 6) == pytest.approx(5 / 91)
    assert fisher_two_sided(0, 8, 8, 8) == pytest.approx(2 / 12870)  # symmetric margins
    assert fisher_two_sided(4, 8, 4, 8) == 1.0


def test_one_sample_t_two_sided():
    # statsmodels 0.15 DescrStatsW([-0.3, -0.1, 0.05, -0.25]).ttest_mean(0): t -1.897, 3 df
    assert one_sample_t_two_sided([-0.3, -0.1, 0.05, -0.25]) == pytest.approx(0.154030903)
    assert one_sample_t_two_sided([0.2]) == 1.0  # no spread to test against: no evidence
    assert one_sample_t_two_sided([0.2, 0.2]) == 1.0
    assert math.isnan(one_sample_t_two_sided([0.2, math.nan, 0.1]))


def test_kaplan_meier_with_censoring_at_the_budget_is_the_share_with_exact_intervals():
    curve = kaplan_meier([100, 300, None, 300], 2000)
    assert curve.times == [0.0, 100.0, 300.0, 2000.0]
    assert curve.share == [0.0, 0.25, 0.75, 0.75]
    assert curve.exact_until == 2000.0
    assert (curve.low[2], curve.high[2]) == pytest.approx(proportion_ci(3, 4))
    assert (curve.low[3], curve.high[3]) == pytest.approx(proportion_ci(3, 4))
    assert kaplan_meier([None, None], 50).share == [0.0, 0.0]
    assert kaplan_meier([None], 50).times == [0.0, 50.0]
    assert kaplan_meier([20.0, 40.0], 50).exact_until == math.inf


def test_kaplan_meier_lets_a_run_censored_early_leave_the_risk_set():
    # the third run stopped at 150 without the event: after it only 2 runs are at risk, and
    # both have the event, so the true share by 300 is 1, where counting it as "never" said
    # 3 / 4 (lifelines 0.30 KaplanMeierFitter: 0.25, 0.625, 1.0)
    curve = kaplan_meier([100, 200, None, 300], [2000, 2000, 150, 2000])
    assert curve.times == [0.0, 100.0, 200.0, 300.0, 2000.0]
    assert curve.share == pytest.approx([0.0, 0.25, 0.625, 1.0, 1.0])
    assert curve.exact_until == 150.0
    assert (curve.low[1], curve.high[1]) == pytest.approx(proportion_ci(1, 4))  # before 150
    # after it, Greenwood log-log: lifelines gives [0.191999, 0.989029] at 200
    assert (curve.low[2], curve.high[2]) == pytest.approx((0.191999, 0.989029), abs=1e-6)
    assert math.isnan(curve.low[3]) and math.isnan(curve.high[3])  # undefined at share 1


def test_kaplan_meier_matches_lifelines_with_several_early_censorings():
    # 8 runs, censored at 300, 260 and 700; lifelines 0.30 KaplanMeierFitter on the same
    # durations: cumulative density 0.125, 0.25, 0.4375, 0.625, 0.8125 at 80, 120, 350,
    # 410, 500, and its (log-log) intervals after the first censoring at 260
    times = [120, None, 80, 500, None, 410, None, 350]
    bounds = [1000, 300, 1000, 1000, 260, 1000, 700, 1000]
    curve = kaplan_meier(times, bounds)
    assert curve.times == [0.0, 80.0, 120.0, 350.0, 410.0, 500.0, 1000.0]
    assert curve.share == pytest.approx([0.0, 0.125, 0.25, 0.4375, 0.625, 0.8125, 0.8125])
    assert curve.low[3:6] == pytest.approx([0.158476, 0.283484, 0.446022], abs=1e-6)
    assert curve.high[3:6] == pytest.approx([0.853194, 0.944195, 0.991300], abs=1e-6)
    assert (curve.low[2], curve.high[2]) == pytest.approx(proportion_ci(2, 8))
