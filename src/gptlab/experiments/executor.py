"""Run many independent runs: in this process, in local worker processes, or on Ray.

Sweeps (``grok-sweep``, ``center-suite``) describe their runs as picklable tasks and a
top-level function; where the runs execute is a flag, not a code change:

- ``workers=1``: one after another in this process (simplest to debug);
- ``workers=N``: N local processes, each with its share of the CPU threads;
- ``ray_address=ADDRESS``: tasks go to a Ray cluster (``auto`` joins the cluster this
  machine belongs to, ``local`` starts one here). Needs the optional extra:
  ``pip install -e ".[ray]"``.

With worker processes, the sweep's process alone receives Ctrl-C and SIGTERM and passes
one SIGTERM to each busy worker, whose run checkpoints at its next unit and stops. The same
happens to the other runs when one fails or a worker dies (``kill -9``, the out-of-memory
killer): no new run starts, the runs in flight stop cleanly, and the failure is raised
(:class:`WorkerLost` for a dead worker). A second Ctrl-C stops every run at once.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import pickle
import shlex
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from gptlab.config import ConfigError
from gptlab.train.lifecycle import EXIT_STOPPED, RunEnded

T = TypeVar("T")
R = TypeVar("R")
EXIT_WORKER_LOST = 1
POLL_S = 0.5  # how soon the dispatcher notices a stop request while it waits for results
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class WorkerLost(Exception):
    """Worker processes died in the middle of tasks. ``lost``: the tasks they were running;
    ``stopped``: the tasks stopped because of it; ``how``: how the workers ended."""

    def __init__(self, lost: list[Any], stopped: list[Any], how: list[str]):
        super().__init__(f"worker process {', '.join(sorted(set(how)))} running {lost}")
        self.lost, self.stopped, self.how = lost, stopped, how


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (set as its cause)."""


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _init_worker(threads: int, parent: int) -> None:
    # N processes each using every core would oversubscribe the CPU many times over
    torch.set_num_threads(threads)
    # tqdm's default lock is a multiprocessing semaphore: a worker killed by kill -9 would
    # leave it behind, and the resource tracker would warn about it when the sweep exits
    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_die_with, args=(parent,), daemon=True).start()


def _die_with(parent: int, poll_s: float = 0.5) -> None:
    """End this worker when the sweep that started it is gone (``kill -9`` included): an
    orphan would go on writing run folders that the sweep's rerun resumes."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os.kill(os.getpid(), signal.SIGKILL)


def run_all(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    workers: int = 1,
    ray_address: str | None = None,
) -> Iterator[tuple[T, R]]:
    """Yield ``(task, fn(task))`` for every task, in order of completion.

    ``fn`` must be a module-level function (it is pickled for other processes). An
    exception in a run propagates; the runs already finished have written their folders.
    """
    if workers < 1:
        raise ConfigError(f"workers = {workers} must be >= 1")
    if ray_address is not None:
        yield from _run_on_ray(fn, tasks, ray_address)
    elif workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield task, fn(task)
    else:
        yield from _run_in_processes(fn, tasks, workers)


@dataclass
class _Worker:
    process: Any  # a spawned multiprocessing Process
    conn: Connection
    ready: bool = False  # waiting for a task
    task: Any = None
    busy: bool = False
    signalled: bool = False  # asked to stop its task (a second request stops it at once)


@dataclass
class _Ending:
    """What went wrong while the workers ran, in the order it is reported."""

    lost: list[Any] = field(default_factory=list)
    how: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    stopped: list[Any] = field(default_factory=list)
    stop: RunEnded | None = None  # the first stopped run's own RunEnded

    def __bool__(self) -> bool:
        return bool(self.lost or self.errors or self.stopped)


def _run_in_processes(fn, tasks, workers: int) -> Iterator[tuple[Any, Any]]:
    count = min(workers, len(tasks))
    threads = max(1, (os.cpu_count() or 1) // count)
    # spawn, not fork: forking a process that already runs torch's thread pools can hang
    context = multiprocessing.get_context("spawn")
    pool = [_start_worker(context, fn, threads) for _ in range(count)]
    try:
        yield from _dispatch(pool, tasks)
    finally:
        _close(pool)


def _start_worker(context, fn: Callable, threads: int) -> _Worker:
    mine, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, fn, threads, os.getpid()))
    process.start()
    theirs.close()  # only the worker holds its end: its death reads as end-of-file here
    return _Worker(process, mine)


def _serve(conn: Connection, fn: Callable, threads: int, parent: int) -> None:
    """A worker: say it is ready, then run each task the sweep sends until it sends None."""
    os.setpgrp()  # a terminal's Ctrl-C reaches the sweep alone, which stops each run once
    for sig in STOP_SIGNALS:  # between tasks there is nothing to stop
        signal.signal(sig, signal.SIG_IGN)
    _init_worker(threads, parent)
    with contextlib.suppress(EOFError, BrokenPipeError):  # the sweep has ended
        conn.send(None)
        while (task := conn.recv()) is not None:
            conn.send(_outcome(fn, task))


def _outcome(fn: Callable, task: Any) -> tuple[bool, Any, str]:
    """``(True, result, "")``, or ``(False, error, its traceback)``. A stop request ends the
    task as Ctrl-C would, unless the run's own handler (which checkpoints first) has it."""
    try:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.default_int_handler)
        return True, fn(task), ""
    except (Exception, KeyboardInterrupt) as error:
        return False, _portable(error), traceback.format_exc()
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def _portable(error: BaseException) -> BaseException:
    """``error`` if it reaches the sweep's process intact; else a RuntimeError with its text
    (an exception whose pickling fails would otherwise end the sweep with a pickling error)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _dispatch(pool: list[_Worker], tasks: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    """Hand out tasks while nothing went wrong; yield each result; then raise what ended it."""
    todo = collections.deque(tasks)
    ending = _Ending()
    with _StopSignals() as stop:
        while True:
            stopping = bool(ending) or stop.requested
            if stopping:
                _stop_busy(pool)
            else:
                _hand_out(pool, todo)
            starting = todo and not stopping  # wait for workers still starting up
            waiting = [w for w in pool if w.busy or (starting and not w.ready)]
            if not waiting:
                break
            for conn in wait([w.conn for w in waiting], timeout=POLL_S):
                worker = next(w for w in waiting if w.conn is conn)
                yield from _receive(pool, worker, ending)
    if ending.lost:
        raise WorkerLost(ending.lost, ending.stopped, ending.how)
    if ending.errors:
        raise ending.errors[0]
    if ending.stopped or todo:
        raise ending.stop or RunEnded("stopped before every run finished", EXIT_STOPPED, [])


class _StopSignals:
    """In the sweep's process while workers run: a first SIGINT/SIGTERM sets ``requested``
    (each busy worker is then asked once to stop), a second raises KeyboardInterrupt, which
    asks the workers again: their runs stop at once."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self.handle) for sig in STOP_SIGNALS}
        return self

    def handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _hand_out(pool: list[_Worker], todo: collections.deque) -> None:
    for worker in pool:
        if todo and worker.ready:
            worker.task, worker.busy, worker.ready = todo.popleft(), True, False
            with contextlib.suppress(BrokenPipeError):  # dead already: read as lost next
                worker.conn.send(worker.task)


def _stop_busy(pool: list[_Worker]) -> None:
    for worker in pool:
        if worker.busy and not worker.signalled:
            _signal_stop(worker)


def _signal_stop(worker: _Worker) -> None:
    worker.signalled = True
    with contextlib.suppress(ProcessLookupError):  # it has just ended by itself
        os.kill(worker.process.pid, signal.SIGTERM)


def _receive(pool: list[_Worker], worker: _Worker, ending: _Ending) -> Iterator[tuple[Any, Any]]:
    """Take one message from a worker: ready for a task, or the outcome of its task."""
    try:
        message = worker.conn.recv()
    except EOFError:  # the worker died
        _remove_dead(pool, worker, ending)
        return
    task, worker.task, worker.busy = worker.task, None, False
    worker.ready, worker.signalled = True, False
    if message is None:
        return
    ok, value, trace = message
    if ok:
        yield task, value
    elif isinstance(value, KeyboardInterrupt) or getattr(value, "exit_code", None) == EXIT_STOPPED:
        ending.stopped.append(task)
        ending.stop = ending.stop or (value if isinstance(value, RunEnded) else None)
    else:
        value.__cause__ = RemoteTraceback(trace)
        ending.errors.append(value)


def _remove_dead(pool: list[_Worker], worker: _Worker, ending: _Ending) -> None:
    worker.process.join()
    worker.conn.close()
    pool.remove(worker)
    how = _how_it_ended(worker.process.exitcode)
    if worker.busy:
        ending.lost.append(worker.task)
        ending.how.append(how)
    else:  # nothing lost, but a worker that cannot start will not run the other tasks either
        ending.errors.append(RuntimeError(f"a worker process {how} before its first task"))


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        return f"killed by {signal.Signals(-exitcode).name}"
    except ValueError:  # a real-time signal has no name
        return f"killed by signal {-exitcode}"


def _close(pool: list[_Worker]) -> None:
    """End every worker: an idle one at once; a busy one (left when the caller stops early or
    on a second Ctrl-C) is asked to stop, which stops a run already asked once at once."""
    for worker in pool:
        if worker.busy:
            _signal_stop(worker)
        with contextlib.suppress(OSError):  # it is gone already
            worker.conn.send(None)
        worker.conn.close()
    try:
        for worker in pool:
            worker.process.join()
    finally:  # interrupted while waiting: nothing is worth more waiting
        for worker in pool:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def _run_on_ray(fn, tasks, address: str) -> Iterator[tuple[Any, Any]]:
    try:
        import ray
    except ImportError as error:
        raise ConfigError(
            f"--ray {address} needs Ray: pip install -e '.[ray]' ({error})"
        ) from error
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(_ray_task)
    pending = {remote.remote(fn, task): task for task in tasks}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), ray.get(ref)


def _ray_task(fn, task):
    torch.set_num_threads(1)
    return fn(task)


def resume_command(subcommand: str, argv: Sequence[str], out: Path) -> list[str]:
    """The command line that reruns ``argv`` into ``out`` (which re-runs only the missing
    work): ``argv`` itself, with ``--out`` added when it relied on the default."""
    named = any(arg == "--out" or arg.startswith("--out=") for arg in argv)
    return ["gptlab", subcommand, *argv, *([] if named else ["--out", str(out)])]


@contextlib.contextmanager
def resumable(command: Sequence[str], run_name: Callable[[Any], str]) -> Iterator[None]:
    """Turn a stop (Ctrl-C, SIGTERM) or a dead worker inside the block into one line whose
    shell-quoted ``command`` resumes everything that did not finish (a run's own hint would
    resume one run of many). ``run_name``: a task's run folder, to name the lost runs."""
    again = shlex.join(command)
    try:
        yield
    except KeyboardInterrupt:  # Ctrl-C between runs, or outside a run's own handler
        raise RunEnded(f"interrupted; resume with: {again}", EXIT_STOPPED, []) from None
    except RunEnded as ended:
        if ended.exit_code != EXIT_STOPPED:
            raise
        raise RunEnded(f"stopped; resume with: {again}", EXIT_STOPPED, ended.summaries) from None
    except WorkerLost as died:
        lost = ", ".join(run_name(t) for t in died.lost)
        stopped = ", ".join(run_name(t) for t in died.stopped) or "none"
        raise RunEnded(
            f"worker process {', '.join(sorted(set(died.how)))} running {lost}; stopped "
            f"cleanly: {stopped}; rerun to resume them: {again}",
            EXIT_WORKER_LOST,
            [],
        ) from None
