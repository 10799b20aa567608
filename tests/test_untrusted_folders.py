"""Careless and hostile input: a run folder holds only gptlab's files, everything read back
from one is checked before use, a resume reads the data it started on, and every failure is
one line. Each case is what a user (or a folder received from someone else) can do."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gptlab import api, cli
from gptlab.config import replace_flat, to_dict
from gptlab.experiments import grokking as grok
from gptlab.experiments.centering import config as center_config
from gptlab.experiments.centering import presets as center_presets
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.grokking import GrokConfig
from gptlab.train import memory
from gptlab.train.run_folder import RunFolder

SMOKE = ["grok", "--preset", "smoke", "--epochs", "20"]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its content (links as their target)."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            files[str(path)] = os.readlink(path).encode()
        elif path.is_file():
            files[str(path)] = path.read_bytes()
    return files


def one_error_line(capsys, command: str = "grok") -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"gptlab {command}: error: "), err
    return line


@pytest.fixture
def stopped_grok(tmp_path) -> Path:
    """A finished smoke run made resumable again (its summary removed)."""
    out = tmp_path / "run"
    assert cli.main([*SMOKE, "--out", str(out)]) == 0
    (out / "summary.json").unlink()
    return out


# ---- a new run writes only into a new or empty folder ----


def test_a_new_run_refuses_a_folder_with_someone_elses_files(tmp_path, capsys):
    folder = tmp_path / "D"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "fig.png").write_text("x")
    before = tree(tmp_path)
    assert cli.main([*SMOKE, "--out", str(folder)]) == 2
    assert "the folder is not empty (plots)" in one_error_line(capsys)
    with pytest.raises(ValueError, match="the folder is not empty"):
        api.grok(grok.PRESETS["smoke"], out=folder, progress=False)
    assert tree(tmp_path) == before  # not even a lock file


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*SMOKE, "--out", ""]) == 2
    assert "--out needs a folder, not an empty string" in one_error_line(capsys)
    with pytest.raises(ValueError, match="out needs a folder"):
        api.grok(grok.PRESETS["smoke"], out="", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_folder_is_a_fine_place_for_a_new_run(tmp_path):
    (tmp_path / "D").mkdir()
    assert cli.main([*SMOKE, "--epochs", "5", "--out", str(tmp_path / "D")]) == 0


# ---- nothing follows a symlink inside a run folder ----


@pytest.mark.parametrize("name", [".lock", "metrics.jsonl", "plots", "tensorboard"])
def test_a_symlink_inside_a_run_folder_is_refused_and_nothing_outside_changes(
    stopped_grok, tmp_path, capsys, name
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me\n" * 1000)
    target = outside if name in ("plots", "tensorboard") else outside / "precious.txt"
    link = stopped_grok / name
    if link.is_dir():
        import shutil

        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(target)
    before = tree(outside)
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 2
    assert f"{link} is a symbolic link" in one_error_line(capsys)
    assert tree(outside) == before


def test_a_dangling_lock_link_creates_nothing_outside(stopped_grok, tmp_path, capsys):
    (stopped_grok / ".lock").unlink()
    (stopped_grok / ".lock").symlink_to(tmp_path / "created-outside")
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 2
    one_error_line(capsys)
    assert not (tmp_path / "created-outside").exists()


# ---- derived output is recreated ----


def test_a_resume_recreates_removed_plots(stopped_grok, capsys):
    import shutil

    shutil.rmtree(stopped_grok / "plots")
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 0
    assert (stopped_grok / "plots" / "curves.png").is_file()
    assert RunFolder(stopped_grok).read_summary()["status"] == "finished"


# ---- everything read from a run folder is checked ----


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda row: row | {"test_acc": float("nan")}, "line 2, is not a JSON row"),
        (lambda row: row | {"test_acc": 1e999}, "line 2, is not a JSON row"),
        (lambda row: row | {"train_acc": "0.9"}, "line 2,: train_acc = '0.9' is not a number"),
        (lambda row: {}, "line 2, has no integer epoch or iter"),
        (lambda row: {k: v for k, v in row.items() if k != "test_loss"}, "lacks ['test_loss']"),
    ],
)
def test_an_edited_metrics_row_is_refused_before_training(stopped_grok, capsys, edit, message):
    lines = (stopped_grok / "metrics.jsonl").read_text().splitlines()
    row = edit(json.loads(lines[1]))
    lines[1] = json.dumps(row)  # json.dumps writes NaN and Infinity as such
    (stopped_grok / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    checkpoint = torch.load(stopped_grok / "checkpoint.pt", weights_only=True)
    checkpoint["metrics_bytes"] = (stopped_grok / "metrics.jsonl").stat().st_size
    torch.save(checkpoint, stopped_grok / "checkpoint.pt")
    before = tree(stopped_grok)
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 2
    assert message in one_error_line(capsys)
    assert tree(stopped_grok) == before


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["counters"].update(unit=-100), "epoch = -100 must be an integer >= 0"),
        (lambda c: c["counters"].update(unit=10**6), "epoch 1000000 is past the run's 20"),
        (lambda c: c.update(metrics_bytes="100"), "metrics_bytes = '100' must be an integer"),
        (lambda c: c["counters"].update(extra=1), "counters"),
        (lambda c: c.pop("state"), "not a checkpoint's"),
        (lambda c: c["counters"].update(unit=5), "has a row for epoch 20, past the checkpoint"),
    ],
)
def test_a_crafted_checkpoint_is_refused_before_training(stopped_grok, capsys, edit, message):
    checkpoint = torch.load(stopped_grok / "checkpoint.pt", weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, stopped_grok / "checkpoint.pt")
    rows_before = (stopped_grok / "metrics.jsonl").read_text()
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 2
    assert message in one_error_line(capsys)
    assert (stopped_grok / "metrics.jsonl").read_text() == rows_before
    assert not (stopped_grok / "summary.json").exists()


@pytest.mark.parametrize("content", ["{}", "[]", '{"final": 1}', '{"status": "great"}'])
def test_a_summary_without_a_known_status_is_an_error_naming_it(stopped_grok, content):
    (stopped_grok / "summary.json").write_text(content)
    with pytest.raises(ValueError, match="summary.json"):
        api.load_run(stopped_grok)


@pytest.mark.parametrize(
    "content", ['{"seeds": "2", "batched": false}', '{"seeds": 0, "batched": false}', "[]"]
)
def test_a_damaged_seeds_file_is_refused(tmp_path, capsys, content):
    out = tmp_path / "group"
    assert cli.main([*SMOKE, "--epochs", "5", "--seeds", "2", "--out", str(out)]) == 0
    (out / "seeds.json").write_text(content)
    assert cli.main(["grok", "--resume", str(out)]) == 2
    assert "seeds.json" in one_error_line(capsys)


def test_load_run_refuses_a_hand_edited_config_as_resume_does(stopped_grok):
    config = json.loads((stopped_grok / "config.json").read_text())
    config["optim"]["lr"] = 0.5
    (stopped_grok / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="the checkpoint differs"):
        api.load_run(stopped_grok)
    (stopped_grok / "config.json").write_text("123")
    with pytest.raises(ValueError, match="config.json must hold a JSON object"):
        api.load_run(stopped_grok)


def test_a_snapshot_with_other_weights_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*SMOKE, "--epochs", "10", "--snapshot-every", "5", "--out", str(out)]
    assert cli.main(argv) == 0
    snapshot = out / "snapshots" / "epoch_000005.pt"
    state = torch.load(snapshot, weights_only=True)
    state["intruder"] = torch.zeros(3)
    torch.save(state, snapshot)
    assert cli.main(["grok-mechanism", str(out)]) == 2
    assert "unexpected ['intruder']" in one_error_line(capsys, "grok-mechanism")


def test_grok_mechanism_waits_for_the_folders_writer(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*SMOKE, "--epochs", "10", "--snapshot-every", "5", "--out", str(out)]) == 0
    with RunFolder(out).lock():
        assert cli.main(["grok-mechanism", str(out)]) == 2
    assert "is in use by another gptlab process" in one_error_line(capsys, "grok-mechanism")
    assert not (out / "mechanism.json").exists()


# ---- a resume reads the data it started with ----


def center_argv(text_file: Path, out: Path, *extra: str) -> list[str]:
    return ["center", "--preset", "smoke", "--data-file", str(text_file), "--d-model", "16",
            "--block-size", "16", "--batch-size", "4", "--max-iters", "6", "--eval-every", "3",
            "--eval-iters", "1", "--out", str(out), *extra]  # fmt: skip


def test_a_center_resume_refuses_a_changed_data_file(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    assert cli.main(center_argv(text_file, out)) == 0
    (out / "summary.json").unlink()
    record = json.loads((out / "data.json").read_text())
    assert record["path"] == str(text_file.resolve()) and len(record["sha256"]) == 64
    text = text_file.read_text()
    text_file.write_text(text[::-1])  # the same characters, another text
    assert cli.main(["center", "--resume", str(out)]) == 2
    assert f"{text_file.resolve()} changed since the run started" in one_error_line(
        capsys, "center"
    )
    text_file.write_text(text + "\N{SNOWMAN}")  # a new character: once a shape error
    assert cli.main(["center", "--resume", str(out)]) == 2
    one_error_line(capsys, "center")
    text_file.write_text(text)
    assert cli.main(["center", "--resume", str(out)]) == 0


def test_a_relative_data_file_resumes_on_the_file_it_started_on(tmp_path, text_file, monkeypatch):
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    (first / "t.txt").write_text(text_file.read_text())
    (elsewhere / "t.txt").write_text(text_file.read_text()[::-1])
    monkeypatch.chdir(first)
    out = tmp_path / "run"
    assert cli.main(center_argv(Path("t.txt"), out)) == 0
    (out / "summary.json").unlink()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["center", "--resume", str(out)]) == 0  # trains on first/t.txt
    assert json.loads((out / "data.json").read_text())["path"] == str(first / "t.txt")


def test_a_config_only_folder_reads_no_data(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for training " * 100)
    folder = tmp_path / "F"
    folder.mkdir()
    config = to_dict(replace_flat(CenterConfig(), data_file=str(secret)))
    (folder / "config.json").write_text(json.dumps(config))
    cache = Path(os.environ["GPTLAB_CACHE_DIR"])
    assert cli.main(["center", "--resume", str(folder)]) == 2
    assert "has neither a checkpoint nor data.json" in one_error_line(capsys, "center")
    assert not cache.exists() or not any(cache.rglob("*.bin"))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]


def test_sample_checks_checkpoint_shapes_before_building_a_model(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    assert cli.main(center_argv(text_file, out)) == 0
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    checkpoint["state"]["model"]["lm_head.weight"] = torch.zeros(3, 8192)
    torch.save(checkpoint, out / "checkpoint.pt")
    assert cli.main(["sample", "--run", str(out), "--tokens", "5"]) == 2
    line = one_error_line(capsys, "sample")
    assert "lm_head.weight has shape (3, 8192), the config needs" in line


# ---- configs checked by type and size before anything is written ----


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: api.grok(replace_flat(GrokConfig(), epochs=4.5)),
            "epochs = 4.5 is not a valid int",
        ),
        (
            lambda: api.grok(replace_flat(GrokConfig(), lr="0.001")),
            "lr = '0.001' is not a valid float",
        ),
        (lambda: api.grok(replace_flat(GrokConfig(), p="23")), "p = '23' is not a valid int"),
        (lambda: api.grok(replace_flat(GrokConfig(), p=23.0)), "p = 23.0 is not a valid int"),
        (
            lambda: api.grok(replace_flat(GrokConfig(), d_model=True)),
            "d_model = True is not a valid int",
        ),
        (
            lambda: api.grok(replace_flat(GrokConfig(), betas=(0.9,))),
            "betas = (0.9,) is not a valid",
        ),
        (lambda: api.grok(replace_flat(GrokConfig(), seed=2**70)), "does not fit a 64-bit integer"),
        (
            lambda: api.center(replace_flat(CenterConfig(), max_iters=3.5)),
            "max_iters = 3.5 is not a valid int",
        ),
        (
            lambda: api.center(replace_flat(CenterConfig(), dropout="0.1")),
            "dropout = '0.1' is not a valid",
        ),
        (
            lambda: api.center(replace_flat(CenterConfig(), lr="1e-3")),
            "lr = '1e-3' is not a valid float",
        ),
        (lambda: api.grok(CenterConfig()), "a GrokConfig is needed here, not CenterConfig"),
        (lambda: api.center(GrokConfig()), "a CenterConfig is needed here, not GrokConfig"),
        (lambda: api.grok("smoke"), "a GrokConfig is needed here, not str"),
    ],
)
def test_the_api_refuses_wrong_types_before_writing(tmp_path, monkeypatch, call, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, part",
    [
        ([*SMOKE, "--p", "100003"], "one step's activations"),
        ([*SMOKE, "--p", "12007", "--batch-size", "64"], "the data (add mod 12007"),
        ([*SMOKE, "--d-model", "65536"], "the parameters"),
        ([*SMOKE, "--landscape-resolution", "100000"], "the loss landscapes"),
        (["center", "--preset", "smoke", "--batch-size", "100000000"], "one step's activations"),
    ],
)
def test_a_run_that_cannot_fit_in_memory_is_refused_up_front(
    tmp_path, capsys, monkeypatch, argv, part
):
    monkeypatch.setattr(memory, "machine_bytes", lambda device: 16 * memory.GIB)
    out = tmp_path / "out"
    assert cli.main([*argv, "--out", str(out)]) == 2
    line = one_error_line(capsys, argv[0])
    assert "GiB of memory, mostly for " + part in line and "but cpu has 16.0 GiB" in line
    assert not out.exists()


def test_the_presets_fit_a_16_gib_machine(monkeypatch):
    monkeypatch.setattr(memory, "machine_bytes", lambda device: 16 * memory.GIB)
    for preset in grok.PRESETS.values():
        grok.check_config(preset)
    for preset in center_presets.PRESETS.values():
        center_config.check_config(preset)


def test_resume_with_a_preset_says_it_would_be_ignored(stopped_grok, capsys):
    assert cli.main(["grok", "--resume", str(stopped_grok), "--preset", "fast"]) == 2
    assert "drop the other options: --preset" in one_error_line(capsys)


def test_an_empty_data_file_is_one_line_naming_it(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    argv = ["center", "--preset", "smoke", "--data-file", str(empty), "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert f"data file {empty} is empty" in one_error_line(capsys, "center")


def test_sample_refuses_a_temperature_that_overflows(tmp_path, text_file, capsys):
    out = tmp_path / "run"
    assert cli.main(center_argv(text_file, out)) == 0
    assert cli.main(["sample", "--run", str(out), "--temperature", "1e-45"]) == 2
    assert "--temperature 1e-45 must be a finite number >= 1e-06" in one_error_line(
        capsys, "sample"
    )


# ---- every failure is one line ----


def test_a_full_disk_in_tensorboards_thread_is_one_line(tmp_path, monkeypatch, capsys):
    from tensorboard.summary.writer import record_writer

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(record_writer.RecordWriter, "write", disk_full)
    out = tmp_path / "run"
    assert cli.main([*SMOKE, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception in thread" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("gptlab grok: error: ") and "no space left on the device" in line
    assert f"gptlab grok --resume {out}" in line


def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_previous(
    stopped_grok, monkeypatch, capsys
):
    before = (stopped_grok / "checkpoint.pt").read_bytes()
    real_write_bytes = Path.write_bytes

    def disk_full(self, data):
        if self.name.startswith(".checkpoint.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert cli.main(["grok", "--resume", str(stopped_grok)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no space left on the device to write" in err.strip().splitlines()[-1]
    assert (stopped_grok / "checkpoint.pt").read_bytes() == before
    assert not list(stopped_grok.glob(".*.tmp"))


SLOW_CHECKPOINT = """
import sys, time
from pathlib import Path
from gptlab import cli
from gptlab.train import run_folder

real = run_folder.atomic_write

def slow(path, write):
    def slow_write(tmp):
        write(tmp)
        if path.name == "checkpoint.pt":
            print("saving", flush=True)
            time.sleep(30)  # the second signal arrives here, with the temporary file written
    real(path, slow_write)

run_folder.atomic_write = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def test_a_second_signal_during_the_stop_is_one_line_exit_130_and_no_temporary_file(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    argv = [*SMOKE, "--epochs", "100000", "--checkpoint-every", "100000", "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SLOW_CHECKPOINT), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)  # stop at the next epoch, with a checkpoint
    assert process.stdout.readline().strip() == "saving"
    process.send_signal(signal.SIGTERM)  # and now, at once
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert line.startswith("gptlab grok: stopped at once by a second signal at epoch")
    assert line.endswith(f"resume from the last checkpoint with: gptlab grok --resume {out}")
    assert not list(out.glob(".*.tmp"))


def test_a_center_run_from_before_data_json_resumes_and_records_its_data(
    tmp_path, text_file, capsys
):
    out = tmp_path / "run"
    assert cli.main(center_argv(text_file, out)) == 0
    (out / "summary.json").unlink()
    (out / "data.json").unlink()  # as written by a gptlab before the record existed
    assert cli.main(["center", "--resume", str(out)]) == 0
    assert json.loads((out / "data.json").read_text())["path"] == str(text_file.resolve())
    (out / "summary.json").unlink()
    (out / "data.json").unlink()
    text_file.write_text(text_file.read_text() + "\N{SNOWMAN}")  # its vocabulary changed
    assert cli.main(["center", "--resume", str(out)]) == 2
    assert "was trained on a text with other characters" in one_error_line(capsys, "center")
    assert not (out / "data.json").exists()  # a refused resume writes nothing
