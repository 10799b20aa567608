"""``gptlab grok-sweep``: grid parsing, errors before anything is written, resume after an
interruption or a killed worker."""

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
from helpers import files, refusal

from gptlab import cli
from gptlab.config import ConfigError, flat_value, replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking.grid import parse_grid
from gptlab.experiments.grokking.sweep import Task, collect, plan, summarize, sweep
from gptlab.train.run_folder import RunFolder

SMOKE = replace_flat(grok.PRESETS["smoke"], epochs=20, eval_every=5, checkpoint_every=10)


def test_bad_values_stop_the_sweep_before_any_run(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["grok-sweep", "--grid", "train_fraction=0.5,1.5", "--max-epochs", "5"]
    assert cli.main(argv + ["--out", str(out)]) == 2
    assert "train_fraction = 1.5" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ConfigError, match="--seeds 0"):
        plan(SMOKE, {}, 0, 10, out)


def test_plan_names_folders_by_swept_axes_and_fixes_single_values(tmp_path):
    grid = parse_grid(["weight_decay=0,1", "d_model=16", "lr=0.001,0.003"])
    tasks = plan(SMOKE, grid, seeds=2, max_epochs=7, out=tmp_path)
    assert len(tasks) == 8
    first = tasks[0]
    assert first.run_dir == tmp_path / "weight_decay=0.0,lr=0.001" / "seed-0"
    assert first.point == {"weight_decay": 0.0, "lr": 0.001}
    fields = ("d_model", "epochs", "landscape_every")
    assert tuple(flat_value(first.config, name) for name in fields) == (16, 7, 0)
    assert sorted({t.seed for t in tasks}) == [0, 1]


class Interrupt:
    """Stands in for Ctrl-C: the grok training loop raises KeyboardInterrupt at one epoch."""

    def __init__(self, original, at_call: int) -> None:
        self.original, self.calls, self.at_call = original, 0, at_call

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at_call:
            raise KeyboardInterrupt
        return self.original(*args, **kwargs)


def test_interrupted_sweep_resumes_without_recomputing_or_losing_runs(tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    grid = parse_grid(["weight_decay=0,1"])
    # 2 seeds x 2 points of 20 epochs; stop in the 3rd run at epoch 15 (checkpoint at 10)
    monkeypatch.setattr(grok.run, "train_epoch", Interrupt(grok.train_epoch, at_call=2 * 20 + 16))
    with pytest.raises(KeyboardInterrupt):
        sweep(SMOKE, grid, seeds=2, max_epochs=20, out=out, workers=1)
    monkeypatch.undo()
    tasks = plan(SMOKE, grid, 2, 20, out)
    finished = {t.run_dir: (t.run_dir / "summary.json").stat().st_mtime_ns for t in tasks[:2]}
    assert not (tasks[2].run_dir / "summary.json").exists()
    assert (tasks[2].run_dir / "checkpoint.pt").exists()

    calls = []

    def counting_runner(config, run_dir, resume, progress):
        calls.append((run_dir, resume))
        return grok.run_grok(config, run_dir, resume=resume, progress=progress)

    sweep(SMOKE, grid, seeds=2, max_epochs=20, out=out, workers=1, runner=counting_runner)
    assert calls == [(tasks[2].run_dir, True), (tasks[3].run_dir, False)]
    for run_dir, mtime in finished.items():
        assert (run_dir / "summary.json").stat().st_mtime_ns == mtime
    # the resumed run lost nothing and repeated nothing: the same rows as an unbroken run
    resumed = [json.loads(line) for line in (tasks[2].run_dir / "metrics.jsonl").open()]
    grok.run_grok(tasks[2].config, tmp_path / "unbroken", progress=False)
    unbroken = [json.loads(line) for line in (tmp_path / "unbroken" / "metrics.jsonl").open()]
    assert [r["epoch"] for r in resumed] == [5, 10, 15, 20]
    assert [r["test_loss"] for r in resumed] == pytest.approx([r["test_loss"] for r in unbroken])
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [(r["weight_decay"], r["seed"]) for r in rows] == [
        ("0.0", "0"),
        ("0.0", "1"),
        ("1.0", "0"),
        ("1.0", "1"),
    ]
    assert (out / "summary.csv").exists() and (out / "phase_diagram.png").exists()


def test_a_folder_from_another_sweep_is_refused(tmp_path):
    grid = parse_grid(["weight_decay=0,1"])
    sweep(SMOKE, grid, seeds=1, max_epochs=5, out=tmp_path, workers=1)
    with pytest.raises(ValueError, match="other settings"):
        sweep(SMOKE, grid, seeds=1, max_epochs=6, out=tmp_path, workers=1)


def test_worker_processes_run_a_two_axis_sweep_from_the_command_line(tmp_path):
    out = tmp_path / "sweep"
    argv = ["grok-sweep", "--preset", "smoke", "--grid", "weight_decay=0,1", "--grid"]
    argv += ["lr=0.001,0.003", "--seeds", "1", "--max-epochs", "5", "--workers", "2"]
    assert cli.main(argv + ["--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == 4 and all(r["epochs"] == "5" for r in rows)
    assert (out / "phase_diagram.png").stat().st_size > 10_000


def test_diverged_runs_are_counted_and_kept_out_of_the_statistics():
    def row(seed, status, generalized):
        outcome = {"memorized_epoch": 50, "stable_generalized_epoch": generalized}
        return {"weight_decay": 1.0, "seed": seed, "status": status, **outcome,
                "final_test_acc": 1.0, "wall_time_s": 1.0}  # fmt: skip

    rows = [row(0, "finished", 300), row(1, "finished", 500), row(2, "diverged", None)]
    (point,) = summarize(rows, ["weight_decay"])
    assert (point["runs"], point["diverged"], point["generalized"]) == (2, 1, 2)
    assert point["share"] == 1.0 and point["median_stable_generalized_epoch"] == 400


def test_a_run_that_breaks_down_again_has_not_generalized(tmp_path):
    """Sweeps count the stable epoch: test accuracy must stay at the threshold to the end."""
    folder = RunFolder(tmp_path / "run").create()
    for epoch, acc in [(10, 0.5), (20, 0.995), (30, 0.4), (40, 0.995), (50, 0.999)]:
        folder.append_metrics({"epoch": epoch, "test_acc": acc, "train_loss": 0.1})
    folder.write_summary({"status": "finished", "memorized_epoch": 10, "final": {},
                          "epochs_completed": 50, "wall_time_s": 1.0})  # fmt: skip
    task = Task({}, 0, SMOKE, folder.path)
    (collected,) = collect([task], {})
    assert collected["generalized_epoch"] == 20  # the first crossing, as in summary.json
    assert collected["stable_generalized_epoch"] == 40
    assert collected["dips_after_generalizing"] == 1


def test_a_sweep_written_with_the_old_names_gets_its_csvs_rewritten(tmp_path):
    """Rows are read back from the run folders, never from sweep.csv: the CSVs of a sweep
    from when generalized_epoch named the stable epoch are rewritten with today's names."""
    grid = parse_grid(["weight_decay=0,1"])
    sweep(SMOKE, grid, seeds=1, max_epochs=2, out=tmp_path, workers=1)
    old = "weight_decay,seed,status,memorized_epoch,generalized_epoch,first_generalized_epoch\n"
    (tmp_path / "sweep.csv").write_text(old)
    sweep(SMOKE, grid, seeds=1, max_epochs=2, out=tmp_path, workers=1)
    header = (tmp_path / "sweep.csv").read_text().splitlines()[0].split(",")
    assert "first_generalized_epoch" not in header
    assert header[4:6] == ["generalized_epoch", "stable_generalized_epoch"]
    summary = (tmp_path / "summary.csv").read_text().splitlines()[0].split(",")
    assert "median_stable_generalized_epoch" in summary
    assert "median_generalized_epoch" not in summary


SMALL = ["grok-sweep", "--preset", "smoke", "--seeds", "1", "--workers", "1"]


@pytest.mark.parametrize(
    "grid, message",
    [
        # the model's own checks (grok's check_config); the valid point must not train first
        ("d_model=31,32", "divisible"),
        ("n_heads=2,3", "divisible"),
        ("dropout=0.1,1.5", "dropout = 1.5"),
        ("weight_decay=1,1", "repeated values"),
        ("weight_decay=1,1.0", "repeated values"),
        ("landscape_seed=0," + "9" * 300, "is 315 bytes, over the 255"),
    ],
)
def test_every_grid_point_is_checked_before_anything_is_written(tmp_path, capsys, grid, message):
    out = tmp_path / "sweep"
    err = refusal(capsys, SMALL + ["--grid", grid, "--max-epochs", "2", "--out", str(out)])
    assert message in err
    assert not out.exists()


def test_a_rerun_with_other_settings_is_refused_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = SMALL + ["--out", str(out)]
    assert cli.main(argv + ["--grid", "weight_decay=0,1", "--max-epochs", "2"]) == 0
    capsys.readouterr()
    before = files(out)
    for changed, message in [
        (["--grid", "weight_decay=0,1", "--max-epochs", "3"], "max_epochs: 2 vs 3"),
        (["--grid", "weight_decay=0,2", "--max-epochs", "2"], "grid: "),
        (["--grid", "weight_decay=0,1", "--grid", "lr=0.001,0.003", "--max-epochs", "2"], "grid"),
        (["--grid", "weight_decay=0,1", "--seeds", "2", "--max-epochs", "2"], "seeds: 1 vs 2"),
        (["--grid", "weight_decay=0,1", "--grid", "d_model=31,32", "--max-epochs", "2"], "31"),
    ]:
        err = refusal(capsys, argv + changed)
        assert message in err
        assert files(out) == before, f"{changed} changed the sweep's folder"


def test_ctrl_c_names_the_command_that_resumes_the_whole_sweep(tmp_path, monkeypatch, capsys):
    out = tmp_path / "my sweep"  # a space: the hint must be shell-quoted
    argv = SMALL + ["--grid", "weight_decay=0,1", "--max-epochs", "20", "--out", str(out)]

    def ctrl_c_in_epoch_12(*args, **kwargs):
        ctrl_c_in_epoch_12.calls += 1
        if ctrl_c_in_epoch_12.calls == 12:  # the first run checkpoints and stops at epoch 12
            os.kill(os.getpid(), signal.SIGINT)
        return train_epoch(*args, **kwargs)

    train_epoch, ctrl_c_in_epoch_12.calls = grok.train_epoch, 0
    monkeypatch.setattr(grok.run, "train_epoch", ctrl_c_in_epoch_12)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    prefix = "gptlab grok-sweep: stopped; resume with: "
    assert err.startswith(prefix) and shlex.split(err[len(prefix) :]) == ["gptlab", *argv]
    monkeypatch.undo()
    assert cli.main(argv) == 0
    for wd in ("0.0", "1.0"):
        summary = RunFolder(out / f"weight_decay={wd}" / "seed-0").read_summary()
        assert (summary["status"], summary["epochs_completed"]) == ("finished", 20)


def training_pid(folder, timeout_s: float = 120) -> int:
    """The PID of the process training in ``folder``, once it has trained a few epochs."""
    run = RunFolder(folder)
    deadline = time.monotonic() + timeout_s
    while not (run.metrics_path.exists() and run.metrics_path.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline, f"{folder} never started training"
        time.sleep(0.05)
    assert not run.summary_path.exists(), f"{folder} finished before the kill"
    return int((folder / ".lock").read_text())


def test_a_killed_worker_is_one_line_and_the_same_command_resumes_everything(tmp_path):
    out = tmp_path / "killed sweep"
    argv = ["grok-sweep", "--preset", "smoke", "--grid", "weight_decay=0,1", "--seeds", "1"]
    argv += ["--max-epochs", "60", "--workers", "2", "--out", str(out)]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "gptlab.cli", *argv], stderr=subprocess.PIPE, text=True
    )
    victim, sibling = (out / f"weight_decay={wd}" / "seed-0" for wd in ("0.0", "1.0"))
    pids = [training_pid(victim), training_pid(sibling)]
    os.kill(pids[0], signal.SIGKILL)
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 1, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]  # the last line: no warning follows it
    assert line.startswith("gptlab grok-sweep: "), err
    assert f"worker process killed by SIGKILL running {victim}; " in line
    assert f"stopped cleanly: {sibling}; " in line  # SIGTERM: it checkpointed and stopped
    assert RunFolder(sibling).read_summary()["status"] == "stopped"
    command = shlex.split(line.split("rerun to resume them: ")[1])
    assert command == ["gptlab", *argv]
    assert cli.main(command[1:]) == 0
    for folder in (victim, sibling):
        summary = RunFolder(folder).read_summary()
        assert (summary["status"], summary["epochs_completed"]) == ("finished", 60)
