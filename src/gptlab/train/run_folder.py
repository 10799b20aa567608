"""A self-contained run folder: config, metrics, summary, checkpoint, TensorBoard, plots.

Layout (the contract other tools and the tests rely on)::

    DIR/config.json      resolved configuration
    DIR/metrics.jsonl    one JSON object per evaluation, append-only
    DIR/summary.json     final metrics and ``status``; written last, after the plots
    DIR/checkpoint.pt    everything needed to resume exactly (config included)
    DIR/tensorboard/     event files
    DIR/plots/           PNG figures
    DIR/.lock            held by the one process writing the folder

Guarantees:

- one writer: :meth:`RunFolder.lock` takes an exclusive ``flock``; a second process is
  refused with the holder's PID. The kernel drops the lock when its holder dies, so a lock
  left by ``kill -9`` is simply taken over.
- durable files: every file but the metrics is written atomically (temporary file, fsync,
  rename). Metrics are appended, and fsynced at each checkpoint, which records their size:
  resuming cuts the file back to exactly that size, so no row is duplicated and none lost.
- no silent loss: an unreadable metrics line is an error naming the file and line.
- safe loading: checkpoints hold tensors and plain types only and load with
  ``weights_only=True``, so a folder received from someone else cannot run code.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

STATUSES = ("finished", "stopped", "diverged")


class FolderBusy(ValueError):
    """Another process holds the run folder's lock."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.
    A full disk is a one-line error; the previous file stays as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                error.errno,
                f"no space left on the device to write {path}; the previous "
                "version of the file is intact: free some space, then resume",
            ) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def default_run_dir(experiment: str, root: Path = Path("runs")) -> Path:
    """A new folder name under ``root``: ``EXPERIMENT-YYYYmmdd-HHMMSS-PID``. The process id
    keeps two runs started in the same second out of each other's folder."""
    return root / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


class RunFolder:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    summary_path = property(lambda self: self.path / "summary.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    tensorboard_dir = property(lambda self: self.path / "tensorboard")
    plots_dir = property(lambda self: self.path / "plots")
    lock_path = property(lambda self: self.path / ".lock")

    def create(self) -> RunFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        self.plots_dir.mkdir(exist_ok=True)
        return self

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolder]:
        """Hold the folder's exclusive lock for the ``with`` block, or raise FolderBusy."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise FolderBusy(
                    f"{self.path} is in use by another gptlab process (PID {holder}); "
                    "wait for it to finish or stop it"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)  # releases the flock

    def write_config(self, config: dict[str, Any]) -> None:
        write_json(self.config_path, config)

    def read_config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            raise ValueError(f"{self.path} is not a run folder: no config.json")
        return read_json(self.config_path)

    def append_metrics(self, row: dict[str, Any]) -> None:
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def sync_metrics(self) -> int:
        """fsync metrics.jsonl; its size in bytes (0 if there is none yet)."""
        if not self.metrics_path.exists():
            return 0
        with open(self.metrics_path, "rb+") as f:
            os.fsync(f.fileno())
            return os.fstat(f.fileno()).st_size

    def truncate_metrics(self, size: int) -> None:
        """Cut metrics.jsonl back to ``size`` bytes, its size at the checkpoint: the rows
        after it are recomputed by the resumed run. A shorter file means rows were lost."""
        have = self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
        if have < size:
            raise ValueError(
                f"{self.metrics_path} has {have} bytes but held {size} at the checkpoint: "
                "rows were lost or the file was edited; restore it or start a new run"
            )
        if self.metrics_path.exists():
            os.truncate(self.metrics_path, size)

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        rows = []
        with open(self.metrics_path) as f:
            for number, line in enumerate(f, start=1):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(
                        f"{self.metrics_path}, line {number}, is not a JSON row: {line[:60]!r}"
                    ) from None
        return rows

    def write_summary(self, summary: dict[str, Any]) -> None:
        if summary.get("status") not in STATUSES:
            raise ValueError(f"summary status {summary.get('status')!r} is not one of {STATUSES}")
        write_json(self.summary_path, summary)

    def read_summary(self) -> dict[str, Any] | None:
        return read_json(self.summary_path) if self.summary_path.exists() else None

    def is_finished(self) -> bool:
        summary = self.read_summary()
        return summary is not None and summary.get("status", "finished") == "finished"

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_write(self.checkpoint_path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        return load_safely(self.checkpoint_path, map_location)


def load_safely(
    path: Path, map_location: str | torch.device = "cpu", kind: str = "checkpoint"
) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors: a missing, damaged or
    foreign file (one whose pickle asks for code to run) is a ValueError naming it and
    what it should have been (``kind``)."""
    if not path.is_file():
        raise ValueError(f"no {kind} at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"{path} was refused: it is damaged or holds more than tensors and plain "
            f"values, so it is not a {kind} gptlab wrote ({reason[:120]})"
        ) from None
    except (EOFError, RuntimeError, OSError) as error:
        raise ValueError(f"{path} is damaged or not a {kind} ({error})") from None
