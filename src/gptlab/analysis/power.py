"""Statistical power of the paired t-test: how large a true difference a number of seeds
can detect (pure functions, numbers in, numbers out)."""

from __future__ import annotations

import math

from scipy import optimize, stats


def paired_t_power(effect: float, n: int, alpha: float = 0.05) -> float:
    """Probability that a two-sided paired (or one-sample) t-test at level ``alpha`` rejects
    for ``n`` pairs whose true mean difference is ``effect`` standard deviations of the
    differences (exact, through the noncentral t distribution)."""
    df, shift = n - 1, effect * math.sqrt(n)
    critical = stats.t.ppf(1 - alpha / 2, df)
    # The lower tail P(T < -c) at shift s is the upper tail at shift -s (T(-s) ~ -T(s)).
    # scipy's nct.cdf(-c, 1, s) is nan for large s, and a nan there once turned the power at
    # n = 2 into 1 (an MDE of 5.45 sd instead of 11.55); nct.sf stays finite on both sides.
    return float(stats.nct.sf(critical, df, shift) + stats.nct.sf(critical, df, -shift))


def minimum_detectable_effect(
    sd_difference: float, n: int, power: float = 0.8, alpha: float = 0.05, comparisons: int = 1
) -> float:
    """The smallest true mean paired difference that a two-sided paired t-test detects with
    probability ``power``, for ``n`` pairs whose differences have standard deviation
    ``sd_difference`` (see :func:`paired_t_power`).

    The test's level is ``alpha / comparisons``: with ``comparisons`` = m tests under one
    Holm correction, alpha / m is the level at which Holm rejects a test whatever the others
    give (its first step), so this is the effect every contrast of the family is sure to
    detect with that power; a contrast whose m - r others are all rejected is tested at
    alpha / r and may need less. A difference smaller than this may be real; n seeds were
    too few to tell."""
    if n < 2:
        raise ValueError(f"n = {n}: a paired t-test needs at least 2 pairs")
    if not (0 < power < 1 and 0 < alpha < 1):
        raise ValueError(f"power {power} and alpha {alpha} must lie in (0, 1)")
    if comparisons < 1:
        raise ValueError(f"comparisons = {comparisons} must be at least 1")
    if sd_difference == 0:
        return 0.0
    level = alpha / comparisons

    def shortfall(standardized: float) -> float:  # in units of sd_difference
        return paired_t_power(standardized, n, level) - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2
    return sd_difference * float(optimize.brentq(shortfall, 0.0, upper, xtol=1e-12))
