"""Statistics for comparing runs over seeds: pure functions, numbers in, numbers out.

A difference between two single runs says little: seed-to-seed noise in validation loss is
often larger than the effect. Variants are therefore run with the *same* seeds and compared
pairwise (same seed = same initialization of the shared weights and same batches), which
removes the part of the noise the two runs share.

How many seeds a difference needs is in :mod:`gptlab.analysis.power`; times to an event
(the epoch a run generalizes), which are censored, in :mod:`gptlab.analysis.survival`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from gptlab.analysis.power import minimum_detectable_effect


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


def proportion_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) CI for a share, e.g. of seeds that grok within the budget."""
    if not 0 <= successes <= trials or trials < 1:
        raise ValueError(f"need 0 <= successes ({successes}) <= trials ({trials}), trials >= 1")
    interval = stats.binomtest(successes, trials).proportion_ci(confidence, method="exact")
    return float(interval.low), float(interval.high)


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
