"""Stability of generalization: dips after grokking and train-loss spikes, on built rows."""

import pytest

from gptlab.analysis.stability import generalization_stability, spike_starts


def rows_of(test_acc, train_loss=None, every=10):
    train_loss = train_loss or [0.1] * len(test_acc)
    return [
        {"epoch": every * (i + 1), "test_acc": a, "train_loss": t}
        for i, (a, t) in enumerate(zip(test_acc, train_loss, strict=True))
    ]


def test_never_generalizing_has_no_epochs_and_no_dips():
    s = generalization_stability(rows_of([0.1, 0.5, 0.9, 0.98]))
    assert s == {
        "generalized_epoch": None,
        "stable_generalized_epoch": None,
        "dips_after_generalizing": 0,
        "worst_dip": None,
        "share_at_threshold_after_generalizing": None,
        "spike_epochs": [],
    }


def test_generalizing_and_staying_is_stable_from_the_first_epoch():
    s = generalization_stability(rows_of([0.1, 0.6, 0.995, 1.0, 0.999]))
    assert s["generalized_epoch"] == s["stable_generalized_epoch"] == 30
    assert s["dips_after_generalizing"] == 0
    assert s["worst_dip"] == 0.995
    assert s["share_at_threshold_after_generalizing"] == 1.0


def test_two_dips_and_recovery():
    #          10   20    30   40    50   60    70   80   90   100
    acc = [0.2, 0.99, 1.0, 0.3, 0.05, 1.0, 0.995, 0.7, 1.0, 1.0]
    s = generalization_stability(rows_of(acc))
    assert s["generalized_epoch"] == 20  # the threshold itself counts as reached
    assert s["dips_after_generalizing"] == 2  # 40-50 and 80
    assert s["worst_dip"] == 0.05
    assert s["share_at_threshold_after_generalizing"] == pytest.approx(6 / 9)
    assert s["stable_generalized_epoch"] == 90


def test_ending_in_a_dip_is_not_stable():
    s = generalization_stability(rows_of([0.5, 1.0, 1.0, 0.2]))
    assert s["generalized_epoch"] == 20
    assert s["stable_generalized_epoch"] is None
    assert s["dips_after_generalizing"] == 1 and s["worst_dip"] == 0.2
    assert s["share_at_threshold_after_generalizing"] == pytest.approx(2 / 3)


def test_other_key_and_threshold():
    rows = [{"epoch": e, "train_acc": a, "train_loss": 1.0} for e, a in [(1, 0.4), (2, 0.6)]]
    s = generalization_stability(rows, key="train_acc", threshold=0.5)
    assert s["generalized_epoch"] == s["stable_generalized_epoch"] == 2


def test_empty_rows():
    s = generalization_stability([])
    assert s["generalized_epoch"] is None and s["stable_generalized_epoch"] is None
    assert s["dips_after_generalizing"] == 0 and s["spike_epochs"] == []


def test_spikes_are_jumps_over_the_running_minimum_counted_once_each():
    # index:  0    1    2     3    4     5     6     7     8     9
    loss = [2.0, 1.0, 0.01, 0.5, 0.05, 0.001, 0.001, 0.02, 0.03, 0.0005]
    # 3: 0.5 > 10 * 0.01 -> spike; 4: 0.05 not > 0.1 -> ends; 5, 6 new minima;
    # 7: 0.02 > 0.01 -> spike, 8: still in it (not a new spike); 9: new minimum
    assert spike_starts(loss, 10.0) == [3, 7]
    rows = rows_of([0.0] * len(loss), loss)
    assert generalization_stability(rows)["spike_epochs"] == [40, 80]
    assert generalization_stability(rows, spike_factor=100.0)["spike_epochs"] == []


def test_spike_at_the_second_row_and_missing_losses():
    assert spike_starts([0.01, 1.0], 10.0) == [1]
    assert spike_starts([None, 0.01, None, 1.0, 1.0], 10.0) == [3]
    assert spike_starts([0.5, 5.0], 10.0) == []  # exactly the factor is not a spike
