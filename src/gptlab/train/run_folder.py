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
- nothing outside: a symlink anywhere inside the folder is refused when it is locked, and
  files are opened with ``O_NOFOLLOW``, so no write lands outside the folder.
- validated reading: JSON files refuse NaN and infinities, metrics rows must be objects of
  finite numbers (or null) with an integer ``epoch``/``iter``, a summary must carry a status.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import math
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from gptlab.config import ConfigError

STATUSES = ("finished", "stopped", "diverged")
UNITS = ("epoch", "iter")  # what a metrics row counts


class FolderBusy(ConfigError):
    """Another process holds the run folder's lock."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``
    (a symlink at ``path`` is replaced, never followed). A full disk is a one-line error;
    the previous file stays as it was, and no temporary file is left."""
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
            raise OSError(error.errno, no_space_message(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def no_space_message(path: Path) -> str:
    return (
        f"no space left on the device to write {path}; the previous version of the file "
        "is intact: free some space, then resume"
    )


def save_tensors(path: Path, obj: Any) -> None:
    """``torch.save`` made atomic. It serializes to memory first: torch's own file writer
    reports a full disk as an opaque ``RuntimeError [enforce fail ...]``, Python's as
    ``ENOSPC``, which :func:`atomic_write` turns into one clear line."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise ConfigError(f"{text} is not a finite number")
    return value


def _no_constant(name: str) -> float:
    raise ConfigError(f"{name} is not a finite number")


def parse_json(text: str) -> Any:
    """JSON without NaN or infinities: a hand-edited ``NaN`` must not pass for a result."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)


def read_json(path: Path) -> Any:
    try:
        return parse_json(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise ConfigError(f"{path} is not valid JSON ({error})") from None


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """``read_json`` of a file that must hold one JSON object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object ({what}), not {type(data).__name__}")
    return data


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_metrics_row(row: Any, where: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A metrics row as gptlab writes it: an object of finite numbers or nulls whose unit
    (``epoch`` or ``iter``) is an integer >= 0, with every ``required`` key present."""
    if not isinstance(row, dict):
        raise ConfigError(f"{where} is not a JSON object")
    unit = next((k for k in UNITS if k in row), None)
    if unit is None or not isinstance(row[unit], int) or isinstance(row[unit], bool):
        raise ConfigError(f"{where} has no integer {' or '.join(UNITS)}")
    if row[unit] < 0:
        raise ConfigError(f"{where}: {unit} = {row[unit]} must be >= 0")
    for key, value in row.items():
        if value is not None and not is_number(value):
            raise ConfigError(f"{where}: {key} = {value!r} is not a number")
    missing = [k for k in required if k not in row]
    if missing:
        raise ConfigError(f"{where} lacks {missing}")
    return row


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
        """The folder and its derived output folders (recreated if someone removed them)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.plots_dir.mkdir(exist_ok=True)
        return self

    def plots_subdir(self, name: str) -> Path:
        folder = self.plots_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def check_no_symlinks(self) -> None:
        """Refuse a folder with a symlink anywhere inside: writing through one would create,
        truncate or overwrite a file outside the run folder."""
        for root, dirs, files in os.walk(self.path):  # os.walk does not descend into links
            for name in dirs + files:
                if os.path.islink(os.path.join(root, name)):
                    link = Path(root, name)
                    raise ConfigError(
                        f"{link} is a symbolic link (to {os.readlink(link)}); gptlab writes "
                        "only real files inside a run folder: remove the link"
                    )

    def check_new(self, option: str = "--out") -> None:
        """A new run goes only into a folder that does not exist or is empty (its own lock
        file aside): files already there are someone's, and a new run must not delete or
        mix with them."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise ConfigError(f"{option} {self.path}: {self.path} is not a folder")
        if self.config_path.exists():
            raise ConfigError(
                f"{self.path} already holds a run; resume it with --resume {self.path} "
                f"or choose another {option}"
            )
        others = sorted(p.name for p in self.path.iterdir() if p.name != self.lock_path.name)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ConfigError(
                f"{option} {self.path}: the folder is not empty ({shown}); a new run needs a "
                "new or empty folder"
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolder]:
        """Hold the folder's exclusive lock for the ``with`` block, or raise FolderBusy."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.check_no_symlinks()
        fd = open_no_follow(self.lock_path, os.O_RDWR | os.O_CREAT)
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
            raise ConfigError(f"{self.path} is not a run folder: no config.json")
        return read_json_object(self.config_path, "a run's config")

    def append_metrics(self, row: dict[str, Any]) -> None:
        try:
            line = json.dumps(row, allow_nan=False)
        except ValueError:
            bad = sorted(k for k, v in row.items() if is_number(v) and not math.isfinite(v))
            raise ConfigError(
                f"{self.metrics_path}: the new row has non-finite {bad}; a run of nans "
                "is no result, so it stops here"
            ) from None
        fd = open_no_follow(self.metrics_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        with os.fdopen(fd, "a") as f:
            f.write(line + "\n")

    def sync_metrics(self) -> int:
        """fsync metrics.jsonl; its size in bytes (0 if there is none yet)."""
        if not self.metrics_path.exists():
            return 0
        with os.fdopen(open_no_follow(self.metrics_path, os.O_RDONLY), "rb") as f:
            os.fsync(f.fileno())
            return os.fstat(f.fileno()).st_size

    def truncate_metrics(self, size: int) -> None:
        """Cut metrics.jsonl back to ``size`` bytes, its size at the checkpoint: the rows
        after it are recomputed by the resumed run. A shorter file means rows were lost."""
        have = self.metrics_path.stat().st_size if self.metrics_path.exists() else 0
        if have < size:
            raise ConfigError(
                f"{self.metrics_path} has {have} bytes but held {size} at the checkpoint: "
                "rows were lost or the file was edited; restore it or start a new run"
            )
        if self.metrics_path.exists():
            fd = open_no_follow(self.metrics_path, os.O_WRONLY)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)

    def read_metrics(self, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Every row, each checked (:func:`check_metrics_row`): a damaged or edited row is an
        error naming the file and line, never a number read as another."""
        if not self.metrics_path.exists():
            return []
        rows = []
        with open(self.metrics_path) as f:
            for number, line in enumerate(f, start=1):
                where = f"{self.metrics_path}, line {number},"
                try:
                    row = parse_json(line)
                except ValueError:
                    raise ConfigError(f"{where} is not a JSON row: {line[:60]!r}") from None
                rows.append(check_metrics_row(row, where, required))
        return rows

    def write_summary(self, summary: dict[str, Any]) -> None:
        if summary.get("status") not in STATUSES:
            raise ConfigError(f"summary status {summary.get('status')!r} is not one of {STATUSES}")
        write_json(self.summary_path, summary)

    def read_summary(self) -> dict[str, Any] | None:
        """The summary (None before the run ends); one that is not an object with a known
        ``status`` is an error naming the file."""
        if not self.summary_path.exists():
            return None
        summary = read_json_object(self.summary_path, "a run's summary")
        if summary.get("status") not in STATUSES:
            raise ConfigError(
                f"{self.summary_path}: status {summary.get('status')!r} is not one of {STATUSES}"
            )
        return summary

    def is_finished(self) -> bool:
        summary = self.read_summary()
        return summary is not None and summary["status"] == "finished"

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        save_tensors(self.checkpoint_path, state)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        return load_safely(self.checkpoint_path, map_location)


def open_no_follow(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symlink (a link planted after the folder was checked)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ConfigError(
                f"{path} is a symbolic link; gptlab does not write through links"
            ) from None
        raise


def check_state_shapes(
    expected: dict[str, torch.Tensor], state: Any, source: Path | str
) -> dict[str, torch.Tensor]:
    """``state`` has exactly ``expected``'s tensors, shape for shape, or a ValueError naming
    ``source`` and the first difference."""
    if not isinstance(state, dict):
        raise ConfigError(f"{source} holds no model weights")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ConfigError(f"{source}: weights missing {missing[:3]}, unexpected {extra[:3]}")
    for name, tensor in expected.items():
        if not isinstance(state[name], torch.Tensor) or state[name].shape != tensor.shape:
            shape = getattr(state[name], "shape", type(state[name]).__name__)
            raise ConfigError(
                f"{source}: {name} has shape {tuple(shape)}, the config needs {tuple(tensor.shape)}"
            )
    return state


def load_safely(
    path: Path, map_location: str | torch.device = "cpu", kind: str = "checkpoint"
) -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors: a missing, damaged or
    foreign file (one whose pickle asks for code to run) is a ValueError naming it and
    what it should have been (``kind``)."""
    if not path.is_file():
        raise ConfigError(f"no {kind} at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(
            f"{path} was refused: it is damaged or holds more than tensors and plain "
            f"values, so it is not a {kind} gptlab wrote ({reason[:120]})"
        ) from None
    except (EOFError, RuntimeError, OSError) as error:
        raise ConfigError(f"{path} is damaged or not a {kind} ({error})") from None
