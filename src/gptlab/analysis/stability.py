"""Is generalization stable? Dips and loss spikes in a metrics log after grokking.

With LayerNorm, strong weight decay and Adam, a grokked model can lose and regain its test
accuracy again and again (loss spikes). Then "the first epoch with test accuracy >= 0.99"
overstates what was reached and "the last value" depends on where the run happened to stop;
these numbers describe the whole stretch after the first generalization instead.
"""

from __future__ import annotations

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


def spike_starts(losses: list[float | None], spike_factor: float) -> list[int]:
    """Indices where a loss spike starts.

    Index ``i`` is *in a spike* when ``losses[i] > spike_factor * min(losses[:i])`` (the
    running minimum of all earlier values, so a slow drift back up does not hide a jump and
    a spike is judged against the best the run had reached). A spike is reported once, at
    its first index: ``i`` is returned when it is in a spike and ``i - 1`` is not. ``None``
    values (no measurement) are neither spikes nor part of the minimum.
    """
    starts: list[int] = []
    best, previous_in_spike = float("inf"), False
    for i, loss in enumerate(losses):
        in_spike = loss is not None and best < float("inf") and loss > spike_factor * best
        if in_spike and not previous_in_spike:
            starts.append(i)
        previous_in_spike = in_spike
        if loss is not None:
            best = min(best, loss)
    return starts


def generalization_stability(
    rows: list[Row],
    key: str = "test_acc",
    threshold: float = 0.99,
    train_key: str = "train_loss",
    spike_factor: float = 10.0,
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
      ``train_key`` is more than ``spike_factor`` times the minimum of all earlier
      evaluations' ``train_key``, while the previous evaluation was not itself in a spike
      (one spike, however many evaluations it lasts, is its first epoch). The factor is
      relative, so after the loss has reached ~1e-7 a jump to ~1e-5 counts too.
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
