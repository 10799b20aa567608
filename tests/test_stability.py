"""Stability of generalization: dips after grokking and train-loss spikes, on built rows."""

import math

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


def test_spikes_are_jumps_over_recent_values_counted_once_each():
    # index:  0    1    2     3    4     5     6     7     8     9
    loss = [2.0, 1.0, 0.01, 0.5, 0.05, 0.001, 0.001, 0.02, 0.03, 0.0005]
    # 3: 0.5 > 10 * 0.01 -> spike; 4: 0.05 not > 0.1 -> ends; 5, 6 new lows;
    # 7: 0.02 > 10 * 0.001 -> spike, 8: still in it (not a new spike); 9: new low
    assert spike_starts(loss, 10.0) == [3, 7]
    rows = rows_of([0.0] * len(loss), loss)
    assert generalization_stability(rows, spike_factor=10.0)["spike_epochs"] == [40, 80]
    assert generalization_stability(rows, spike_factor=100.0)["spike_epochs"] == []


def test_spike_at_the_second_row_and_missing_losses():
    assert spike_starts([0.01, 1.0], 10.0) == [1]
    assert spike_starts([None, 0.01, None, 1.0, 1.0], 10.0) == [3]
    assert spike_starts([0.5, 5.0], 10.0) == []  # exactly the factor is not a spike
    # a missing value inside a spike does not end it (nor does a nan)
    assert spike_starts([0.01, 1.0, None, 1.0, math.nan, 1.0], 10.0) == [1]


def test_after_an_exact_zero_loss_only_a_real_jump_is_a_spike():
    # float32 cross-entropy reaches exactly 0; the old running minimum then made every later
    # positive loss a spike (here at 3 and 5)
    assert spike_starts([1.0, 0.0, 0.0, 3e-7, 0.0, 5e-7, 1e-7], 10.0) == []
    assert spike_starts([1.0, 0.0, 0.0, 3e-7, 0.0, 0.5, 0.2], 10.0) == [5]


def test_a_slow_drift_is_not_a_spike_but_a_jump_on_top_of_it_is():
    drift = [0.01 * 1.3**k for k in range(20)]  # 0.01 to 1.5, 1.3x per evaluation
    # the old detector flagged index 9, where the drift passed 10x its lowest value
    assert spike_starts(drift, 10.0) == []
    assert spike_starts([*drift, 20 * drift[-1]], 10.0) == [20]


def test_a_jump_over_two_evaluations_counts_from_the_level_before_it():
    loss = [0.05] * 5 + [0.3, 0.6, 0.2]  # 6x then 2x: 12x the level before
    assert spike_starts(loss, 10.0) == [6]
    assert spike_starts(loss, 10.0, window=1) == []  # step by step, it never jumps 10x


def test_the_main_jobs_smaller_spikes_are_found_where_they_start():
    # train_loss of `gptlab grok --preset grok` (its metrics.jsonl), epochs 390-470 and
    # 900-980: test accuracy falls 0.433 -> 0.355 at 440-450 and 1.0 -> 0.946 at 960. The
    # old detector (10x the all-time minimum, 0.0285 at epoch 90) found 440 and missed 960.
    epochs = [390, 400, 410, 420, 430, 440, 450, 460, 470]
    epochs += [900, 910, 920, 930, 940, 950, 960, 970, 980]
    loss = [0.149, 0.08831, 0.06598, 0.05711, 0.05346, 0.3011, 0.5482, 0.2224, 0.1076]
    loss += [0.03857, 0.03619, 0.03373, 0.0313, 0.02897, 0.02931, 0.2792, 0.1025, 0.05676]
    rows = [
        {"epoch": e, "test_acc": 1.0, "train_loss": t} for e, t in zip(epochs, loss, strict=True)
    ]
    assert generalization_stability(rows)["spike_epochs"] == [440, 960]
