"""Time-to-event summaries with censoring (grokking sweeps): medians, log-rank tests and
Kaplan-Meier curves, against lifelines and hand-counted cases."""

import math

import pytest

from gptlab.analysis.statistics import proportion_ci
from gptlab.analysis.survival import (
    censored,
    censored_median_ci,
    kaplan_meier,
    logrank_later,
    logrank_two_sided,
)


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
