"""Power of the paired t-test: the minimum detectable effect against published tables and
simulation."""

import numpy as np
import pytest
from scipy import stats

from gptlab.analysis.power import minimum_detectable_effect, paired_t_power


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
