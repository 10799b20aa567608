"""gptlab from Python: run an experiment from a config object in this process, or load a
finished run folder, and get one :class:`Run` back either way.

    from gptlab import GrokConfig, grok, load_run, replace_flat
    run = grok(replace_flat(GrokConfig(), p=59, train_fraction=0.4, epochs=300), out="runs/p59")
    run.summary["stable_generalized_epoch"], run.metrics[-1]["test_acc"]
    same = load_run("runs/p59")

These are the CLI's own code paths (the same run lifecycle, folder, lock and checks), so a
run started here resumes with ``gptlab grok --resume DIR`` and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gptlab.config import ConfigError, check_types, replace_flat, to_dict
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.centering.config import check_config as check_center_config
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.grokking import PRESETS as GROK_PRESETS
from gptlab.experiments.grokking import GrokConfig, run_grok
from gptlab.experiments.grokking import check_config as check_grok_config

__all__ = ["Run", "grok", "center", "load_run", "GrokConfig", "CenterConfig", "replace_flat"]
from gptlab.experiments.options import read_run_config
from gptlab.train.checkpoint import check_same_config
from gptlab.train.run_folder import RunFolder, default_run_dir


@dataclass(frozen=True)
class Run:
    """A run folder: its config, its summary (None while it is unfinished) and its metrics
    rows (read when first asked for)."""

    path: Path
    config: GrokConfig | CenterConfig
    summary: dict[str, Any] | None

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        return RunFolder(self.path).read_metrics()

    @property
    def status(self) -> str | None:
        return self.summary and self.summary["status"]


def grok(
    config: GrokConfig | None = None, out: Path | str | None = None, progress: bool = True
) -> Run:
    """Train the grokking transformer (``config``, default the ``grok`` preset as on the
    command line) into ``out`` (default: a new folder under runs/)."""
    return _train(run_grok, config or GROK_PRESETS["grok"], out, "grok", progress)


def center(
    config: CenterConfig | None = None, out: Path | str | None = None, progress: bool = True
) -> Run:
    """Train the char-level GPT (``config``, default the seed's settings) into ``out``."""
    return _train(run_center, config or CenterConfig(), out, "center", progress)


def _train(train, config, out, experiment: str, progress: bool) -> Run:
    config_type = GrokConfig if experiment == "grok" else CenterConfig
    check_types(config, config_type)  # grok(CenterConfig()) or grok("smoke"): say so
    if out is not None and str(out) == "":
        raise ConfigError("out needs a folder, not an empty string")
    path = Path(out) if out is not None else default_run_dir(experiment)
    train(config, path, progress=progress)
    return load_run(path)


def load_run(path: Path | str) -> Run:
    """A run folder written by ``gptlab grok`` or ``gptlab center`` (from here or the CLI),
    checked as ``--resume`` checks it: a config.json that differs from the checkpoint's, or
    that the lab refuses, is a ConfigError naming the file."""
    folder = RunFolder(path)
    raw = folder.read_config()
    config_cls = GrokConfig if "task" in raw or "epochs" in raw else CenterConfig  # or flat
    config = read_run_config(folder.path, config_cls, option="load_run")
    try:
        (check_grok_config if config_cls is GrokConfig else check_center_config)(config)
    except ValueError as error:
        raise ConfigError(f"{folder.config_path}: {error}") from None
    if folder.checkpoint_path.exists():
        checkpoint = folder.load_checkpoint()
        saved = checkpoint.get("config") if isinstance(checkpoint, dict) else None
        check_same_config(config_cls, folder, "checkpoint", saved, to_dict(config))
    return Run(folder.path, config, folder.read_summary())
