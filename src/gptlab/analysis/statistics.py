"""Statistics for comparing runs over seeds: pure functions, numbers in, numbers out.

A difference between two single runs says little: seed-to-seed noise in validation loss is
often larger than the effect. Variants are therefore run with the *same* seeds and compared
pairwise (same seed = same initialization of the shared weights and same batches), which
removes the part of the noise the two runs share.

Times to an event (the epoch a run generalizes) are right-censored: a run that never got
there within its budget is counted as +inf, never dropped (see ``censored_median_ci``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float  # sample standard deviation (ddof=1); nan for a single value
    n: int


def summarize(values: Sequence[float]) -> Summary:
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("summarize needs at least one value")
    std = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    return Summary(float(x.mean()), std, int(x.size))


@dataclass(frozen=True)
class PairedComparison:
    """``treatment - control`` over paired samples (same seed in both)."""

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    t_pvalue: float  # paired t-test, two-sided
    wilcoxon_pvalue: float  # Wilcoxon signed-rank, two-sided (nan if undefined)

    @property
    def ci_excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def paired_comparison(
    treatment: Sequence[float], control: Sequence[float], confidence: float = 0.95
) -> PairedComparison:
    """Mean paired difference, its t-based confidence interval, paired t and Wilcoxon tests.

    With n pairs the CI is mean(d) +- t_{n-1} * sd(d) / sqrt(n). Needs n >= 2. Note that with
    n <= 5 the exact two-sided Wilcoxon test cannot go below 2 / 2^n (0.25 for n = 3).
    """
    a, b = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in size: {a.shape} vs {b.shape}")
    if a.size < 2:
        raise ValueError("a paired comparison needs at least 2 pairs")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie in (0, 1)")
    d = a - b
    n = d.size
    mean = float(d.mean())
    sem = float(d.std(ddof=1) / np.sqrt(n))
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    t_p = float(stats.ttest_rel(a, b).pvalue) if sem > 0 else _degenerate_p(mean)
    w_p = float(stats.wilcoxon(a, b).pvalue) if np.any(d != 0) else 1.0
    return PairedComparison(n, mean, mean - half, mean + half, confidence, t_p, w_p)


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


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and its t-based confidence interval; (mean, nan, nan) for a single value."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def _degenerate_p(mean_difference: float) -> float:
    """All differences equal: no evidence if they are zero, otherwise certain; a nan mean (a
    nan among the values) stays nan rather than reading as certainty."""
    if math.isnan(mean_difference):
        return math.nan
    return 1.0 if mean_difference == 0 else 0.0


def holm(pvalues: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order.

    ``weights`` (default: all 1) is Holm's (1979) weighted step-down, valid under any
    dependence: the test of weight w is rejected when p / w <= alpha / (the summed weight of
    the tests not yet rejected). Tests that rest on the same data can share a weight of 1,
    so they count as one test; a weight of 0 (no test) stays out and gets nan.

    A nan p-value (a test that could not be computed) stays nan, and it still counts in the
    number (weight) of tests: it was part of the family, and leaving it out would make the
    other tests look stronger because one of them failed. It is ranked last, as if it were
    p = 1; since Holm's adjusted p-values only grow with any input p, the others' are then
    the largest they could be whatever the missing test would have given, so they stay valid.
    """
    p = np.asarray(pvalues, dtype=float)
    w = np.ones(p.size) if weights is None else np.asarray(weights, dtype=float)
    tested = [i for i in range(p.size) if w[i] > 0]
    order = sorted(tested, key=lambda i: math.inf if math.isnan(p[i]) else p[i] / w[i])
    adjusted = [math.nan] * p.size
    remaining, running = float(w[tested].sum()), 0.0
    for i in order:
        if math.isnan(p[i]):
            break  # ranked last: no finite p comes after it
        running = max(running, remaining * float(p[i]) / float(w[i]))
        adjusted[i] = min(1.0, running)
        remaining -= float(w[i])
    return adjusted


@dataclass(frozen=True)
class Contrast:
    """One tested difference ``treatment - control``, paired by seed, within a report whose
    tests are Holm-corrected together."""

    treatment: str
    control: str
    family: str  # what the contrast asks, e.g. "vs baseline"
    paired: PairedComparison
    holm_p: float
    mde: float  # minimum detectable effect at 80% power and alpha 0.05, unadjusted
    mde_holm: float  # the same at alpha 0.05 / m, m = contrasts in the Holm family

    @property
    def relative_ratio(self) -> tuple[float, float, float]:
        """exp of the difference and of its CI bounds: for log-losses, the perplexity ratio."""
        p = self.paired
        return math.exp(p.mean_difference), math.exp(p.ci_low), math.exp(p.ci_high)


def paired_contrasts(
    values: dict[str, dict[int, float]], pairs: Sequence[tuple[str, str, str]]
) -> list[Contrast]:
    """Each (treatment, control, family) of ``pairs`` over the seeds both arms have
    (``values[arm][seed]``), skipping pairs with fewer than 2 common seeds; one Holm
    correction over every contrast returned. Each contrast's minimum detectable effect is
    given at alpha 0.05 and at alpha 0.05 / m, the level Holm surely rejects at (see
    :func:`minimum_detectable_effect`); the verdicts are Holm-corrected, so the second is the
    effect they can resolve."""
    tested = []
    for treatment, control, family in pairs:
        seeds = sorted(set(values[treatment]) & set(values[control]))
        if len(seeds) < 2:
            continue
        a = [values[treatment][s] for s in seeds]
        b = [values[control][s] for s in seeds]
        spread = float(np.std(np.subtract(a, b), ddof=1))
        tested.append((treatment, control, family, paired_comparison(a, b), spread))
    adjusted = holm([t[3].t_pvalue for t in tested])
    m = len(tested)
    return [
        Contrast(
            t,
            c,
            f,
            paired,
            p,
            minimum_detectable_effect(spread, paired.n),
            minimum_detectable_effect(spread, paired.n, comparisons=m),
        )
        for (t, c, f, paired, spread), p in zip(tested, adjusted, strict=True)
    ]


# --- time-to-event summaries (grokking sweeps): runs that never grok are right-censored ---


@dataclass(frozen=True)
class MedianCI:
    median: float
    low: float
    high: float
    confidence: float  # the coverage actually achieved (order statistics give discrete levels)


def censored_median_ci(times: Sequence[float | None], confidence: float = 0.95) -> MedianCI:
    """Median time to an event and its distribution-free CI, with ``None`` (the event never
    happened within the budget) counted as +inf.

    When every unfinished run is censored at the same budget, as in a sweep, this equals the
    Kaplan-Meier median: censored runs are not dropped (that would bias the median down),
    they only push the median and the upper bound to +inf once they are half or more.
    The CI is [x_(l), x_(n+1-l)] with the largest l whose binomial coverage
    1 - 2 P(Bin(n, 1/2) < l) still reaches ``confidence``; small n cannot reach it, so the
    widest interval (min, max) is returned with its true, lower coverage.
    """
    if not times:
        raise ValueError("censored_median_ci needs at least one time")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence} must lie in (0, 1)")
    x = np.sort(np.array([np.inf if t is None else float(t) for t in times]))
    n = len(x)
    middle = x[(n - 1) // 2 : n // 2 + 1]
    median = float(middle.mean()) if np.isfinite(middle).all() else float(np.inf)
    level = 1
    for candidate in range(1, n // 2 + 1):
        if 1 - 2 * stats.binom.cdf(candidate - 1, n, 0.5) >= confidence:
            level = candidate
    coverage = 1 - 2 * stats.binom.cdf(level - 1, n, 0.5)
    return MedianCI(median, float(x[level - 1]), float(x[n - level]), float(coverage))


def proportion_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) CI for a share, e.g. of seeds that grok within the budget."""
    if not 0 <= successes <= trials or trials < 1:
        raise ValueError(f"need 0 <= successes ({successes}) <= trials ({trials}), trials >= 1")
    interval = stats.binomtest(successes, trials).proportion_ci(confidence, method="exact")
    return float(interval.low), float(interval.high)


Bounds = float | Sequence[float]


def _per_run(times: Sequence[float | None], bounds: Bounds) -> list[float]:
    """One censoring bound per run: the common budget repeated, or the bounds as given."""
    if isinstance(bounds, int | float):
        return [float(bounds)] * len(times)
    if len(bounds) != len(times):
        raise ValueError(f"{len(bounds)} censoring bounds for {len(times)} times")
    return [float(b) for b in bounds]


def censored(times: Sequence[float | None], bounds: Bounds) -> stats.CensoredData:
    """Event times, with ``None`` (no event seen) right-censored at its bound: one budget for
    every run, or one bound per run (aligned with ``times``)."""
    return stats.CensoredData(
        uncensored=[float(t) for t in times if t is not None],
        right=[b for t, b in zip(times, _per_run(times, bounds), strict=True) if t is None],
    )


def _logrank(
    times: Sequence[float | None],
    bounds: Bounds,
    other: Sequence[float | None],
    other_bounds: Bounds,
    alternative: str,
) -> float:
    """scipy's log-rank p; groups without a single event between them, or an empty group,
    give no evidence either way: p = 1."""
    if not times or not other or all(t is None for t in [*times, *other]):
        return 1.0
    result = stats.logrank(
        censored(times, bounds), censored(other, other_bounds), alternative=alternative
    )
    return 1.0 if math.isnan(result.pvalue) else float(result.pvalue)


def logrank_later(
    times: Sequence[float | None],
    bounds: Bounds,
    other: Sequence[float | None],
    other_bounds: Bounds,
) -> float:
    """One-sided log-rank p-value that the events of ``times`` come later (or never) than
    those of ``other``, with the runs that never got there censored at their bound (see
    :func:`censored`). Groups without a single event between them, or an empty group, give
    no evidence either way: p = 1."""
    # scipy's statistic is (observed - expected) events of the first group over its sd, so
    # few events in the first group (it survives longer) is the lower tail, 'less'
    return _logrank(times, bounds, other, other_bounds, "less")


def logrank_two_sided(
    times: Sequence[float | None],
    bounds: Bounds,
    other: Sequence[float | None],
    other_bounds: Bounds,
) -> float:
    """Two-sided log-rank p-value that the two groups' times to the event differ, censored
    as in :func:`logrank_later` (no events, or an empty group: p = 1). Use it, not twice a
    one-sided p, where a two-sided p is wanted (e.g. under a Holm correction)."""
    return _logrank(times, bounds, other, other_bounds, "two-sided")


def _fisher(
    successes: int, trials: int, other_successes: int, other_trials: int, alternative: str
) -> float:
    table = [[successes, trials - successes], [other_successes, other_trials - other_successes]]
    return float(stats.fisher_exact(table, alternative=alternative).pvalue)


def fisher_fewer(successes: int, trials: int, other_successes: int, other_trials: int) -> float:
    """One-sided Fisher exact p-value that the first share of successes is the smaller."""
    return _fisher(successes, trials, other_successes, other_trials, "less")


def fisher_two_sided(successes: int, trials: int, other_successes: int, other_trials: int) -> float:
    """Two-sided Fisher exact p-value that the two shares differ: the probability, given the
    margins, of every table no more likely than the observed one. Fisher's null distribution
    is not symmetric, so twice the smaller one-sided p overstates it (3/6 vs 8/8: 0.110
    doubled, 0.055 two-sided)."""
    return _fisher(successes, trials, other_successes, other_trials, "two-sided")


def one_sample_t_two_sided(values: Sequence[float]) -> float:
    """Two-sided one-sample t-test p-value that the mean of ``values`` differs from 0.

    Fewer than 2 values, or all equal (no spread to test against), give no evidence: p = 1,
    as the one-sided tests of the grokking claims count them; a nan value stays nan."""
    x = np.asarray(values, dtype=float)
    if np.isnan(x).any():
        return math.nan
    if x.size < 2 or np.all(x == x[0]):
        return 1.0
    return float(stats.ttest_1samp(x, 0.0, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class KaplanMeier:
    """Share of runs that had the event by each time (1 - Kaplan-Meier survival), as a step
    function starting at (0, 0), with a *pointwise* 95% confidence interval at each time:
    each interval covers the true share at its own time with 95% probability; the curve as
    a whole can leave the region they span more often (it is not a simultaneous band).

    Up to ``exact_until`` (the earliest time a run was censored, +inf if none was) no run
    has left the risk set, the estimate is the plain share of runs with an event, and its
    interval is exact (Clopper-Pearson). After it, the interval is Greenwood's with the
    log-log transform, which is undefined (nan) where the share is 0 or 1.
    """

    times: list[float]
    share: list[float]
    low: list[float]
    high: list[float]
    exact_until: float


def kaplan_meier(times: Sequence[float | None], bounds: Bounds) -> KaplanMeier:
    """1 - Kaplan-Meier survival of event times, ``None`` being a run censored at its bound:
    one budget for every run, as in a sweep, or one bound per run (see :func:`censored`).

    A run censored early leaves the risk set then, instead of counting as "never": later
    events are counted against the runs still at risk. The curve ends at the largest bound
    or event. Intervals: see :class:`KaplanMeier`.
    """
    if not times:
        raise ValueError("kaplan_meier needs at least one run")
    ends = _per_run(times, bounds)
    events = sorted({float(t) for t in times if t is not None})
    points = np.array([0.0, *events, max([*ends, *events])])
    estimate = stats.ecdf(censored(times, ends)).cdf
    with warnings.catch_warnings():  # nan where the share is 0 or 1: documented above
        warnings.simplefilter("ignore", RuntimeWarning)
        greenwood = estimate.confidence_interval(0.95, method="log-log")
    low, high = greenwood.low.evaluate(points), greenwood.high.evaluate(points)
    exact_until = min((b for t, b in zip(times, ends, strict=True) if t is None), default=np.inf)
    for i, point in enumerate(points):
        if point <= exact_until:  # a run censored at t is still at risk at t
            events_by_then = sum(t is not None and t <= point for t in times)
            low[i], high[i] = proportion_ci(events_by_then, len(times))
    return KaplanMeier(
        points.tolist(),
        estimate.evaluate(points).tolist(),
        low.tolist(),
        high.tolist(),
        float(exact_until),
    )
