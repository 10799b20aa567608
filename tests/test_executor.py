"""Where sweep runs execute is a flag: in process, local worker processes, or Ray; a dead
worker, a stop request or a failed task ends the others cleanly."""

import math
import os
import shlex
import signal
import threading
import time
from pathlib import Path

import pytest

from gptlab.experiments.executor import (
    EXIT_WORKER_LOST,
    RemoteTraceback,
    WorkerLost,
    resumable,
    resume_command,
    run_all,
)
from gptlab.train.lifecycle import EXIT_STOPPED, RunEnded
from gptlab.train.signals import StopRequests


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_in_process_runs_every_task_in_order():
    results = list(run_all(square_with_pid, [1, 2, 3], workers=1))
    assert [(t, r[0]) for t, r in results] == [(1, 1), (2, 4), (3, 9)]
    assert {r[1] for _, r in results} == {os.getpid()}


def test_worker_processes_return_every_result_from_other_processes():
    results = dict(run_all(square_with_pid, [1, 2, 3, 4], workers=2))
    assert {t: r[0] for t, r in results.items()} == {1: 1, 2: 4, 3: 9, 4: 16}
    assert os.getpid() not in {r[1] for r in results.values()}


def test_bad_worker_count_is_refused():
    with pytest.raises(ValueError, match="workers = 0 must be >= 1"):
        list(run_all(square_with_pid, [1], workers=0))


def test_ray_runs_tasks_on_a_local_cluster():
    ray = pytest.importorskip("ray")
    # Ray workers import the task function by module: it must live in an installed package
    # (here the standard library), not in a test file
    try:
        results = dict(run_all(math.factorial, [3, 5], ray_address="local"))
    finally:
        ray.shutdown()
    assert results == {3: 6, 5: 120}


def run_until_stopped(folder: str) -> str:
    """Stands in for a run: announces its PID, then waits, as a run's lifecycle does, for
    SIGINT/SIGTERM and stops cleanly (RunEnded, exit 130). Ends by itself after a minute."""
    with StopRequests() as stop:
        (Path(folder) / "pid").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not stop.requested and time.monotonic() < deadline:
            time.sleep(0.02)
    (Path(folder) / "stopped").write_text("once")
    raise RunEnded(f"stopped {folder}", EXIT_STOPPED, [{"status": "stopped"}])


def fail_once_started(folder: str) -> str:
    """Fails after the sibling task (folder 1) has started."""
    while not (Path(folder).parent / "1" / "pid").exists():
        time.sleep(0.02)
    raise ValueError(f"bad task {folder}")


def fail_or_wait(folder: str) -> str:
    """Task 0 fails once task 1 runs; the others run until stopped."""
    if folder.endswith("0"):
        return fail_once_started(folder)
    return run_until_stopped(folder)


def started_pid(folder: Path, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while not (folder / "pid").exists() or not (folder / "pid").read_text():
        assert time.monotonic() < deadline, f"{folder} never started"
        time.sleep(0.05)
    return int((folder / "pid").read_text())


def when_started(folders: list[Path], action) -> threading.Thread:
    """Run ``action(pids)`` in a thread once every folder's task has started."""
    thread = threading.Thread(target=lambda: action([started_pid(f) for f in folders]))
    thread.start()
    return thread


def three_folders(tmp_path) -> list[Path]:
    folders = [tmp_path / str(i) for i in range(3)]
    for folder in folders:
        folder.mkdir()
    return folders


def test_a_killed_worker_names_its_task_and_its_sibling_stops_cleanly(tmp_path):
    folders = three_folders(tmp_path)
    killer = when_started(folders[:2], lambda pids: os.kill(pids[0], signal.SIGKILL))
    with pytest.raises(WorkerLost) as died:
        list(run_all(run_until_stopped, [str(f) for f in folders], workers=2))
    killer.join()
    assert died.value.lost == [str(folders[0])] and died.value.how == ["killed by SIGKILL"]
    assert died.value.stopped == [str(folders[1])]
    assert (folders[1] / "stopped").read_text() == "once"  # stopped by one signal, not killed
    assert not (folders[2] / "pid").exists()  # no new task starts once a worker is lost


def test_ctrl_c_in_the_sweep_stops_every_busy_worker_once(tmp_path):
    folders = three_folders(tmp_path)
    interrupt = when_started(folders[:2], lambda _: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(RunEnded) as ended:
        list(run_all(run_until_stopped, [str(f) for f in folders], workers=2))
    interrupt.join()
    assert ended.value.exit_code == EXIT_STOPPED
    assert ended.value.summaries == [{"status": "stopped"}]  # a RunEnded crosses processes
    assert all((f / "stopped").read_text() == "once" for f in folders[:2])
    assert not (folders[2] / "pid").exists()


def test_an_error_in_one_worker_stops_the_others_and_carries_its_traceback(tmp_path):
    folders = three_folders(tmp_path)
    tasks = [str(folders[0]), str(folders[1]), str(folders[2])]
    with pytest.raises(ValueError, match="bad task") as failed:
        list(run_all(fail_or_wait, tasks, workers=2))
    assert isinstance(failed.value.__cause__, RemoteTraceback)
    assert "fail_once_started" in str(failed.value.__cause__)
    assert (folders[1] / "stopped").read_text() == "once"
    assert not (folders[2] / "pid").exists()


def test_resume_hints_are_one_shell_quoted_command(tmp_path):
    out = tmp_path / "my sweep"
    command = resume_command("grok-sweep", ["--grid", "lr=1,2"], out)
    assert command == ["gptlab", "grok-sweep", "--grid", "lr=1,2", "--out", str(out)]
    assert resume_command("grok-sweep", [f"--out={out}"], out)[-1] == f"--out={out}"
    with pytest.raises(RunEnded) as ended, resumable(command, str):
        raise RunEnded("stopped at epoch 3; resume with: gptlab grok --resume x", 130, [])
    again = shlex.join(command)
    assert str(ended.value) == f"stopped; resume with: {again}"
    assert shlex.split(str(ended.value).split(": ", 1)[1]) == command
    with pytest.raises(RunEnded) as ended, resumable(command, str):
        raise WorkerLost(["a b/seed-0"], [], ["killed by SIGKILL"])
    assert ended.value.exit_code == EXIT_WORKER_LOST
    assert str(ended.value).startswith("worker process killed by SIGKILL running a b/seed-0;")
    with pytest.raises(RunEnded, match="diverged"), resumable(command, str):
        raise RunEnded("diverged", 3, [])
    with pytest.raises(RunEnded) as ended, resumable(command, str):
        raise KeyboardInterrupt  # Ctrl-C between runs
    assert (str(ended.value), ended.value.exit_code) == (f"interrupted; resume with: {again}", 130)
