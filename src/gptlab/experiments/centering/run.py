"""``gptlab center``: train the char-level GPT with one centering variant.

    gptlab center --preset cpu --variant momentum_centered --seed 1
    gptlab center --preset cpu --variant custom --center-block True --centering-mode adaptive
    gptlab center --resume runs/center-20260101-120000

The final validation loss is one fixed, full, deterministic pass over the validation split;
the random-batch estimates in metrics.jsonl are for watching progress only.

How long, on a 2-core CPU: --preset cpu about 2.5 min (extrapolated from 200 of its 2000
iterations on 2026-12-01); the seed preset is meant for a GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro

from gptlab.analysis.centering_stats import centering_statistics
from gptlab.config import ConfigError, check_finite, check_types, from_dict, to_dict
from gptlab.data.text import CharDataset, check_holdout_fraction, data_record, resolve_text_file
from gptlab.experiments.centering.variants import (
    VARIANTS,
    control_of,  # noqa: F401  (re-exported: suite.py imports it from here)
    placements,
    placements_at,
    sites_of,
    variant_spec,
)
from gptlab.experiments.options import parse_run_request
from gptlab.nn import CenteringConfig, Transformer, TransformerConfig
from gptlab.train.distributed import (
    DistributedContext,
    gather_to_main,
    init_distributed,
    mean_across_processes,
    shutdown_distributed,
)
from gptlab.train.lifecycle import Counters, Value, per_model, run_experiment
from gptlab.train.memory import FLOAT_BYTES, check_fits, parameter_count
from gptlab.train.optim import adamw
from gptlab.train.reproducibility import (
    pick_device,
    rng_state,
    seed_everything,
    set_rank_rng_state,
)
from gptlab.train.run_folder import RunFolder, check_state_shapes, read_json_object
from gptlab.train.schedules import warmup_cosine_lr

DTYPES = ("auto", "float32", "bfloat16")


@dataclass
class CenterConfig:
    # ---- centering: a named variant; the four fields after it override it when set ----
    # each *_normalized variant is the strength-0 control of its placement
    variant: str = "baseline"
    """what is centered, and how: one of VARIANTS (baseline, qk_centered, ..., custom)"""
    centering_mode: str | None = None
    """override the variant's mode: simple, adaptive, learnable_center or momentum"""
    center_qk: bool | None = None
    """override: center and re-normalize Q and K in attention"""
    center_block: bool | None = None
    """override: center and re-normalize every block's output"""
    center_final: bool | None = None
    """override: center and re-normalize the final embeddings before the LM head"""
    centering_strength: float | None = None
    """override the variant's share of the center removed, in [0, 1]; 0 = re-normalize only"""
    centering_momentum: float = 0.99
    """EMA decay of the running center (mode momentum), in [0, 1)"""
    centering_eps: float = 1e-6
    """added to norms before dividing"""
    # ---- data ----
    data_file: str = ""
    """a UTF-8 text file to train on ('' = Tiny Shakespeare from data_dir, env or download)"""
    data_dir: str = ""
    """a folder holding tinyshakespeare/input.txt ('' = GPTLAB_DATA_DIR, cache, download)"""
    # for choosing hyperparameters without reading val
    holdout_fraction: float = 0.0
    """share of the train split (its end) never trained on, scored as the holdout loss; 0 = none"""
    # ---- model (the seed: 6 layers, 6 heads, 384 wide, block 256) ----
    n_layer: int = 6
    """transformer blocks"""
    n_head: int = 6
    """attention heads per block"""
    d_model: Annotated[int, tyro.conf.arg(aliases=("--n-embd",))] = 384
    """width of the residual stream (nanoGPT's n_embd)"""
    block_size: int = 256
    """context length in characters"""
    dropout: float = 0.2
    """dropout probability, in [0, 1)"""
    bias: bool = False
    """biases in Linear layers and LayerNorms"""
    # ---- training: nanoGPT's recipe ----
    batch_size: int = 64
    """sequences per process per micro-step"""
    grad_accum: int = 1
    """micro-steps per optimizer step (global batch: batch_size x grad_accum x processes)"""
    max_iters: int = 500
    """optimizer steps to train"""
    lr: Annotated[float, tyro.conf.arg(aliases=("--learning-rate",))] = 1e-3
    """peak learning rate, after warmup"""
    min_lr: float = 1e-4
    """learning rate at the end of the cosine decay, in (0, lr]"""
    warmup_iters: int = 100
    """linear warmup steps"""
    lr_decay_iters: int = 0
    """steps of the cosine decay; 0 = max_iters"""
    weight_decay: float = 0.1
    """AdamW weight decay on weight matrices and embeddings (not biases, gains, temperatures)"""
    beta1: float = 0.9
    """AdamW beta1, in [0, 1)"""
    beta2: float = 0.99
    """AdamW beta2, in [0, 1)"""
    grad_clip: float = 1.0
    """clip the gradient norm to this value; 0 = no clipping"""
    # ---- evaluation ----
    eval_every: Annotated[int, tyro.conf.arg(aliases=("--eval-interval",))] = 100
    """a random-batch loss estimate and a checkpoint every this many iterations"""
    eval_iters: int = 20
    """batches per random-batch loss estimate"""
    final_eval_batch_size: int = 64
    """windows per batch of the final full validation pass"""
    # ---- runtime ----
    seed: int = 0
    """seed of the initialization, dropout and batches"""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps"""
    dtype: str = "auto"
    """auto (bfloat16 autocast on CUDA, float32 elsewhere), float32 or bfloat16"""
    compile: bool = False
    """torch.compile the model"""
    num_threads: int = 0
    """CPU threads for torch; 0 = torch's default (all cores)"""


PRESETS: dict[str, CenterConfig] = {
    "seed": CenterConfig(),
    # nanoGPT's shakespeare_char CPU recipe
    "cpu": CenterConfig(
        n_layer=4,
        n_head=4,
        d_model=128,
        block_size=64,
        batch_size=12,
        max_iters=2000,
        dropout=0.0,
        eval_every=250,
    ),
    "smoke": CenterConfig(
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=32,
        batch_size=8,
        max_iters=20,
        warmup_iters=5,
        dropout=0.0,
        eval_every=10,
        eval_iters=2,
        device="cpu",
    ),
}


def centering_config(config: CenterConfig) -> CenteringConfig:
    """The variant's centering with the explicit flags applied on top."""
    if config.variant not in VARIANTS:
        raise ValueError(f"unknown variant {config.variant!r}; known: {list(VARIANTS)}")
    spec = variant_spec(config.variant)
    where = set(placements(config.variant))
    for name, center in (
        ("qk", config.center_qk),
        ("block", config.center_block),
        ("final", config.center_final),
    ):
        if center is not None:
            where = where | {name} if center else where - {name}
    return CenteringConfig(
        sites=sites_of(tuple(where)),
        mode=config.centering_mode or spec.mode,
        strength=spec.strength if config.centering_strength is None else config.centering_strength,
        eps=config.centering_eps,
        momentum=config.centering_momentum,
    )


def describe_centering(centering: CenteringConfig) -> str:
    places = placements_at(centering.sites)
    if not places:
        return "none"
    return f"{'+'.join(places)} ({centering.mode}, strength {centering.strength:g})"


def model_config(config: CenterConfig, vocab_size: int) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=vocab_size,
        block_size=config.block_size,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=config.d_model,
        dropout=config.dropout,
        bias=config.bias,
        activation="gelu",
        layer_norm=True,
        pos_encoding="learned",
        tie_weights=True,
        centering=centering_config(config),
    )


def check_config(config: CenterConfig) -> None:
    """Raise ValueError for anything wrong with ``config`` that needs no data: types,
    ranges, the model's own checks, and whether it fits in the device's memory."""
    check_types(config, CenterConfig)
    check_finite(config)
    centering_config(config)
    for name in (
        "batch_size",
        "grad_accum",
        "max_iters",
        "eval_every",
        "eval_iters",
        "final_eval_batch_size",
    ):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} = {getattr(config, name)} must be >= 1")
    if config.warmup_iters < 0 or config.lr_decay_iters < 0:
        raise ValueError("warmup_iters and lr_decay_iters must be >= 0")
    if not 0 < config.min_lr <= config.lr:
        raise ValueError(f"need 0 < min_lr ({config.min_lr}) <= lr ({config.lr})")
    for name in ("weight_decay", "grad_clip"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} = {getattr(config, name)} must be >= 0")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(config, name) < 1:
            raise ValueError(f"{name} = {getattr(config, name)} must lie in [0, 1)")
    check_holdout_fraction(config.holdout_fraction)
    if config.num_threads < 0:
        raise ValueError(f"num_threads = {config.num_threads} must be >= 0")
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype {config.dtype!r} is not one of {DTYPES}")
    model_config(config, vocab_size=1)  # the model's own checks
    check_fits(memory_parts(config), pick_device(config.device))


ASSUMED_VOCAB = 256  # characters: Tiny Shakespeare has 65; the text is not read yet


def memory_parts(config: CenterConfig, vocab_size: int = ASSUMED_VOCAB) -> dict[str, float]:
    """An upper-end estimate, in bytes, of what one process holds at once: parameters with
    gradient and AdamW's two moments, one micro-batch's activations (attention
    probabilities included), and one batch of the final evaluation."""
    params = parameter_count(model_config(config, vocab_size))
    d, t, heads = config.d_model, config.block_size, config.n_head
    per_token = config.n_layer * (16 * d + 3 * heads * t) + 3 * vocab_size
    return {
        "the parameters (d_model, n_layer)": FLOAT_BYTES * 4 * params,
        "one step's activations (batch_size, block_size, d_model)": FLOAT_BYTES
        * config.batch_size
        * t
        * per_token,
        "the final evaluation (final_eval_batch_size)": FLOAT_BYTES
        * config.final_eval_batch_size
        * t
        * (2 * vocab_size + 16 * d),
    }


def autocast_for(config: CenterConfig, device: torch.device) -> contextlib.AbstractContextManager:
    use_bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


TRAIN_BATCHES, EVAL_BATCHES = 0, 1
STATS_WINDOWS = 8  # validation windows the centering statistics are measured on


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
    share = config.batch_size * config.grad_accum
    rng = np.random.default_rng([config.seed, step, purpose, index])
    x, y = data.batch(split, share * context.world_size, config.block_size, rng)
    rows = slice(context.rank * share, (context.rank + 1) * share)
    return x[rows], y[rows]


@torch.no_grad()
def estimate_loss(
    model: Transformer,
    data: CharDataset,
    config: CenterConfig,
    step: int,
    device: torch.device,
    context: DistributedContext,
) -> dict[str, float]:
    """Mean loss over ``eval_iters`` random batches of each split (progress logging only)."""
    model.eval()
    losses = {}
    for split in ("train", "val"):
        total = torch.zeros((), device=device)
        for i in range(config.eval_iters):
            x, y = local_batch(data, split, config, context, step, EVAL_BATCHES, i)
            with autocast_for(config, device):
                total += model(x.to(device), y.to(device))[1].float()
        losses[split] = mean_across_processes(total / config.eval_iters, context).item()
    model.train()
    return losses


@torch.no_grad()
def full_pass_loss(
    model: Transformer, data: CharDataset, split: str, config: CenterConfig, device: torch.device
) -> float:
    """Mean cross-entropy over every target of ``split``, in a fixed order."""
    model.eval()
    total, count = 0.0, 0
    for x, y in data.full_pass(split, config.block_size, config.final_eval_batch_size):
        with autocast_for(config, device):
            logits = model(x.to(device))[0]
        losses = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum"
        )
        total += losses.item()
        count += y.numel()
    model.train()
    return total / count


DATA_RECORD = "data.json"  # the text a run started on (``data_record``), in its folder


def load_data(config: CenterConfig, path: Path | None = None) -> CharDataset:
    path = path or resolve_text_file(config.data_file, config.data_dir)
    data = CharDataset(path, config.holdout_fraction)
    data.check_block_size(config.block_size)
    return data


def run_text(config: CenterConfig, run_dir: Path, resume: bool) -> dict[str, str | int]:
    """The record (``data_record``) of the text to train on. A resumed run reads the file it
    started on (its absolute path in ``data.json``), and only if its checksum still matches:
    an edited file, or a relative ``data_file`` seen from another folder, would silently
    train on other data. Checked here, before the text is read into the encoded cache."""
    record_path = run_dir / DATA_RECORD
    if resume and not record_path.exists():
        if not RunFolder(run_dir).checkpoint_path.exists():
            raise ValueError(
                f"{run_dir} has neither a checkpoint nor {DATA_RECORD}: there is nothing "
                "to resume; start a new run with --out"
            )
        # a run from before data.json: CenterRun checks the checkpoint's vocabulary instead
    if not (resume and record_path.exists()):
        return data_record(resolve_text_file(config.data_file, config.data_dir))
    saved = read_json_object(record_path, "the run's data file and checksum")
    if set(saved) != {"path", "bytes", "sha256"} or not isinstance(saved["path"], str):
        raise ValueError(f"{record_path} must hold exactly path, bytes and sha256")
    path = Path(saved["path"])
    if not path.is_file():
        raise ValueError(f"{record_path}: the run's data file {path} is gone; restore it")
    now = data_record(path)
    if now != saved:
        raise ValueError(
            f"{path} changed since the run started (sha256 {saved['sha256'][:12]}..., now "
            f"{now['sha256'][:12]}...); restore it or start a new run"
        )
    return now


def run_center(
    config: CenterConfig, run_dir: Path | str, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train one run into ``run_dir`` (or finish it, with ``resume``); return its summary."""
    check_config(config)
    text = run_text(config, Path(run_dir), resume)
    data = load_data(config, Path(text["path"]))
    device = pick_device(config.device)
    context = init_distributed(device.type)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
    try:
        run = CenterRun(config, Path(run_dir), data, device, context, text)
        return run_experiment(run, resume, progress)[0]
    finally:
        shutdown_distributed()


class CenterRun:
    """One char-level GPT run for the lifecycle (``gptlab.train.lifecycle``); under
    torchrun every process builds one, and only the main process writes the folder."""

    command, unit = "center", "iter"
    config_type = CenterConfig
    retired_state = ("model_config",)  # the model is built from config.json, checked
    metrics_keys = ("iter", "train_loss", "val_loss")

    def __init__(
        self,
        config: CenterConfig,
        run_dir: Path,
        data: CharDataset,
        device: torch.device,
        context: DistributedContext,
        text: dict[str, str | int],
    ) -> None:
        """``text``: the record of ``data``'s file (``run_text``), written as data.json."""
        self.config, self.data, self.device, self.context = config, data, device, context
        self.total, self.checkpoint_every = config.max_iters, config.eval_every
        self.folders, self.configs = [RunFolder(run_dir)], [to_dict(config)]
        self.start_files = {DATA_RECORD: text}
        self.is_main = context.is_main
        self.postfix: dict[str, str] = {}
        if config.num_threads:
            # on a shared or small CPU, fewer threads than cores can be several times faster
            torch.set_num_threads(config.num_threads)
        seed_everything(config.seed + context.rank)  # each process its own dropout masks
        self.model_config = model_config(config, len(data.vocab))
        self.model = Transformer(self.model_config).to(device)
        self.optimizer = adamw(
            self.model,
            config.lr,
            config.weight_decay,
            (config.beta1, config.beta2),
            device.type,
        )
        trained = torch.compile(self.model) if config.compile else self.model
        if context.enabled:
            ids = [device.index] if device.type == "cuda" else None
            trained = torch.nn.parallel.DistributedDataParallel(trained, device_ids=ids)
        self.trained = trained
        self.tokens_per_step = (
            config.batch_size * config.grad_accum * config.block_size * context.world_size
        )
        self.train_time = 0.0  # seconds in training steps alone, summed over resumes
        # the same validation windows at every evaluation, so the statistics compare over time
        self.stats_windows = next(data.full_pass("val", config.block_size, STATS_WINDOWS))[0].to(
            device
        )
        self.interval_time, self.interval_steps, self.lr = 0.0, 0, 0.0

    def components(self) -> dict[str, Value]:
        """By name, in the order a resume restores them: the text's characters first (a
        run must continue on its own text), then the RNG (a different number of processes
        stops the run before anything changes)."""
        return {
            "vocab": Value(lambda: [self.data.vocab.chars], self.check_vocab),
            # one per rank: each process has its own dropout masks; gathered by every rank
            "rng": Value(
                lambda: [gather_to_main(rng_state(), self.context)],
                lambda states: set_rank_rng_state(
                    states[0], self.context.rank, self.context.world_size
                ),
            ),
            "model": per_model(lambda: self.model),
            "optimizer": per_model(lambda: self.optimizer),
            "train_time": Value(lambda: [self.train_time], self.set_train_time),
        }

    def check_vocab(self, states: list[Any]) -> None:
        if states[0] != self.data.vocab.chars:
            raise ConfigError(
                f"{self.folders[0].checkpoint_path} was trained on a text with other "
                f"characters than {self.data.text_file}; restore the run's data"
            )

    def set_train_time(self, states: list[Any]) -> None:
        self.train_time = states[0]

    def train_unit(self, counters: Counters) -> list[float]:
        """One optimizer step over grad_accum micro-batches; its gradient norm."""
        config, context, device = self.config, self.context, self.device
        self.lr = warmup_cosine_lr(
            counters.step,
            config.lr,
            config.min_lr,
            config.warmup_iters,
            config.lr_decay_iters or config.max_iters,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        x, y = local_batch(self.data, "train", config, context, counters.step, TRAIN_BATCHES)
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for micro, (xm, ym) in enumerate(
            zip(x.split(config.batch_size), y.split(config.batch_size), strict=True)
        ):
            # DDP averages gradients across processes only on the last micro-step
            last = micro == config.grad_accum - 1
            sync = contextlib.nullcontext()
            if context.enabled and not last:
                sync = self.trained.no_sync()
            with sync, autocast_for(config, device):
                loss = self.trained(xm.to(device), ym.to(device))[1] / config.grad_accum
            loss.backward()
        # the norm is taken after DDP's all-reduce: every process sees the same number
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), config.grad_clip or math.inf
        )
        self.optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        self.train_time += elapsed
        self.interval_time += elapsed
        self.interval_steps += 1
        counters.step += 1
        return [grad_norm.item()]

    def monitor(self, counters: Counters, writers: list[Any]) -> None:
        """A random-batch loss estimate at iteration 0 and every ``eval_every``."""
        step = counters.unit
        if step % self.config.eval_every and step != self.config.max_iters:
            return
        losses = estimate_loss(self.model, self.data, self.config, step, self.device, self.context)
        row = {"iter": step, "train_loss": losses["train"], "val_loss": losses["val"]}
        if step:
            row["lr"] = self.lr
            row["tokens_per_sec"] = self.tokens_per_step * self.interval_steps / self.interval_time
        self.interval_time, self.interval_steps = 0.0, 0
        self.postfix = {"train": f"{losses['train']:.3f}", "val": f"{losses['val']:.3f}"}
        if self.is_main:
            row |= centering_statistics(self.model, self.stats_windows)
            self.folders[0].append_metrics(row)
            for key, value in row.items():
                if key != "iter":
                    writers[0].add_scalar(key, value, step)

    def render(self, counters: Counters, writers: list[Any]) -> None:
        pass  # center-suite draws the comparisons across runs

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        config = self.config
        # the result: one fixed full pass over the validation split, for a finished run only
        final = (
            full_pass_loss(self.model, self.data, "val", config, self.device) if finished else None
        )
        summary = {
            "variant": config.variant,
            "centering": describe_centering(self.model_config.centering),
            "seed": config.seed,
            "iters": counters.unit,
            "final_val_loss": final,
            "final_val_tokens": len(self.data.val) - 1,
            "final_val_perplexity": math.exp(final) if final is not None else None,
            "final_holdout_loss": (
                full_pass_loss(self.model, self.data, "holdout", config, self.device)
                if finished and config.holdout_fraction
                else None
            ),
            "tokens_per_sec": self.tokens_per_step * counters.step / max(self.train_time, 1e-9),
            "train_time_s": self.train_time,
            "wall_time_s": counters.wall_s,
            "num_parameters": self.model.num_parameters(),
            "device": str(self.device),
            "world_size": self.context.world_size,
        }
        return [summary]

    def agree(self, flag: bool) -> bool:
        if not self.context.enabled:
            return flag
        return bool(
            mean_across_processes(
                torch.tensor(float(flag), device=self.device), self.context
            ).item()
            > 0
        )


def load_run(run_dir: Path | str, device: str = "cpu") -> tuple[Transformer, str, CenterConfig]:
    """The trained model of a run folder (eval mode), its vocabulary and its config. The
    model is built from the checked config.json and the checkpoint's tensors must fit it
    (checked on the meta device first): a crafted checkpoint cannot make it allocate."""
    folder = RunFolder(run_dir)
    config = from_dict(CenterConfig, folder.read_config())
    check_config(config)
    state = folder.load_checkpoint(map_location="cpu")["state"]
    chars = state.get("vocab") if isinstance(state, dict) else None
    if not isinstance(chars, str) or not chars:
        raise ValueError(f"{folder.checkpoint_path} has no vocabulary: not a center checkpoint")
    structure = model_config(config, len(chars))
    check_fits(memory_parts(config, len(chars)), pick_device(device))
    with torch.device("meta"):
        expected = Transformer(structure).state_dict()
    check_state_shapes(expected, state.get("model"), folder.checkpoint_path)
    model = Transformer(structure).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), chars, config


def main(argv: list[str]) -> int:
    request = parse_run_request(
        argv, "gptlab center", CenterConfig, PRESETS, "seed", description=__doc__
    )
    check_config(request.config)
    summary = run_center(request.config, request.run_dir, resume=request.resume)
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the main process reports
        return 0
    print(
        f"{summary['variant']} seed {summary['seed']}: final val loss "
        f"{summary['final_val_loss']:.4f} (full pass, {summary['final_val_tokens']} tokens), "
        f"{summary['tokens_per_sec']:.0f} tokens/s -> {request.run_dir}"
    )
    return 0
