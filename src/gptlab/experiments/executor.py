"""Run many independent runs: in this process, in local worker processes, or on Ray.

Sweeps (``grok-sweep``, ``center-suite``) describe their runs as picklable tasks and a
top-level function; where the runs execute is a flag, not a code change:

- ``workers=1``: one after another in this process (simplest to debug);
- ``workers=N``: N local processes, each with its share of the CPU threads;
- ``ray_address=ADDRESS``: tasks go to a Ray cluster (``auto`` joins the cluster this
  machine belongs to, ``local`` starts one here). Needs the optional extra:
  ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _init_worker(threads: int, parent: int) -> None:
    # N processes each using every core would oversubscribe the CPU many times over
    torch.set_num_threads(threads)
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
        raise ValueError(f"workers = {workers} must be >= 1")
    if ray_address is not None:
        yield from _run_on_ray(fn, tasks, ray_address)
    elif workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield task, fn(task)
    else:
        yield from _run_in_processes(fn, tasks, workers)


def _run_in_processes(fn, tasks, workers: int) -> Iterator[tuple[Any, Any]]:
    workers = min(workers, len(tasks))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: forking a process that already runs torch's thread pools can hang
    context = multiprocessing.get_context("spawn")
    init = (threads, os.getpid())
    with ProcessPoolExecutor(workers, context, _init_worker, init) as pool:
        futures = {pool.submit(fn, task): task for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _run_on_ray(fn, tasks, address: str) -> Iterator[tuple[Any, Any]]:
    try:
        import ray
    except ImportError as error:
        raise ValueError(f"--ray {address} needs Ray: pip install -e '.[ray]' ({error})") from error
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
