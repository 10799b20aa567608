"""Reading sweep rows for the claims: delays censored, never dropped, and the epochs on the
test pairs whose mirror is not in training."""

from claims_data import runs

from gptlab.experiments.grokking.claims.rows import delays, with_unmirrored
from gptlab.train.run_folder import RunFolder

BUDGET = 2000


def test_delays_censor_runs_that_never_generalized_or_never_memorized():
    ratios, bounds = delays(runs(2, [400, None], memorized=200) + runs(1, None, None), BUDGET)
    assert ratios == [2.0, None, None] and bounds == [10.0, 10.0, 1.0]
    # the first epoch at the threshold, in a run that ends generalized; a run that crossed
    # and broke down again has not generalized
    ratios, _ = delays(runs(2, [1200, None], memorized=200, first=[400, 300]), BUDGET)
    assert ratios == [2.0, None]


def test_unmirrored_epochs_are_read_from_the_run_metrics(tmp_path):

    run = RunFolder(tmp_path / "run").create()
    # all test pairs: first at 10, stable from 30; unmirrored: first at 20, stable from 40
    accuracy = {10: (1.0, 0.5), 20: (0.5, 1.0), 30: (1.0, 0.5), 40: (1.0, 1.0)}
    for epoch, (test, unmirrored) in accuracy.items():
        run.append_metrics({"epoch": epoch, "test_acc": test, "test_acc_unmirrored": unmirrored})
    (row,) = with_unmirrored([{"run_dir": str(run.path)}], 0.99)
    assert row["generalized_epoch_unmirrored"] == 20
    assert row["stable_generalized_epoch_unmirrored"] == 40
