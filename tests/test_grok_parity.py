"""Sparse parity through the whole grokking lab: a run, its folder read back, a sweep, the
mechanism measures that apply (and one line for the one that does not)."""

import json

from gptlab import api, cli
from gptlab.experiments.grokking import PRESETS
from gptlab.experiments.grokking.tasks import SparseParityTask

TINY = ["--preset", "parity", "--n-bits", "8", "--n-train", "64", "--n-test", "64"]
TINY += ["--d-model", "16", "--n-heads", "2", "--d-ff", "32", "--eval-every", "5"]
TINY += ["--landscape-every", "5", "--landscape-plot-every", "10", "--histogram-every", "0"]


def test_the_parity_preset_is_sparse_parity():
    task = PRESETS["parity"].task
    assert isinstance(task, SparseParityTask) and task.k <= task.n_bits


def test_a_parity_run_writes_an_ordinary_folder_that_reads_back(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        cli.main(["grok", *TINY, "--epochs", "10", "--snapshot-every", "5", "--out", str(out)]) == 0
    )
    assert "memorized at epoch" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["kind"] == "sparse_parity" and config["task"]["n_bits"] == 8
    run = api.load_run(out)
    assert run.status == "finished" and run.metrics[-1]["test_acc_unmirrored"] is None
    assert (out / "plots" / "curves.png").exists() and (out / "landscapes.npz").exists()
    assert not (out / "plots" / "attention").exists()  # parity has no attention layout
    assert cli.main(["grok-mechanism", str(out), "--lanczos-steps", "3", "--trace-samples", "2",
                     "--resolution", "3"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "no Fourier measures" in printed
    mechanism = json.loads((out / "mechanism.json").read_text())
    assert "sharpness" in mechanism and "fourier" not in mechanism


def test_a_parity_sweep_runs_over_the_tasks_own_fields(tmp_path):
    out = tmp_path / "sweep"
    fixed = ["n_bits=8", "n_test=64", "d_model=16", "n_heads=2", "d_ff=32", "eval_every=5"]
    argv = ["grok-sweep", "--preset", "parity", "--grid", "n_train=32,64", "--seeds", "1"]
    argv += [arg for setting in fixed for arg in ("--grid", setting)]
    argv += ["--max-epochs", "10", "--workers", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    assert (out / "sweep.csv").read_text().count("\n") == 3  # a header and two runs


def test_a_modular_field_on_the_parity_preset_is_one_clear_error(tmp_path, capsys):
    assert cli.main(["grok", "--preset", "parity", "--p", "23", "--out", str(tmp_path / "x")]) == 2
    assert "--p" in capsys.readouterr().err
