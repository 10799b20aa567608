"""``gptlab sample --run DIR --start TEXT --tokens N``: generate text from a trained run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
import tyro

from gptlab.config import ConfigError
from gptlab.data.text import Vocabulary
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.centering.run import load_run
from gptlab.experiments.options import parse_options, read_run_config
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range, with a message naming the value
MIN_TEMPERATURE = 1e-6


def check_request(
    run_dir: Path | str, start: str, tokens: int, temperature: float, top_k: int | None, seed: int
) -> None:
    """A ConfigError naming the first bad value and what is allowed; nothing is loaded."""
    if not start:
        raise ConfigError("--start needs at least one character")
    if tokens < 0:
        raise ConfigError(f"--tokens {tokens} must be >= 0")
    if not (math.isfinite(temperature) and temperature >= MIN_TEMPERATURE):
        raise ConfigError(
            f"--temperature {temperature} must be a finite number >= {MIN_TEMPERATURE} "
            "(logits divided by less overflow; --top-k 1 samples greedily)"
        )
    if top_k is not None and top_k < 0:
        raise ConfigError(f"--top-k {top_k} must be >= 0 (0 = no top-k filtering)")
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed {seed} must lie in [0, 2**63 - 1]")
    check_run(run_dir)


def check_run(run_dir: Path | str) -> None:
    """The folder is a ``gptlab center`` run with a checkpoint (``load_run`` would raise
    FileNotFoundError, or an unknown-field error that does not name the file)."""
    read_run_config(Path(run_dir), CenterConfig, "--run")
    if not RunFolder(run_dir).checkpoint_path.is_file():
        raise ConfigError(
            f"--run {run_dir}: no checkpoint.pt to sample from (the run saved none yet)"
        )


def sample_text(
    run_dir: Path | str,
    start: str,
    tokens: int,
    temperature: float = 0.8,
    top_k: int | None = 200,
    seed: int = 0,
    device: str = "cpu",
) -> str:
    """``start`` followed by ``tokens`` sampled characters (batch 1, causal generation)."""
    torch_device = pick_device(device)
    check_request(run_dir, start, tokens, temperature, top_k, seed)
    model, chars, _ = load_run(run_dir, torch_device)
    vocab = Vocabulary(chars)
    idx = torch.tensor([vocab.encode(start)], device=torch_device)
    generator = torch.Generator(device=torch_device).manual_seed(seed)
    out = model.generate(idx, tokens, temperature, top_k, generator)
    return vocab.decode(out[0].tolist())


@dataclass
class SampleOptions:
    """``gptlab sample``'s options."""

    run: Path
    """a finished `gptlab center` run"""
    start: Annotated[str, tyro.conf.arg(help_behavior_hint="(default: a newline)")] = "\n"
    """the prompt"""
    tokens: int = 500
    """characters to generate"""
    temperature: float = 0.8
    """divides the logits; lower = safer text"""
    top_k: int = 200
    """0 = no top-k filtering"""
    seed: int = 0
    """seed of the sampling"""
    device: str = "cpu"
    """auto, cpu, cuda, cuda:N or mps"""


def main(argv: list[str]) -> int:
    o = parse_options(argv, SampleOptions, "gptlab sample", __doc__)
    text = sample_text(o.run, o.start, o.tokens, o.temperature, o.top_k or None, o.seed, o.device)
    print(text)
    return 0
