"""Is generalization stable? Dips and loss spikes in a metrics log after grokking.

With LayerNorm, strong weight decay and Adam, a grokked model can lose and regain its test
accuracy again and again (loss spikes). Then "the first epoch with test accuracy >= 0.99"
overstates what was reached and "the last value" depends on where the run happened to stop;
these numbers describe the whole stretch after the first generalization instead.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

Row = dict[str, Any]


def _first_at(values: list[float], threshold: float) -> int | None:
    return next((i for i, v in enumerate(values) if v >= threshold), None)


def _stable_from(values: list[float], threshold: float) -> int | None:
    """Index from which every value is >= threshold to the end; None if the last is below."""
    below = [i for i, v in enumerate(values) if v < threshold]
    if not below:
        return 0 if values else None
    return below[-1] + 1 if below[-1] + 1 < len(values) else None


def _runs_below(values: list[float], threshold: float) -> int:
    """Number of maximal runs of consecutive values below threshold."""
    runs, inside = 0, False
    for v in values:
        if v < threshold and not inside:
            runs += 1
        inside = v < threshold
    return runs


# float32 cross-entropy rounds log(1 + e) to 0 for e below ~6e-8 and moves in steps of
# ~1.2e-7 above: losses under ~1e-6 are a few rounding steps, and ratios of them are noise
LOSS_FLOOR = 1e-6


def spike_starts(
    losses: list[float | None], spike_factor: float, window: int = 5, floor: float = LOSS_FLOOR
) -> list[int]:
    """Indices where a loss spike starts: a sudden jump relative to the recent values.

    Index ``i`` is *in a spike* when ``losses[i] > spike_factor * max(recent, floor)``, with
    ``recent`` the smallest of the last ``window`` measured values before ``i`` (the level
    the loss was at, so a jump that takes two or three evaluations to peak still counts). A
    loss that drifts up more slowly than ``spike_factor`` per ``window`` evaluations carries
    its reference along and is no spike, and ``floor`` keeps a loss of exactly 0 (or one of
    float32's rounding steps) from making every later positive value one. A spike is
    reported once, at its first index. ``None`` or nan values (no measurement) are skipped:
    neither spikes, nor part of the reference, nor the end of a spike.
    """
    starts: list[int] = []
    recent: deque[float] = deque(maxlen=window)
    in_spike = False
    for i, loss in enumerate(losses):
        if loss is None or math.isnan(loss):
            continue
        now = bool(recent) and loss > spike_factor * max(min(recent), floor)
        if now and not in_spike:
            starts.append(i)
        in_spike = now
        recent.append(loss)
    return starts


def generalization_stability(
    rows: list[Row],
    key: str = "test_acc",
    threshold: float = 0.99,
    train_key: str = "train_loss",
    spike_factor: float = 5.0,
) -> dict[str, Any]:
    """How stably ``rows[key]`` (one row per evaluation, in epoch order) stays at or above
    ``threshold`` after first reaching it, and where the training loss spiked.

    Returns a dict with:

    - ``generalized_epoch``: first evaluated epoch with ``key >= threshold`` (None if never);
    - ``stable_generalized_epoch``: first evaluated epoch from which (inclusive) every later
      evaluation is ``>= threshold`` up to the last row (None if the last row is below);
    - ``dips_after_generalizing``: number of separate maximal runs of consecutive evaluations
      below ``threshold`` after ``generalized_epoch`` (0 if never generalized);
    - ``worst_dip``: lowest ``key`` from ``generalized_epoch`` on (it is >= threshold when
      there was no dip; None if never generalized);
    - ``share_at_threshold_after_generalizing``: share of the evaluations from
      ``generalized_epoch`` on (inclusive) with ``key >= threshold`` (None if never);
    - ``spike_epochs``: epochs where a spike of ``train_key`` starts: an evaluation whose
      ``train_key`` is more than ``spike_factor`` times the smallest of the previous five
      evaluations' (and than ``spike_factor`` x 1e-6), the previous evaluation not being
      itself in a spike (one spike, however many evaluations it lasts, is its first epoch);
      see :func:`spike_starts`. The factor 5: in the main job's log (``gptlab grok --preset
      grok``) every spike starts with a jump of 5.6x to 88x over the previous five
      evaluations, while between spikes the loss never rises more than 1.06x.
    """
    epochs = [r["epoch"] for r in rows]
    values = [r[key] for r in rows]
    first = _first_at(values, threshold)
    stable = _stable_from(values, threshold)
    after = values[first:] if first is not None else []
    spikes = spike_starts([r.get(train_key) for r in rows], spike_factor)
    return {
        "generalized_epoch": epochs[first] if first is not None else None,
        "stable_generalized_epoch": epochs[stable] if stable is not None else None,
        "dips_after_generalizing": _runs_below(after, threshold),
        "worst_dip": min(after) if after else None,
        "share_at_threshold_after_generalizing": (
            sum(v >= threshold for v in after) / len(after) if after else None
        ),
        "spike_epochs": [epochs[i] for i in spikes],
    }
