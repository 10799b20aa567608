"""A ``gptlab center`` run's text and batches: which file (checked against the record a run
started with), and each step's batch as a pure function of (seed, step, purpose, index)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gptlab.config import ConfigError
from gptlab.data.text import CharDataset, data_record, resolve_text_file
from gptlab.experiments.centering.config import CenterConfig
from gptlab.train.distributed import DistributedContext
from gptlab.train.run_folder import RunFolder, read_json_object

DATA_RECORD = "data.json"  # the text a run started on (``data_record``), in its folder
TRAIN_BATCHES, EVAL_BATCHES = 0, 1  # the purposes of a batch


def load_data(config: CenterConfig, path: Path | None = None) -> CharDataset:
    d = config.data
    path = path or resolve_text_file(d.data_file, d.data_dir)
    data = CharDataset(path, d.holdout_fraction)
    data.check_block_size(config.model.block_size)
    return data


def run_text(config: CenterConfig, run_dir: Path, resume: bool) -> dict[str, str | int]:
    """The record (``data_record``) of the text to train on. A resumed run reads the file it
    started on (its absolute path in ``data.json``), and only if its checksum still matches:
    an edited file, or a relative ``data_file`` seen from another folder, would silently
    train on other data. Checked here, before the text is read into the encoded cache."""
    record_path = run_dir / DATA_RECORD
    if resume and not record_path.exists():
        if not RunFolder(run_dir).checkpoint_path.exists():
            raise ConfigError(
                f"{run_dir} has neither a checkpoint nor {DATA_RECORD}: there is nothing "
                "to resume; start a new run with --out"
            )
        # a run from before data.json: CenterRun checks the checkpoint's vocabulary instead
    if not (resume and record_path.exists()):
        return data_record(resolve_text_file(config.data.data_file, config.data.data_dir))
    saved = read_json_object(record_path, "the run's data file and checksum")
    if set(saved) != {"path", "bytes", "sha256"} or not isinstance(saved["path"], str):
        raise ConfigError(f"{record_path} must hold exactly path, bytes and sha256")
    path = Path(saved["path"])
    if not path.is_file():
        raise ConfigError(f"{record_path}: the run's data file {path} is gone; restore it")
    now = data_record(path)
    if now != saved:
        raise ConfigError(
            f"{path} changed since the run started (sha256 {saved['sha256'][:12]}..., now "
            f"{now['sha256'][:12]}...); restore it or start a new run"
        )
    return now


def local_batch(
    data: CharDataset,
    split: str,
    config: CenterConfig,
    context: DistributedContext,
    step: int,
    purpose: int,
    index: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This process's share (grad_accum x batch_size rows) of the step's global batch.

    The global batch is a pure function of (seed, step, purpose, index), so resuming reads
    the same data as the unbroken run, and N processes x B rows see exactly the rows one
    process with N x B rows (or B rows x N accumulation steps) sees.
    """
    share = config.optim.batch_size * config.optim.grad_accum
    rng = np.random.default_rng([config.runtime.seed, step, purpose, index])
    x, y = data.batch(split, share * context.world_size, config.model.block_size, rng)
    rows = slice(context.rank * share, (context.rank + 1) * share)
    return x[rows], y[rows]
