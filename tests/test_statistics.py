"""Paired statistics for comparing variants over the same seeds, and tests of shares."""

import math

import numpy as np
import pytest
from scipy import stats

from gptlab.analysis.power import minimum_detectable_effect
from gptlab.analysis.statistics import (
    fisher_fewer,
    fisher_two_sided,
    holm,
    mean_ci,
    one_sample_t_two_sided,
    paired_comparison,
    paired_contrasts,
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


def test_proportion_ci_is_exact_clopper_pearson():
    low, high = proportion_ci(0, 3)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 3))
    low, high = proportion_ci(3, 3)
    assert high == 1 and low == pytest.approx(0.025 ** (1 / 3))
    with pytest.raises(ValueError):
        proportion_ci(4, 3)


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
