"""``gptlab sample --run DIR --start TEXT --tokens N``: generate text from a trained run."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from gptlab.data.text import Vocabulary
from gptlab.experiments.centering.run import CenterConfig, load_run
from gptlab.experiments.options import command_parser, read_run_config
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range, with a message naming the value
MIN_TEMPERATURE = 1e-6


def check_request(
    run_dir: Path | str, start: str, tokens: int, temperature: float, top_k: int | None, seed: int
) -> None:
    """A ValueError naming the first bad value and what is allowed; nothing is loaded."""
    if not start:
        raise ValueError("--start needs at least one character")
    if tokens < 0:
        raise ValueError(f"--tokens {tokens} must be >= 0")
    if not (math.isfinite(temperature) and temperature >= MIN_TEMPERATURE):
        raise ValueError(
            f"--temperature {temperature} must be a finite number >= {MIN_TEMPERATURE} "
            "(logits divided by less overflow; --top-k 1 samples greedily)"
        )
    if top_k is not None and top_k < 0:
        raise ValueError(f"--top-k {top_k} must be >= 0 (0 = no top-k filtering)")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"--seed {seed} must lie in [0, 2**63 - 1]")
    check_run(run_dir)


def check_run(run_dir: Path | str) -> None:
    """The folder is a ``gptlab center`` run with a checkpoint (``load_run`` would raise
    FileNotFoundError, or an unknown-field error that does not name the file)."""
    read_run_config(Path(run_dir), CenterConfig, "--run")
    if not RunFolder(run_dir).checkpoint_path.is_file():
        raise ValueError(
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


def main(argv: list[str]) -> int:
    parser = command_parser("gptlab sample", __doc__)
    parser.add_argument("--run", type=Path, required=True, help="a finished `gptlab center` run")
    parser.add_argument("--start", default="\n", help="the prompt (default: a newline)")
    parser.add_argument("--tokens", type=int, default=500, help="characters to generate")
    parser.add_argument(
        "--temperature", type=float, default=0.8, help="divides the logits; lower = safer text"
    )
    parser.add_argument("--top-k", type=int, default=200, help="0 = no top-k filtering")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    args = parser.parse_args(argv)
    text = sample_text(
        args.run,
        args.start,
        args.tokens,
        args.temperature,
        args.top_k or None,
        args.seed,
        args.device,
    )
    print(text)
    return 0
