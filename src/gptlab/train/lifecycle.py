"""The one run lifecycle every experiment goes through: start or resume, train unit by
unit (epochs or iterations) with monitors after each, checkpoint, stop cleanly, finish.

An experiment brings its models and what it measures (:class:`Experiment`); this module
brings the guarantees, written once:

- the run folders are locked for the whole run (a second writer is refused);
- a fresh run refuses a folder that already holds one; ``resume`` checks that config.json
  and the checkpoint agree, cuts metrics.jsonl back to its size at the checkpoint and
  restores every state; a run killed before its first checkpoint simply starts again;
- a non-finite gradient norm stops the run with ``status: diverged`` (exit code 3);
- SIGINT/SIGTERM stop at the next unit boundary with a checkpoint, ``status: stopped``
  and one line saying how to resume (exit code 130);
- ``summary.json`` is written last, after the plots, and always carries a ``status``.

Checkpoints (one layout, components by name) are ``gptlab.train.checkpoint``'s; the stop
signals ``gptlab.train.signals``'.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import shlex
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from tqdm.auto import tqdm

from gptlab.config import ConfigError, flat_dict
from gptlab.train.checkpoint import (
    Component,
    load_components,
    resumable_checkpoints,
    save_checkpoints,
)
from gptlab.train.run_folder import (
    RunFolder,
    no_space_message,
    write_json,
)
from gptlab.train.signals import StopNow, StopRequests

EXIT_STOPPED, EXIT_DIVERGED = 130, 3


class RunEnded(Exception):
    """The run ended before its last unit; ``str(self)`` is the one line to print."""

    def __init__(self, message: str, exit_code: int, summaries: list[dict[str, Any]]):
        super().__init__(message)
        self.exit_code = exit_code
        self.summaries = summaries

    def __reduce__(self) -> tuple[type, tuple]:
        # all three arguments: a run stopped in a sweep's worker process is unpickled there
        return RunEnded, (str(self), self.exit_code, self.summaries)


@dataclass
class Counters:
    unit: int = 0  # epochs or iterations completed
    step: int = 0  # optimizer steps taken
    wall_s: float = 0.0  # training wall time, summed over resumes


class Experiment(Protocol):
    command: str  # the CLI subcommand that resumes it: gptlab COMMAND --resume DIR
    unit: str  # "epoch" or "iter"
    total: int  # units to train
    checkpoint_every: int
    folders: list[RunFolder]  # one per model whose results are written
    configs: list[dict[str, Any]]  # each folder's config, as config.json holds it
    config_type: type  # the dataclass those configs are dicts of
    is_main: bool  # False on the other processes of a distributed run
    postfix: dict[str, str]  # shown on the progress bar

    def components(self) -> dict[str, Component]:
        """Everything needed to continue exactly, by name (the checkpoint's ``state`` keys),
        in the order they are restored."""

    def train_unit(self, counters: Counters) -> list[float]:
        """Train one unit, add its optimizer steps to ``counters.step``; return each
        model's gradient norm (equal on every process): non-finite means diverged."""

    def monitor(self, counters: Counters, writers: list[Any]) -> None:
        """After every unit (and before the first): evaluations, metrics, pictures."""

    def render(self, counters: Counters, writers: list[Any]) -> None:
        """End-of-run plots."""

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        """One summary per folder (the lifecycle adds ``status``); ``finished`` is False
        for a run that stopped or diverged."""

    def agree(self, flag: bool) -> bool:
        """True if any process has ``flag`` set (identity without distribution)."""

    # Optional members (read with getattr):
    # metrics_keys: tuple[str, ...]  keys every metrics row must have (checked on resume)
    # retired_state: tuple[str, ...]  state names older checkpoints hold and no component
    #   reads any more (dropped on resume instead of refused)
    # start_files: dict[str, Any]    JSON files written beside config.json at a fresh start,
    #   and on resume where missing (a run from before the file existed); the experiment
    #   checks a saved one itself, before it reads what the file describes


def run_experiment(
    experiment: Experiment, resume: bool = False, progress: bool = True
) -> list[dict[str, Any]]:
    """Train ``experiment`` to its end; its summaries, one per folder. Raises RunEnded
    when it stops or diverges first (the summaries are written all the same)."""
    exp = experiment
    for folder in exp.folders if exp.is_main else []:  # before the lock writes .lock there
        if resume:
            folder.read_config()  # a run folder, not any folder
        else:
            folder.check_new()
    with contextlib.ExitStack() as stack:
        if exp.is_main:
            for folder in exp.folders:
                stack.enter_context(folder.lock())
        checkpoints = resumable_checkpoints(exp) if resume else None
        if resume and all(f.is_finished() for f in exp.folders):
            return [f.read_summary() for f in exp.folders]
        counters = start(exp, resume, checkpoints)
        stop = stack.enter_context(StopRequests())
        try:
            with one_line_writer_errors(exp, counters):
                return train_to_end(exp, counters, stack, stop, progress)
        except StopNow:
            raise stopped_at_once(exp, counters) from None


def train_to_end(
    exp: Experiment,
    counters: Counters,
    stack: contextlib.ExitStack,
    stop: StopRequests,
    progress: bool,
) -> list[dict[str, Any]]:
    writers = open_writers(exp, counters, stack)
    if counters.unit == 0:
        exp.monitor(counters, writers)
    bar = tqdm(
        total=exp.total, initial=counters.unit, disable=not (progress and exp.is_main),
        desc=f"{exp.command}", unit=exp.unit,
    )  # fmt: skip
    stack.callback(bar.close)
    started = time.perf_counter() - counters.wall_s
    while counters.unit < exp.total:
        grad_norms = exp.train_unit(counters)
        counters.unit += 1
        counters.wall_s = time.perf_counter() - started
        if not all(math.isfinite(g) for g in grad_norms):
            bar.close()
            raise diverged(exp, counters, grad_norms)
        exp.monitor(counters, writers)
        bar.set_postfix(exp.postfix, refresh=False)
        bar.update(1)
        stopping = exp.agree(stop.requested)
        if stopping or counters.unit % exp.checkpoint_every == 0:
            save_checkpoints(exp, counters)
        if stopping:
            bar.close()
            raise stopped(exp, counters)
    bar.close()
    save_checkpoints(exp, counters)
    exp.render(counters, writers)
    summaries = write_summaries(exp, counters, ["finished"] * len(exp.folders))
    if exp.is_main:
        log_hparams(writers, exp.configs, summaries)
    return summaries


def result_or_divergence(run: Callable[..., dict[str, Any]], *args, **kwargs) -> dict[str, Any]:
    """``run(*args, **kwargs)``'s summary, or the summary of a run that diverged: in a sweep
    or a suite, divergence is a result to show (and to keep out of the statistics), not an
    error that ends the other runs."""
    try:
        return run(*args, **kwargs)
    except RunEnded as ended:
        if ended.exit_code != EXIT_DIVERGED:
            raise
        return ended.summaries[0]


def start(exp: Experiment, resume: bool, checkpoints: list[dict[str, Any]] | None) -> Counters:
    """Counters of a fresh run (folders created, configs written) or of the checkpoints."""
    if not resume:
        for folder in exp.folders if exp.is_main else []:  # others would see main's files
            folder.check_new()
    if checkpoints is None:  # new, or killed before its first checkpoint: nothing to keep
        return fresh_start(exp)
    load_components(exp, checkpoints)  # their checks before any write
    if exp.is_main:
        for folder, checkpoint in zip(exp.folders, checkpoints, strict=True):
            folder.truncate_metrics(checkpoint["metrics_bytes"])
            check_rows_before(exp, folder, checkpoint["counters"]["unit"])
            folder.create()  # plots/ may have been removed: it is derived output
            write_start_files(exp, folder)
    return Counters(**checkpoints[0]["counters"])


def check_rows_before(exp: Experiment, folder: RunFolder, unit: int) -> None:
    """Every metrics row is valid and none is past the checkpoint: a damaged or edited row
    is an error now, not after training."""
    rows = folder.read_metrics(getattr(exp, "metrics_keys", ()))
    if rows and rows[-1][exp.unit] > unit:
        raise ConfigError(
            f"{folder.metrics_path} has a row for {exp.unit} {rows[-1][exp.unit]}, past the "
            f"checkpoint's {unit}: the files do not belong together; start a new run"
        )


def write_start_files(exp: Experiment, folder: RunFolder) -> None:
    for name, content in getattr(exp, "start_files", {}).items():
        if not (folder.path / name).exists():
            write_json(folder.path / name, content)


def fresh_start(exp: Experiment) -> Counters:
    """Folders ready for unit 0. Only a gptlab folder can hold output here (a run killed
    before its first checkpoint): a new run's folder was checked to be empty."""
    if exp.is_main:
        for folder, config in zip(exp.folders, exp.configs, strict=True):
            for stale in (folder.metrics_path, folder.summary_path):
                stale.unlink(missing_ok=True)
            for stale_dir in (folder.tensorboard_dir, folder.plots_dir):
                shutil.rmtree(stale_dir, ignore_errors=True)
            folder.create()
            folder.write_config(config)
            write_start_files(exp, folder)
    return Counters()


def open_writers(exp: Experiment, counters: Counters, stack: contextlib.ExitStack) -> list:
    if not exp.is_main:
        return []
    from torch.utils.tensorboard import SummaryWriter  # slow import: only where it writes

    # purge_step drops the events an interrupted run logged after its checkpoint
    purge = counters.unit + 1 if counters.unit else None
    writers = [SummaryWriter(str(f.tensorboard_dir), purge_step=purge) for f in exp.folders]
    for writer, config in zip(writers, exp.configs, strict=True):
        stack.callback(writer.close)
        if not counters.unit:  # the config as text, so TensorBoard shows what ran
            writer.add_text("config", "```\n" + json.dumps(config, indent=2) + "\n```", 0)
    return writers


def log_hparams(writers: list, configs: list[dict], summaries: list[dict]) -> None:
    """The config and the summary's numbers in TensorBoard's HParams tab, so that runs
    under one --logdir compare there (lists and None become text)."""
    for writer, config, summary in zip(writers, configs, summaries, strict=True):
        hparams = {
            k: v if isinstance(v, (int, float, str, bool)) else str(v)
            for k, v in flat_dict(config).items()
        }
        metrics = {
            f"summary/{k}": v
            for k, v in summary.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        writer.add_hparams(hparams, metrics, run_name=".")


def write_summaries(
    exp: Experiment, counters: Counters, statuses: list[str], extras: list[dict] | None = None
) -> list[dict[str, Any]]:
    extras = extras or [{} for _ in exp.folders]
    summaries = [
        summary | {"status": status} | extra
        for summary, status, extra in zip(
            exp.summaries(counters, statuses[0] == "finished"), statuses, extras, strict=True
        )
    ]
    if exp.is_main:
        for folder, summary in zip(exp.folders, summaries, strict=True):
            folder.write_summary(summary)
    return summaries


def diverged(exp: Experiment, counters: Counters, grad_norms: list[float]) -> RunEnded:
    """Summaries say where: ``diverged`` for each model whose gradient went non-finite,
    ``stopped`` for its healthy siblings (they can be resumed alone)."""
    bad = [not math.isfinite(g) for g in grad_norms]
    at = {exp.unit: counters.unit, "step": counters.step}
    summaries = write_summaries(
        exp,
        counters,
        ["diverged" if b else "stopped" for b in bad],
        [{"diverged_at": at if b else None} for b in bad],
    )
    names = ", ".join(str(f.path) for f, b in zip(exp.folders, bad, strict=True) if b)
    return RunEnded(
        f"diverged: non-finite gradient at {exp.unit} {counters.unit} (step {counters.step}) "
        f"in {names}; lower the learning rate or clip gradients",
        EXIT_DIVERGED,
        summaries,
    )


def resume_command(exp: Experiment) -> str:
    """The shell-quoted command that resumes every folder of this run."""
    where = exp.folders[0].path.parent if len(exp.folders) > 1 else exp.folders[0].path
    return shlex.join(["gptlab", exp.command, "--resume", str(where)])


def stopped(exp: Experiment, counters: Counters) -> RunEnded:
    summaries = write_summaries(exp, counters, ["stopped"] * len(exp.folders))
    return RunEnded(
        f"stopped at {exp.unit} {counters.unit}; resume with: {resume_command(exp)}",
        EXIT_STOPPED,
        summaries,
    )


def stopped_at_once(exp: Experiment, counters: Counters) -> RunEnded:
    """A second signal during the stop: no new checkpoint, the last one stays valid."""
    return RunEnded(
        f"stopped at once by a second signal at {exp.unit} {counters.unit}; resume from the "
        f"last checkpoint with: {resume_command(exp)}",
        EXIT_STOPPED,
        [],
    )


@contextlib.contextmanager
def one_line_writer_errors(exp: Experiment, counters: Counters) -> Iterator[None]:
    """A full disk is one line, wherever it strikes. TensorBoard writes events from its own
    thread, whose error would print a traceback there and come back at the next write in
    this thread: that thread's traceback is silenced, and every out-of-space error becomes
    one line that says how to resume."""
    previous = threading.excepthook

    def quiet_writer_thread(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    threading.excepthook = quiet_writer_thread
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT) or "free some space" in str(error):
            raise
        where = error.filename or exp.folders[0].path
        raise OSError(error.errno, f"{no_space_message(where)}: {resume_command(exp)}") from None
    finally:
        threading.excepthook = previous
