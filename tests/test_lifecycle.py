"""The run lifecycle shared by every experiment: kill -9 anywhere and resume to the same
numbers, a clean stop on SIGINT/SIGTERM, divergence, config drift, restarts."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from gptlab import cli
from gptlab.config import flat_dict
from gptlab.experiments import grokking as grok
from gptlab.train.lifecycle import RunEnded
from gptlab.train.run_folder import RunFolder

GROK = ["grok", "--preset", "smoke", "--epochs", "30", "--dropout", "0.1", "--batch-size", "64"]

# Runs `gptlab ARGV...` in a fresh process that SIGKILLs itself at the n-th call of one
# function: a real kill -9 (no cleanup, no flush), at a point the test chooses.
# (one thread, as in this process (conftest): float sums in the same order)
KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from gptlab import cli
from gptlab.experiments.centering import run as center
from gptlab.experiments import grokking as grok
from gptlab.train.run_folder import RunFolder
owner, name, n, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "after"
owner = {"grok": grok.run, "center": center, "RunFolder": RunFolder}[owner]
real, calls = getattr(owner, name), []
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == n and not after:
        os.kill(os.getpid(), signal.SIGKILL)
    result = real(*args, **kwargs)
    if len(calls) == n:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, name, dying)
sys.exit(cli.main(sys.argv[5:]))
"""


def run_killed(kill_at: tuple[str, str, int, str], argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", KILLER, *map(str, kill_at), *argv])
    assert done.returncode == -signal.SIGKILL


TIMINGS = ("time_s", "tokens_per_sec")


def rows(run_dir) -> list[dict]:
    """The metrics rows without wall-clock figures."""
    metrics = RunFolder(run_dir).read_metrics()
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in metrics]


def assert_same_run(a, b) -> None:
    """Bitwise the same metrics and final weights."""
    assert rows(a) == rows(b)
    wa, wb = (RunFolder(d).load_checkpoint()["state"]["model"] for d in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["status"] == sb["status"] == "finished"


@pytest.fixture(scope="module")
def unbroken_grok(tmp_path_factory):
    out = tmp_path_factory.mktemp("unbroken") / "grok"
    assert cli.main([*GROK, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    "kill_at",
    [
        ("grok", "evaluate", 1, "before"),  # epoch 5: before the first checkpoint
        ("grok", "evaluate", 3, "before"),  # epoch 15: between checkpoints
        ("RunFolder", "save_checkpoint", 2, "after"),  # just after the epoch-20 checkpoint
        ("RunFolder", "append_metrics", 4, "after"),  # a row after the checkpoint, on disk
    ],
    ids=["before-first-checkpoint", "between-checkpoints", "after-checkpoint", "after-a-row"],
)
def test_grok_killed_anywhere_resumes_to_the_unbroken_run(tmp_path, unbroken_grok, kill_at):
    out = tmp_path / "run"
    run_killed(kill_at, [*GROK, "--out", out])
    assert cli.main(["grok", "--resume", str(out)]) == 0
    assert_same_run(out, unbroken_grok)


def test_batched_seeds_with_dropout_killed_resume_to_the_unbroken_run(tmp_path):
    argv = [*GROK, "--epochs", "12", "--seeds", "2", "--batched"]
    assert cli.main([*argv, "--out", str(tmp_path / "whole")]) == 0
    run_killed(("grok", "evaluate", 3, "before"), [*argv, "--out", tmp_path / "cut"])
    assert cli.main(["grok", "--resume", str(tmp_path / "cut")]) == 0
    for seed in ("seed-0", "seed-1"):
        assert_same_run(tmp_path / "cut" / seed, tmp_path / "whole" / seed)


@pytest.mark.parametrize("step", [1, 4], ids=["before-first-checkpoint", "after-checkpoint"])
def test_center_killed_resumes_to_the_unbroken_run(tmp_path, text_file, step):
    argv = ["center", "--preset", "smoke", "--data-file", str(text_file), "--n-embd", "16",
            "--block-size", "16", "--batch-size", "4", "--max-iters", "6", "--warmup-iters", "2",
            "--eval-interval", "3", "--eval-iters", "1", "--dropout", "0.1",
            "--variant", "momentum_centered"]  # fmt: skip
    assert cli.main([*argv, "--out", str(tmp_path / "whole")]) == 0
    run_killed(
        ("center", "warmup_cosine_lr", step + 1, "before"), [*argv, "--out", tmp_path / "cut"]
    )
    assert cli.main(["center", "--resume", str(tmp_path / "cut")]) == 0
    assert_same_run(tmp_path / "cut", tmp_path / "whole")


def test_a_killed_sweep_takes_its_workers_with_it_and_resumes_to_the_same_table(tmp_path):
    argv = ["grok-sweep", "--preset", "smoke", "--grid", "weight_decay=0.5,1", "--seeds", "2",
            "--max-epochs", "300", "--workers", "2"]  # fmt: skip
    sweep = subprocess.Popen([sys.executable, "-m", "gptlab.cli", *argv, "--out", tmp_path / "cut"])
    # the sweep's workers take 1 thread each (2 workers on 2 cores), as this process does
    deadline = time.monotonic() + 120
    while not list((tmp_path / "cut").glob("*/seed-*/checkpoint.pt")):
        assert time.monotonic() < deadline and sweep.poll() is None
        time.sleep(0.2)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    # the orphaned workers notice and die: their folders' locks come free
    deadline = time.monotonic() + 20
    for lock_dir in (tmp_path / "cut").glob("*/seed-*"):
        while True:
            try:
                with RunFolder(lock_dir).lock():
                    break
            except ValueError:
                assert time.monotonic() < deadline, f"a worker still writes {lock_dir}"
                time.sleep(0.2)
    assert cli.main([*argv, "--out", str(tmp_path / "cut")]) == 0
    assert cli.main([*argv, "--out", str(tmp_path / "whole")]) == 0
    for run in (tmp_path / "whole").glob("*/seed-*"):
        cut = tmp_path / "cut" / run.relative_to(tmp_path / "whole")
        assert rows(cut) == rows(run)


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def stop_at_evaluation(monkeypatch, n: int, signum: int) -> None:
    real, calls = grok.evaluate, []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            signal.raise_signal(signum)  # as Ctrl-C or `kill` would, mid-epoch
        return real(*args, **kwargs)

    monkeypatch.setattr(grok.run, "evaluate", evaluate)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_with_one_line_and_resumes_exactly(
    tmp_path, monkeypatch, capsys, unbroken_grok, signum
):
    out = tmp_path / "run"
    stop_at_evaluation(monkeypatch, 3, signum)  # at epoch 15, between checkpoints
    assert cli.main([*GROK, "--out", str(out)]) == 130
    err = last_line(capsys.readouterr().err)
    assert err == f"gptlab grok: stopped at epoch 15; resume with: gptlab grok --resume {out}"
    assert json.loads((out / "summary.json").read_text())["status"] == "stopped"
    assert RunFolder(out).load_checkpoint()["counters"]["unit"] == 15
    monkeypatch.undo()
    assert cli.main(["grok", "--resume", str(out)]) == 0
    assert_same_run(out, unbroken_grok)


def test_a_diverging_run_stops_with_status_diverged(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(
        ["grok", "--preset", "smoke", "--lr", "1e30", "--epochs", "20", "--out", str(out)]
    )
    err = last_line(capsys.readouterr().err)  # above it: the progress bar
    assert code == 3
    assert err.startswith("gptlab grok: diverged: non-finite gradient at epoch")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"]["epoch"] >= 1


def test_a_diverging_center_run_reports_no_final_loss(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    argv = ["center", "--preset", "smoke", "--data-file", str(text_file), "--learning-rate",
            "1000", "--min-lr", "1", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 3
    assert "diverged: non-finite gradient at iter" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["final_val_loss"] is None


def test_a_batched_seed_that_diverges_leaves_its_siblings_resumable(tmp_path, monkeypatch):
    real = grok.train_epoch

    def poison_seed_1(*args):
        steps, norms = real(*args)
        return steps, [norms[0], float("nan")]

    monkeypatch.setattr(grok.run, "train_epoch", poison_seed_1)
    with pytest.raises(RunEnded, match="diverged: .*seed-1"):
        grok.run_seeds(grok.PRESETS["smoke"], 2, tmp_path, batched=True, progress=False)
    statuses = [RunFolder(tmp_path / s).read_summary()["status"] for s in ("seed-0", "seed-1")]
    assert statuses == ["stopped", "diverged"]


def test_an_edited_config_is_refused_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    config["optim"]["lr"] = 0.01
    (out / "config.json").write_text(json.dumps(config))
    assert cli.main(["grok", "--resume", str(out)]) == 2
    assert "the checkpoint differs from the config this run resumes with (lr: 0.003 vs 0.01)" in (
        capsys.readouterr().err
    )


def test_a_run_from_before_a_config_field_existed_resumes_with_its_default(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    del config["optim"]["grad_filter"]  # as written by a gptlab without gradient filtering
    (out / "config.json").write_text(json.dumps(config))
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    del checkpoint["config"]["optim"]["grad_filter"]
    torch.save(checkpoint, out / "checkpoint.pt")
    (out / "summary.json").unlink()  # so that --resume has work to do
    assert cli.main(["grok", "--resume", str(out)]) == 0
    assert RunFolder(out).read_summary()["status"] == "finished"


def test_a_damaged_metrics_row_is_an_error_and_no_row_is_lost(tmp_path, capsys):
    out = tmp_path / "run"
    stop = ["grok", "--preset", "smoke", "--epochs", "20", "--out", str(out)]
    assert cli.main(stop) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[1] = "#" + lines[1][1:]  # same length: only the content is damaged
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (out / "summary.json").unlink()  # so that --resume has work to do
    assert cli.main(["grok", "--resume", str(out)]) == 2
    assert "metrics.jsonl, line 2, is not a JSON row" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_text().splitlines() == lines  # untouched


def test_a_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    (out / "summary.json").unlink()
    with RunFolder(out).lock():
        assert cli.main(["grok", "--resume", str(out)]) == 2
    assert "is in use by another gptlab process (PID" in capsys.readouterr().err


def test_a_fresh_run_refuses_a_folder_that_holds_one(tmp_path):
    grok.run_grok(grok.PRESETS["smoke"], tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="already holds a run; resume it with"):
        grok.run_grok(grok.PRESETS["smoke"], tmp_path / "run", progress=False)


def test_tensorboard_gets_the_config_as_text_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    tags, hparams = set(), {}
    for events in (out / "tensorboard").glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events)).Reload()
        tags |= set(accumulator.Tags()["tensors"])
        try:  # only the file add_hparams wrote has the plugin
            hparams |= accumulator.PluginTagToContent("hparams")
        except KeyError:
            pass
    assert "config/text_summary" in tags
    assert "_hparams_/session_start_info" in hparams  # the HParams tab's run entry


def test_a_grok_run_written_before_the_sections_resumes(tmp_path):
    """config.json and the checkpoint's config were one flat object before the config had
    sections: such a folder is upgraded when read and continues."""
    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    flat = {k: v for k, v in flat_dict(config).items() if k != "kind"}
    (out / "config.json").write_text(json.dumps(flat))
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    checkpoint["config"] = flat
    torch.save(checkpoint, out / "checkpoint.pt")
    (out / "summary.json").unlink()
    assert cli.main(["grok", "--resume", str(out)]) == 0
    assert RunFolder(out).read_summary()["status"] == "finished"
