"""Run folders: atomic files, one writer, metrics that never lose a row, safe checkpoints."""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys

import pytest
import torch

from gptlab.train.run_folder import FolderBusy, RunFolder, atomic_write


def test_checkpoint_round_trip_and_no_temporary_files_left(tmp_path):
    run = RunFolder(tmp_path / "run").create()
    run.save_checkpoint({"step": 3, "w": torch.arange(4)})
    state = run.load_checkpoint()
    assert state["step"] == 3 and torch.equal(state["w"], torch.arange(4))
    assert [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")] == []


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text('{"old": true}')

    def broken(tmp):
        tmp.write_text("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"old": True}
    assert list(tmp_path.glob("*.tmp")) == []


def test_a_full_disk_is_one_clear_error_and_the_previous_checkpoint_survives(tmp_path):
    run = RunFolder(tmp_path).create()
    run.save_checkpoint({"step": 1})

    def disk_full(tmp):
        tmp.write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="no space left on the device to write .*checkpoint.pt"):
        atomic_write(run.checkpoint_path, disk_full)
    assert run.load_checkpoint() == {"step": 1}


def test_a_cut_or_damaged_metrics_line_is_an_error_naming_file_and_line(tmp_path):
    run = RunFolder(tmp_path).create()
    for step in range(5):
        run.append_metrics({"epoch": step})
    at_checkpoint = run.sync_metrics()
    with open(run.metrics_path, "a") as f:
        f.write('{"epoch": 5, "tra')  # interrupted mid-write, after the checkpoint
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 6, is not a JSON row"):
        run.read_metrics()
    run.truncate_metrics(at_checkpoint)  # what resuming does: back to the checkpoint's rows
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1, 2, 3, 4]


def test_metrics_shorter_than_at_the_checkpoint_are_refused_not_rewritten(tmp_path):
    run = RunFolder(tmp_path).create()
    for step in range(3):
        run.append_metrics({"epoch": step})
    size = run.sync_metrics()
    run.metrics_path.unlink()
    with pytest.raises(ValueError, match=f"has 0 bytes but held {size} at the checkpoint"):
        run.truncate_metrics(size)


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    run = RunFolder(tmp_path / "run")
    with run.lock():
        busy = f"in use by another gptlab process \\(PID {os.getpid()}"
        with pytest.raises(FolderBusy, match=busy):
            with RunFolder(tmp_path / "run").lock():
                pass
    with run.lock():  # released at the end of the block
        pass


def test_a_lock_left_by_kill_9_is_taken_over(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from gptlab.train.run_folder import RunFolder\n"
         f"with RunFolder({str(tmp_path)!r}).lock():\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(FolderBusy, match=f"PID {holder.pid}"):
        with RunFolder(tmp_path).lock():
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunFolder(tmp_path).lock():
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is damaged or not a checkpoint"),
        (b"PK\x03\x04 truncated", "is damaged or not a checkpoint"),
        (pickle.dumps({"state": RunsCode()}, protocol=2), "was refused"),
    ],
    ids=["empty", "truncated", "pickle-that-runs-code"],
)
def test_damaged_or_foreign_checkpoints_are_refused_with_a_clear_error(tmp_path, content, message):
    run = RunFolder(tmp_path).create()
    run.checkpoint_path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        run.load_checkpoint()


def test_a_crafted_torch_checkpoint_is_refused_not_executed(tmp_path, capfd):
    run = RunFolder(tmp_path).create()
    torch.save({"state": RunsCode()}, run.checkpoint_path)
    with pytest.raises(ValueError, match="was refused: it is damaged or holds more than"):
        run.load_checkpoint()
    assert "pwned" not in capfd.readouterr().out


def test_a_truncated_real_checkpoint_is_refused(tmp_path):
    run = RunFolder(tmp_path).create()
    run.save_checkpoint({"w": torch.randn(1000)})
    data = run.checkpoint_path.read_bytes()
    run.checkpoint_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="checkpoint.pt is damaged or not a checkpoint"):
        run.load_checkpoint()


def test_a_summary_always_has_a_known_status(tmp_path):
    run = RunFolder(tmp_path).create()
    with pytest.raises(ValueError, match="status None is not one of"):
        run.write_summary({"final": 1})
    run.write_summary({"status": "diverged"})
    assert not run.is_finished()
