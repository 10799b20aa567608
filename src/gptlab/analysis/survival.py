"""Time-to-event statistics (grokking sweeps): pure functions, numbers in, numbers out.

Times to an event (the epoch a run generalizes) are right-censored: a run that never got
there within its budget is counted as +inf, or censored at its bound, never dropped (see
``censored_median_ci``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from gptlab.analysis.statistics import proportion_ci


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
