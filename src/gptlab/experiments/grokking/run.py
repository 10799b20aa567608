"""``gptlab grok``: train a small transformer on modular arithmetic and watch it grok.

The run composes the pieces: a seeded split of all pairs (``gptlab.data.modular``), the
shared :class:`Transformer`, AdamW (or Adam) and a cosine schedule, an evaluation of the
full train and test sets every ``eval_every`` epochs, a loss landscape every
``landscape_every`` epochs, TensorBoard, PNG plots, and a checkpoint from which
``--resume`` continues exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

from gptlab.analysis.attention import attention_maps
from gptlab.analysis.landscape import LandscapeSeries
from gptlab.analysis.stability import generalization_stability
from gptlab.config import check_finite, check_types, to_dict
from gptlab.data.modular import ModularSplit, check_operation, resolve_train_size, split_pairs
from gptlab.experiments.options import RunRequest, parse_run_request
from gptlab.nn.stacked import StackedModels
from gptlab.nn.transformer import Transformer, TransformerConfig
from gptlab.plots.grokking import plot_attention, plot_attention_evolution, plot_curves
from gptlab.plots.landscape import loss_range, plot_landscape, plot_landscape_evolution
from gptlab.plots.output import save_and_log
from gptlab.train.grad_filter import EmaGradFilter
from gptlab.train.lifecycle import EXIT_STOPPED, Counters, RunEnded, run_experiment
from gptlab.train.memory import FLOAT_BYTES, check_fits, parameter_count
from gptlab.train.optim import fused_for
from gptlab.train.reproducibility import pick_device, rng_state, seed_everything, set_rng_state
from gptlab.train.run_folder import (
    RunFolder,
    atomic_write,
    read_json_object,
    save_tensors,
    write_json,
)

MEMORIZED = GENERALIZED = 0.99  # accuracy thresholds for memorized_epoch / generalized_epoch
# what every metrics row holds (``GrokRun.monitor``): a row without one is not a grok row
METRICS_KEYS = (
    "epoch", "step", "train_loss", "train_acc", "test_loss", "test_acc", "test_acc_unmirrored",
    "weight_norm", "grad_norm", "lr", "time_s",
)  # fmt: skip
SCHEDULERS = ("cosine", "constant")
GRAD_FILTERS = ("none", "ema")
OPTIMIZERS = ("adamw", "adam")
DECAYS = ("all", "matrices")
INITS = ("gpt2", "nanda", "torch")
T_MAX_UNITS = ("epochs", "steps")


@dataclass
class GrokConfig:
    # ---- data ----
    p: int = 97
    """the modulus: pairs (x, y) with x, y in 0..p-1"""
    operation: str = "add"
    """add, sub, mul, div, square_sum, quad or cube_xy (mod p)"""
    train_size: int = 500
    """number of training pairs; ignored when train_fraction > 0"""
    train_fraction: float = 0.0
    """share of all pairs used for training; 0 = use train_size"""
    keep_mirrors: bool = False
    """split whole {(x, y), (y, x)} groups, so that no mirror of a test pair is trained on"""
    split_seed: int = 0
    """seed of the train/test split"""
    # ---- model ----
    seed: int = 0
    """seed of the initialization, dropout masks and batch order"""
    d_model: int = 64
    """width of the residual stream"""
    n_heads: int = 4
    """attention heads"""
    n_layers: int = 1
    """transformer blocks"""
    d_ff: int = 1024
    """hidden width of the ReLU MLP"""
    dropout: float = 0.05
    """dropout probability, in [0, 1)"""
    layer_norm: bool = True
    """LayerNorm before attention, MLP and the output (False: no normalization at all)"""
    # nanda: std 1/sqrt(d_model), unembedding 1/sqrt(vocab); torch: as the reference code of
    # Power et al. 2022 and Grokfast leaves its layers
    init: str = "gpt2"
    """gpt2 (std 0.02), nanda (Nanda et al. 2023) or torch (PyTorch's: embeddings N(0, 1))"""
    init_scale: float = 1.0
    """multiplies every initial weight after init; Omnigrok's knob (Liu et al., 2022)"""
    # ---- optimization ----
    optimizer: str = "adamw"
    """adamw (decoupled weight decay) or adam (weight decay as an L2 term in the gradient)"""
    lr: float = 3e-3
    """learning rate (peak, after warmup)"""
    weight_decay: float = 1e-3
    """weight decay: decoupled (adamw) or L2 coefficient (adam)"""
    # matrices: weight matrices and embeddings, not biases and LayerNorm gains, as nanoGPT
    decay: str = "all"
    """what weight decay acts on: all (every parameter, as the seed) or matrices (not biases)"""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam (beta1, beta2)"""
    adam_eps: float = 1e-8
    """Adam epsilon: larger values damp the steps when gradients are tiny"""
    warmup_steps: int = 0
    """linear learning-rate warmup over this many optimizer steps"""
    grad_clip: float = 0.0
    """clip the gradient norm to this value before the step; 0 = no clipping"""
    grad_filter: str = "none"
    """none, or ema: Grokfast's filter, grad += lambda * EMA(grad) (Lee et al., 2024)"""
    grad_filter_alpha: float = 0.98
    """Grokfast: EMA decay of past gradients, in [0, 1)"""
    grad_filter_lambda: float = 2.0
    """Grokfast: how much of the EMA is added to the gradient"""
    batch_size: int = 16
    """training pairs per step; 0 = full batch (one step per epoch)"""
    epochs: int = 10000
    """passes over the training set"""
    scheduler: str = "cosine"
    """cosine (CosineAnnealingLR) or constant"""
    t_max: int = 10000
    """CosineAnnealingLR period, counted in t_max_unit"""
    t_max_unit: str = "epochs"
    """unit of t_max: epochs or steps"""
    eta_min: float = 0.0
    """CosineAnnealingLR's final learning rate, in [0, lr]"""
    # ---- monitoring ----
    eval_every: int = 10
    """evaluate the full train and test sets every N epochs"""
    landscape_every: int = 10
    """compute the loss landscape every N epochs; 0 = never"""
    landscape_span: float = 1.0
    """landscape grid over [-span, span]^2, in filter-normalized units"""
    landscape_resolution: int = 11
    """landscape grid points per side"""
    landscape_examples: int = 128
    """fixed random subset of training pairs the landscape is computed on"""
    landscape_seed: int = 0
    """seed of the landscape's two random directions and its subset"""
    landscape_plot_every: int = 1000
    """draw the landscape (PNG and TensorBoard) every N epochs; 0 = never"""
    histogram_every: int = 100
    """weight and gradient histograms in TensorBoard every N epochs; 0 = never"""
    attention_every: int = 1000
    """attention maps (PNG per epoch and TensorBoard) every N epochs; 0 = never"""
    checkpoint_every: int = 100
    """write checkpoint.pt every N epochs (and at the end, or when stopped)"""
    snapshot_every: int = 0
    """save the parameters under snapshots/ every N epochs, for gptlab grok-mechanism"""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps"""


PRESETS = {
    # Exactly the seed: p 97, add, 500 training pairs, 1 layer, 4 heads, d_model 64, d_ff 1024,
    # dropout 0.05, LayerNorm, AdamW lr 3e-3 wd 1e-3, batch 16, cosine T_max 10000 epochs.
    "seed": GrokConfig(),
    # Groks, and stays grokked, in seconds on a CPU: p 47, 40% of the pairs, full batch,
    # weight decay 1. With LayerNorm and weight decay the training loss spikes every ~100
    # epochs at a constant lr (Lobacheva et al., 2021: the effective step grows as the
    # decay shrinks the weights); a higher lr that decays along a cosine groks as early and
    # then stops spiking (benchmarks/grok_stability.py, docs/grokking.md).
    "grok": GrokConfig(
        p=47,
        train_size=0,
        train_fraction=0.4,
        d_model=64,
        d_ff=256,
        dropout=0.0,
        lr=5e-3,
        weight_decay=1.0,
        betas=(0.9, 0.98),
        batch_size=0,
        epochs=2000,
        scheduler="cosine",
        t_max=2000,
        eta_min=3e-4,
        eval_every=10,
        landscape_every=50,
        landscape_plot_every=500,
        histogram_every=100,
        attention_every=500,
        checkpoint_every=100,
    ),
    # Nanda et al. (2023): p 113, 30% of the pairs, d_model 128, 4 heads, d_ff 512, no
    # LayerNorm, their initialization, AdamW lr 1e-3 (10-step warmup), wd 1, betas (0.9, 0.98),
    # full batch. It memorizes first and generalizes thousands of epochs later.
    "nanda": GrokConfig(
        p=113,
        train_size=0,
        train_fraction=0.3,
        d_model=128,
        n_heads=4,
        d_ff=512,
        dropout=0.0,
        layer_norm=False,
        init="nanda",
        lr=1e-3,
        weight_decay=1.0,
        betas=(0.9, 0.98),
        warmup_steps=10,
        batch_size=0,
        epochs=15000,
        scheduler="constant",
        eval_every=50,
        landscape_every=500,
        landscape_plot_every=5000,
        histogram_every=1000,
        attention_every=2500,
        checkpoint_every=500,
        snapshot_every=500,
    ),
    # Grokfast (Lee et al., 2024) on p 97: their optimizer, batch, lr warmup and PyTorch's
    # default initialization (embeddings N(0, 1)), their EMA filter (alpha 0.98, lambda 5)
    # with Adam's L2 0.005, as their README runs it. Stable in 5/5 seeds at a median 2200
    # steps; with the filter off it does not learn within 5x that, and with the filter off
    # and the L2 divided by (1 + lambda) it is stable 5.6x later (benchmarks/grokfast_speedup.py).
    "fast": GrokConfig(
        p=97,
        train_size=0,
        train_fraction=0.5,
        d_model=64,
        d_ff=256,
        dropout=0.0,
        init="torch",
        optimizer="adam",
        lr=1e-3,
        weight_decay=0.005,
        betas=(0.9, 0.98),
        warmup_steps=10,
        grad_filter="ema",
        grad_filter_alpha=0.98,
        grad_filter_lambda=5.0,
        batch_size=512,
        epochs=400,
        scheduler="constant",
        eval_every=10,
        landscape_every=50,
        landscape_plot_every=200,
        histogram_every=100,
        attention_every=200,
        checkpoint_every=100,
    ),
    # Seconds, for tests: a tiny model that groks (test acc >= 0.99 at epochs 700-1000 for most
    # seeds) when run for ~1000 epochs.
    "smoke": GrokConfig(
        p=23,
        train_size=0,
        train_fraction=0.7,
        d_model=32,
        n_heads=2,
        d_ff=64,
        dropout=0.0,
        lr=3e-3,
        weight_decay=1.0,
        betas=(0.9, 0.98),
        batch_size=0,
        epochs=20,
        scheduler="constant",
        eval_every=5,
        landscape_every=10,
        landscape_resolution=5,
        landscape_examples=32,
        landscape_plot_every=10,
        histogram_every=10,
        attention_every=10,
        checkpoint_every=10,
        device="cpu",
    ),
}


def check_config(c: GrokConfig, seeds: int = 1) -> None:
    """Raise ValueError naming the bad value and what is allowed: types, ranges, what the
    data and the model would refuse, and whether ``seeds`` runs of it fit in memory. Costs
    no data and no model, so sweeps check every point before their first run."""
    check_types(c, GrokConfig)
    check_finite(c)
    at_least = {
        "d_model": 1,
        "n_heads": 1,
        "n_layers": 1,
        "d_ff": 1,
        "batch_size": 0,
        "epochs": 1,
        "t_max": 1,
        "eval_every": 1,
        "landscape_every": 0,
        "landscape_resolution": 2,
        "landscape_examples": 1,
        "landscape_plot_every": 0,
        "histogram_every": 0,
        "attention_every": 0,
        "checkpoint_every": 1,
        "snapshot_every": 0,
    }
    for name, low in at_least.items():
        if getattr(c, name) < low:
            raise ValueError(f"{name} = {getattr(c, name)} must be >= {low}")
    if c.lr <= 0:
        raise ValueError(f"lr = {c.lr} must be > 0")
    if c.weight_decay < 0:
        raise ValueError(f"weight_decay = {c.weight_decay} must be >= 0")
    if not 0 <= c.eta_min <= c.lr:
        raise ValueError(f"eta_min = {c.eta_min} must lie in [0, lr = {c.lr}]")
    if not all(0.0 <= b < 1.0 for b in c.betas):
        raise ValueError(f"betas = {c.betas} must both lie in [0, 1)")
    for name in ("init_scale", "adam_eps"):
        if getattr(c, name) <= 0:
            raise ValueError(f"{name} = {getattr(c, name)} must be > 0")
    for name in ("warmup_steps", "grad_clip", "grad_filter_lambda"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name} = {getattr(c, name)} must be >= 0")
    if not 0 <= c.grad_filter_alpha < 1:
        raise ValueError(f"grad_filter_alpha = {c.grad_filter_alpha} must lie in [0, 1)")
    if c.decay not in DECAYS:
        raise ValueError(f"decay {c.decay!r} is not one of {DECAYS}")
    if c.init not in INITS:
        raise ValueError(f"init {c.init!r} is not one of {INITS}")
    if c.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {c.optimizer!r} is not one of {OPTIMIZERS}")
    if c.grad_filter not in GRAD_FILTERS:
        raise ValueError(f"grad_filter {c.grad_filter!r} is not one of {GRAD_FILTERS}")
    if c.scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler {c.scheduler!r} is not one of {SCHEDULERS}")
    if c.t_max_unit not in T_MAX_UNITS:
        raise ValueError(f"t_max_unit {c.t_max_unit!r} is not one of {T_MAX_UNITS}")
    if c.landscape_span <= 0:
        raise ValueError(f"landscape_span = {c.landscape_span} must be > 0")
    if c.landscape_plot_every and (
        not c.landscape_every or c.landscape_plot_every % c.landscape_every
    ):
        raise ValueError(
            f"landscape_plot_every = {c.landscape_plot_every} must be a multiple of "
            f"landscape_every = {c.landscape_every} (only computed surfaces can be drawn)"
        )
    check_operation(c.p, c.operation)
    n_train = resolve_train_size(example_count(c), c.train_size, c.train_fraction)
    transformer_config(c, vocab_size=c.p + 1)  # the model's own checks
    check_fits(memory_parts(c, n_train, seeds), pick_device(c.device))


# Peak bytes per pair while a split is built (all pairs, their targets, the masks), measured
# at p 1000 and 2000 (97-98 bytes), with headroom; and bytes kept per pair and seed: int64
# inputs and targets, the unmirrored mask.
SPLIT_BYTES_PER_PAIR, KEPT_BYTES_PER_PAIR = 120, 40
EVAL_CHUNK = 512  # examples per evaluation forward pass (``evaluate``)


def example_count(c: GrokConfig) -> int:
    return c.p * (c.p - 1) if c.operation == "div" else c.p**2


def memory_parts(c: GrokConfig, n_train: int, seeds: int = 1) -> dict[str, float]:
    """An upper-end estimate, in bytes, of what ``seeds`` stacked runs of ``c`` hold at
    once: the split being built and the splits kept, parameters with gradient, Adam's two
    moments and the gradient filter, one step's activations (3 tokens an example) and the
    landscape history."""
    pairs = example_count(c)
    params = parameter_count(transformer_config(c, vocab_size=c.p + 1))
    per_token = c.n_layers * (10 * c.d_model + 2 * c.d_ff + 9 * c.n_heads)
    per_example = 3 * per_token + 3 * (c.p + 1)  # logits only at "=", with their gradient
    batch = max(c.batch_size or n_train, EVAL_CHUNK)
    parts = {
        f"the data (p = {c.p})": (SPLIT_BYTES_PER_PAIR + seeds * KEPT_BYTES_PER_PAIR) * pairs,
        "the parameters (d_model, d_ff, n_layers)": seeds * FLOAT_BYTES * 5 * params,
        "one step's activations (batch_size, d_model, d_ff)": seeds
        * FLOAT_BYTES
        * batch
        * per_example,
    }
    if c.landscape_every:
        surfaces = c.epochs // c.landscape_every + 1
        parts["the loss landscapes (landscape_resolution)"] = (
            surfaces * c.landscape_resolution**2 * 8 + c.landscape_examples * per_example
        )
    return parts


def build_data(c: GrokConfig) -> ModularSplit:
    return split_pairs(
        c.p, c.operation, c.train_size, c.train_fraction, c.split_seed, c.keep_mirrors
    )


def transformer_config(c: GrokConfig, vocab_size: int) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=vocab_size,
        block_size=3,  # [x, y, =]
        n_layer=c.n_layers,
        n_head=c.n_heads,
        n_embd=c.d_model,
        d_ff=c.d_ff,
        dropout=c.dropout,
        activation="relu",
        layer_norm=c.layer_norm,
        tie_weights=False,  # inputs and answers are different roles of the same tokens
    )


def build_model(c: GrokConfig, vocab_size: int) -> Transformer:
    """The one-layer transformer, initialized as ``init`` says, then every weight multiplied
    by ``init_scale``: the initial weight norm sets how long grokking is delayed (Omnigrok,
    Liu et al., 2022)."""
    model = Transformer(transformer_config(c, vocab_size))
    with torch.no_grad():
        if c.init == "nanda":
            nanda_init(model, c.d_model, vocab_size)
        elif c.init == "torch":
            torch_default_init(model)
        if c.init_scale != 1.0:
            for param in model.parameters():
                param.mul_(c.init_scale)
    return model


def nanda_init(model: Transformer, d_model: int, vocab_size: int) -> None:
    """Nanda et al.'s initialization: every weight matrix and embedding N(0, 1/d_model), the
    unembedding N(0, 1/vocab); biases zero, norm gains one. Several times GPT-2's 0.02."""
    for name, param in model.named_parameters():
        if param.dim() < 2:
            continue  # biases were zeroed and gains set to one by the model's own init
        std = 1 / math.sqrt(vocab_size if name == "lm_head.weight" else d_model)
        param.normal_(0.0, std)


def torch_default_init(model: torch.nn.Module) -> None:
    """Each layer's own PyTorch initialization (embeddings N(0, 1), linear layers
    Kaiming-uniform), as the reference grokking code leaves them. The embeddings start ~50x
    larger than GPT-2's, which slows their relative learning rate: a long grokking delay."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.reset_parameters()


def build_optimizer(
    model: torch.nn.Module, c: GrokConfig, steps_per_epoch: int
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW or Adam with an L2 term (weight decay on every parameter, as the seed, or on
    matrices only) and its schedule. A stack's parameters carry a seed axis first: a matrix
    is 3-D there. Both are elementwise, so a stack trains as its models would alone."""
    device_type = next(model.parameters()).device.type
    matrix_dims = 3 if isinstance(model, StackedModels) else 2
    params = list(model.parameters())
    decayed = [p for p in params if c.decay == "all" or p.dim() >= matrix_dims]
    kept = [p for p in params if not (c.decay == "all" or p.dim() >= matrix_dims)]
    groups = [{"params": decayed}] + ([{"params": kept, "weight_decay": 0.0}] if kept else [])
    kind = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
    optimizer = kind(
        groups,
        lr=c.lr,
        betas=c.betas,
        eps=c.adam_eps,
        weight_decay=c.weight_decay,
        fused=fused_for(device_type),
    )
    return optimizer, build_scheduler(optimizer, c, steps_per_epoch)


def build_scheduler(
    optimizer: torch.optim.Optimizer, c: GrokConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate factor at every optimizer step: a linear warmup over
    ``warmup_steps``, times the cosine of CosineAnnealingLR (closed form: periodic past
    t_max, as CosineAnnealingLR is) counted in epochs or steps, or a constant."""

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps else 1.0
        if c.scheduler == "constant":
            return warm
        t = step if c.t_max_unit == "steps" else step // steps_per_epoch
        low = c.eta_min / c.lr
        return warm * (low + (1 - low) * (1 + math.cos(math.pi * t / c.t_max)) / 2)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def steps_per_epoch(c: GrokConfig, train_pairs: int) -> int:
    return math.ceil(train_pairs / (c.batch_size or train_pairs))


def seed_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(K, b, 3) pairs -> (K, b, vocab): each seed's logits for the answer at ``=``. A plain
    :class:`Transformer` (K = 1) folds the seed axis into its batch; a :class:`StackedModels`
    runs seed k on ``x[k]``."""
    out = model(x, last_only=True)
    return (out[0] if isinstance(out, tuple) else out)[:, :, -1]


def per_seed_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of each seed's slice (the leading axis) over all tensors: (K,)."""
    norms = [torch.linalg.vector_norm(t, dim=tuple(range(1, t.dim()))) for t in tensors]
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


def stacked_split(data: list[ModularSplit], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every seed's ``split`` as (K, N, 3) inputs and (K, N) targets."""
    inputs = torch.stack([getattr(d, f"{split}_inputs") for d in data])
    return inputs, torch.stack([getattr(d, f"{split}_targets") for d in data])


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: list[ModularSplit],
    c: GrokConfig,
    shuffles: list[torch.Generator],
    grad_filter: EmaGradFilter | None = None,
) -> tuple[int, list[float]]:
    """One pass over every seed's training set, each seed in its own random order; returns
    (steps, mean gradient norm per seed, before filtering and clipping). Seeds are
    independent: the summed loss gives each its own gradient, and the filter, the clipping
    (per seed) and the optimizer are elementwise."""
    model.train()
    inputs, targets = stacked_split(data, "train")
    n = targets.shape[1]
    batch_size = c.batch_size or n
    orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(targets.device)
    grad_norms = []
    for i in range(0, n, batch_size):
        idx = orders[:, i : i + batch_size]  # (K, b)
        x = torch.take_along_dim(inputs, idx.unsqueeze(-1), dim=1)  # (K, b, 3)
        y = torch.take_along_dim(targets, idx, dim=1)  # (K, b)
        logits = seed_logits(model, x)
        optimizer.zero_grad(set_to_none=True)
        summed_seed_losses(logits, y).backward()
        grads = seed_grads(model, len(data))
        grad_norms.append(per_seed_norm(grads))
        if grad_filter is not None:
            grad_filter.apply()
        if c.grad_clip > 0:
            clip_per_seed(grads, c.grad_clip)
        optimizer.step()
        scheduler.step()
    return len(grad_norms), torch.stack(grad_norms).mean(0).tolist()


def summed_seed_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over seeds of each seed's mean cross-entropy: (K, b, vocab), (K, b) -> ().
    Both spellings compute the same; each keeps the float rounding its path always had,
    because when a run groks is chaotic in the last bits (hundreds of epochs apart)."""
    if y.shape[0] == 1:
        return F.cross_entropy(logits[0], y[0])
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum()


def seed_grads(model: torch.nn.Module, seeds: int) -> list[torch.Tensor]:
    """Every gradient with the seed axis first: a stack's own, or a plain model's as (1, ...)
    views (so that writing into them writes the gradient)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return grads if seeds > 1 else [g.unsqueeze(0) for g in grads]


@torch.no_grad()
def clip_per_seed(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale each seed's gradient to norm at most ``max_norm``, as clip_grad_norm_ does for
    one model."""
    norms = per_seed_norm(grads)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, data: list[ModularSplit], chunk: int = 512
) -> list[dict[str, float]]:
    """Per seed: loss and accuracy on the full train and test sets, the test accuracy on
    pairs whose mirror is not in training, and the weight norm. Chunks of 512 examples keep
    (K, chunk, d_ff) in cache. Add new per-evaluation metrics here."""
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = [{} for _ in data]
    for split in ("train", "test"):
        inputs, targets = stacked_split(data, split)
        loss_sum = torch.zeros(len(data), device=targets.device)
        hits = []
        for i in range(0, targets.shape[1], chunk):
            logits = seed_logits(model, inputs[:, i : i + chunk])
            y = targets[:, i : i + chunk]
            loss_sum += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(1)
            hits.append(logits.argmax(-1) == y)
        hit = torch.cat(hits, dim=1)
        for k, row in enumerate(rows):
            row[f"{split}_loss"] = (loss_sum[k] / targets.shape[1]).item()
            row[f"{split}_acc"] = hit[k].float().mean().item()
    params = list(model.parameters())
    weight_norms = per_seed_norm(params if len(data) > 1 else [p.unsqueeze(0) for p in params])
    for k, (row, d) in enumerate(zip(rows, data, strict=True)):
        unmirrored = hit[k][d.unmirrored]  # hit holds the test split, evaluated last
        row["test_acc_unmirrored"] = unmirrored.float().mean().item() if len(unmirrored) else None
        row["weight_norm"] = weight_norms[k].item()
    model.train(was_training)
    return rows


def first_epoch(rows: list[dict[str, Any]], key: str, threshold: float) -> dict | None:
    return next((r for r in rows if r[key] >= threshold), None)


def landscape_series(model: Transformer, data: ModularSplit, c: GrokConfig) -> LandscapeSeries:
    return LandscapeSeries(
        model,
        data.train_inputs,
        data.train_targets,
        c.landscape_span,
        c.landscape_resolution,
        c.landscape_examples,
        c.landscape_seed,
    )


def save_landscapes(folder: RunFolder, landscapes: LandscapeSeries) -> None:
    """Every surface's numbers so far, as ``landscapes.npz``."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **landscapes.arrays())

    atomic_write(folder.path / "landscapes.npz", write)


def log_scalars(writer: SummaryWriter, row: dict[str, Any]) -> None:
    epoch = row["epoch"]
    for split in ("train", "test"):
        writer.add_scalar(f"loss/{split}", row[f"{split}_loss"], epoch)
        writer.add_scalar(f"accuracy/{split}", row[f"{split}_acc"], epoch)
    if row["test_acc_unmirrored"] is not None:
        writer.add_scalar("accuracy/test_unmirrored", row["test_acc_unmirrored"], epoch)
    writer.add_scalar("gap/train_minus_test_accuracy", row["train_acc"] - row["test_acc"], epoch)
    writer.add_scalar("gap/train_minus_test_loss", row["train_loss"] - row["test_loss"], epoch)
    writer.add_scalar("norm/grad", row["grad_norm"], epoch)
    writer.add_scalar("norm/weight", row["weight_norm"], epoch)
    writer.add_scalar("lr", row["lr"], epoch)


def log_histograms(writer: SummaryWriter, model: Transformer, epoch: int) -> None:
    for name, p in model.named_parameters():
        writer.add_histogram(f"weights/{name}", p.detach().cpu(), epoch)
        if p.grad is not None:
            writer.add_histogram(f"grads/{name}", p.grad.detach().cpu(), epoch)


def seed_configs(config: GrokConfig, count: int) -> list[GrokConfig]:
    """Seed i of a multi-seed run: ``seed + i`` for initialization, dropout and batch order,
    ``split_seed + i`` for its train/test split."""
    if count < 1:
        raise ValueError(f"seeds = {count} must be >= 1")
    return [
        dataclasses.replace(config, seed=config.seed + i, split_seed=config.split_seed + i)
        for i in range(count)
    ]


def check_stackable(configs: list[GrokConfig]) -> None:
    shared = [dataclasses.replace(c, seed=0, split_seed=0) for c in configs]
    if any(s != shared[0] for s in shared):
        raise ValueError("batched seeds must share every config field but seed and split_seed")


NO_LANDSCAPES: dict[str, list] = {"epochs": [], "losses": []}


def due(epoch: int, every: int, last: int) -> bool:
    """Whether a monitor that runs every ``every`` epochs (0 = never) runs at ``epoch``: at
    its multiples and at the last epoch, never before training."""
    return every > 0 and epoch > 0 and (epoch % every == 0 or epoch == last)


class GrokRun:
    """K >= 1 seeds of one configuration trained together, each writing its own folder.

    K = 1 trains the plain :class:`Transformer`; K > 1 a :class:`StackedModels` whose
    weights carry a leading seed axis, which gives the same numbers as K separate runs (up
    to float rounding; dropout masks are drawn differently). Every folder's checkpoint is
    that seed's own, so any seed of a batched run can be continued alone. LandscapeSeries,
    histograms, snapshots and attention during training need one model at a time: they
    run for K = 1 only; a batched run draws each seed's attention at the end.
    """

    command, unit = "grok", "epoch"
    config_type = GrokConfig
    metrics_keys = METRICS_KEYS

    def __init__(self, configs: list[GrokConfig], run_dirs: list[Path]) -> None:
        for c in configs:
            check_config(c, seeds=len(configs))
        check_stackable(configs)
        self.seed_configs = configs
        c = self.c = configs[0]
        self.total, self.checkpoint_every = c.epochs, c.checkpoint_every
        self.folders = [RunFolder(d) for d in run_dirs]
        self.configs = [to_dict(ci) for ci in configs]
        self.is_main = True
        self.postfix: dict[str, str] = {}
        self.device = pick_device(c.device)
        self.data = [build_data(ci).to(self.device) for ci in configs]
        self.models = []
        for ci, d in zip(configs, self.data, strict=True):
            seed_everything(ci.seed)  # a seed's initialization is its own run's
            self.models.append(build_model(ci, d.vocab_size).to(self.device))
        self.stack_models()
        self.shuffles = [torch.Generator().manual_seed(ci.seed) for ci in configs]
        self.single = len(configs) == 1
        self.landscapes = landscape_series(self.models[0], self.data[0], c) if self.single else None
        self.timers = {"landscape": 0.0, "render": 0.0}
        self.grad_norms = [math.nan] * len(configs)
        self.attention_epochs: list[int] = []  # mean attention maps so far (K = 1)
        self.attention_history: list[np.ndarray] = []

    def stack_models(self) -> None:
        """The trained module over ``self.models``' current weights, and its optimizer."""
        if len(self.models) == 1:
            self.model = self.models[0]
        else:
            self.model = StackedModels(self.models).to(self.device)
        per_epoch = steps_per_epoch(self.c, len(self.data[0].train_targets))
        self.optimizer, self.scheduler = build_optimizer(self.model, self.c, per_epoch)
        self.grad_filter = None
        if self.c.grad_filter == "ema":
            params = self.model.parameters()
            self.grad_filter = EmaGradFilter(
                params, self.c.grad_filter_alpha, self.c.grad_filter_lambda
            )

    def seed_model(self, k: int) -> Transformer:
        if self.single:
            return self.model
        with torch.random.fork_rng(devices=[]):  # a throwaway init must not move dropout's RNG
            fresh = build_model(self.c, self.data[k].vocab_size).to(self.device)
        return self.model.unstack(k, fresh)

    def state_dicts(self) -> list[dict[str, Any]]:
        optimizer, rng = self.optimizer.state_dict(), rng_state()
        return [
            {
                "model": self.seed_model(k).state_dict(),
                "optimizer": optimizer
                if self.single
                else self.model.seed_optimizer_state(optimizer, k, self.optimized_params()),
                "scheduler": self.scheduler.state_dict(),
                "shuffle": self.shuffles[k].get_state(),
                "rng": rng,
                "landscapes": self.landscapes.state() if self.single else NO_LANDSCAPES,
                "attention": {
                    "epochs": list(self.attention_epochs),
                    "maps": [torch.from_numpy(m) for m in self.attention_history],
                },
                "grad_filter": self.seed_filter_state(k),
                "timers": dict(self.timers),
            }
            for k in range(len(self.folders))
        ]

    def optimized_params(self) -> list[torch.nn.Parameter]:
        """The parameters in the order the optimizer numbers its state."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def seed_filter_state(self, k: int) -> dict[str, Any] | None:
        """Seed k's gradient-filter EMA, laid out as in its own run (a stack stores some
        weights transposed: the optimizer-state helpers know how to split them)."""
        if self.grad_filter is None:
            return None
        state = self.grad_filter.state_dict()
        if not self.single:
            as_optimizer = {"state": {i: {"ema": t} for i, t in state["ema"].items()}}
            split = self.model.seed_optimizer_state(as_optimizer | {"param_groups": []}, k)
            state["ema"] = {i: entry["ema"] for i, entry in split["state"].items()}
        return state

    def load_filter_states(self, states: list[dict[str, Any]]) -> None:
        state = dict(states[0])
        if not self.single:
            as_optimizer = [
                {"state": {i: {"ema": t} for i, t in s["ema"].items()}, "param_groups": []}
                for s in states
            ]
            joined = self.model.stacked_optimizer_state(as_optimizer)
            state["ema"] = {i: entry["ema"] for i, entry in joined["state"].items()}
        self.grad_filter.load_state_dict(state)

    def load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        for model, state in zip(self.models, states, strict=True):
            model.load_state_dict(state["model"])
        self.stack_models()  # a stack copies its models' weights
        optimizer = states[0]["optimizer"]
        if not self.single:
            optimizer = self.model.stacked_optimizer_state(
                [s["optimizer"] for s in states], self.optimized_params()
            )
        self.optimizer.load_state_dict(optimizer)
        self.scheduler.load_state_dict(states[0]["scheduler"])
        for shuffle, state in zip(self.shuffles, states, strict=True):
            shuffle.set_state(state["shuffle"])
        set_rng_state(states[0]["rng"])  # global: dropout masks
        if self.single:
            self.landscapes.load(states[0]["landscapes"])
        if self.grad_filter is not None:
            self.load_filter_states([s["grad_filter"] for s in states])
        self.attention_epochs = list(states[0]["attention"]["epochs"])
        self.attention_history = [m.numpy() for m in states[0]["attention"]["maps"]]
        self.timers = dict(states[0]["timers"])

    def train_unit(self, counters: Counters) -> list[float]:
        steps, self.grad_norms = train_epoch(
            self.model,
            self.optimizer,
            self.scheduler,
            self.data,
            self.c,
            self.shuffles,
            self.grad_filter,
        )
        counters.step += steps
        return self.grad_norms

    def due(self, epoch: int, every: int) -> bool:
        return due(epoch, every, self.c.epochs)

    def monitor(self, counters: Counters, writers: list[SummaryWriter]) -> None:
        epoch, c = counters.unit, self.c
        if self.due(epoch, c.eval_every):
            rows = evaluate(self.model, self.data)
            for folder, writer, row, grad_norm in zip(
                self.folders, writers, rows, self.grad_norms, strict=True
            ):
                row = {"epoch": epoch, "step": counters.step, **row, "grad_norm": grad_norm}
                row |= {"lr": self.optimizer.param_groups[0]["lr"], "time_s": counters.wall_s}
                folder.append_metrics(row)
                log_scalars(writer, row)
            self.postfix = {
                "train": f"{np.mean([r['train_acc'] for r in rows]):.3f}",
                "test": f"{np.mean([r['test_acc'] for r in rows]):.3f}",
            }
        if self.single:
            self.monitor_one_model(epoch, writers[0])

    def monitor_one_model(self, epoch: int, writer: SummaryWriter) -> None:
        c, folder, model = self.c, self.folders[0], self.model
        if self.due(epoch, c.landscape_every):
            grid = self.timed("landscape", self.landscapes.compute, model, epoch)
            writer.add_scalar("landscape/center_loss", grid[len(grid) // 2, len(grid) // 2], epoch)
            writer.add_scalar("landscape/mean_loss", grid.mean(), epoch)
            if self.due(epoch, c.landscape_plot_every):
                self.timed("render", render_landscape, writer, folder, self.landscapes, epoch)
            if self.due(epoch, c.checkpoint_every):
                save_landscapes(folder, self.landscapes)
        if self.due(epoch, c.histogram_every):
            self.timed("render", log_histograms, writer, model, epoch)
        if self.due(epoch, c.attention_every):
            mean = self.timed("render", render_attention, writer, folder, model, c, epoch)
            self.attention_epochs.append(epoch)
            self.attention_history.append(mean)
        if self.due(epoch, c.snapshot_every):
            save_snapshot(folder, model, epoch)

    def timed(self, key: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.timers[key] += time.perf_counter() - started
        return result

    def render(self, counters: Counters, writers: list[SummaryWriter]) -> None:
        """End-of-run figures per seed: curves with spikes and the stable epoch; for a
        single run also the landscapes on one scale and the attention's evolution."""
        for k, (folder, writer) in enumerate(zip(self.folders, writers, strict=True)):
            c, rows = self.seed_configs[k], folder.read_metrics()
            if not self.single:
                render_attention(writer, folder, self.seed_model(k), c, counters.unit)
            render_curves(folder, c, rows)
        if self.single:
            folder, c, rows = self.folders[0], self.c, self.folders[0].read_metrics()
            if self.landscapes.losses:
                save_landscapes(folder, self.landscapes)
                render_landscapes_on_one_scale(folder, c, self.landscapes, rows)
            if len(self.attention_history) > 1:
                fig = plot_attention_evolution(
                    self.attention_history, self.attention_epochs, title=run_title(c)
                )
                fig.savefig(folder.plots_dir / "attention_evolution.png", dpi=110)

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        wall = max(counters.wall_s, 1e-9)
        summaries = []
        for folder in self.folders:
            rows = folder.read_metrics()
            memorized = first_epoch(rows, "train_acc", MEMORIZED)
            generalized = first_epoch(rows, "test_acc", GENERALIZED)
            stability = generalization_stability(rows, "test_acc", GENERALIZED)
            stable = next(
                (r for r in rows if r["epoch"] == stability["stable_generalized_epoch"]), None
            )
            summary = {
                "epochs_completed": counters.unit,
                "final": rows[-1] if rows else None,
                "memorized_epoch": memorized and memorized["epoch"],
                **stability,
                "stable_generalized_epoch_unmirrored": stable_unmirrored(rows),
                "memorized_time_s": memorized and memorized["time_s"],
                "generalized_time_s": generalized and generalized["time_s"],
                "stable_generalized_time_s": stable and stable["time_s"],
                "wall_time_s": counters.wall_s,
                "landscape_time_s": self.timers["landscape"],
                "landscape_share": self.timers["landscape"] / wall,
                "render_time_s": self.timers["render"],
                "render_share": self.timers["render"] / wall,
                "num_parameters": self.models[0].num_parameters(),
            }
            if not self.single:
                summary["batched_seeds"] = len(self.folders)
            summaries.append(summary)
        return summaries

    def agree(self, flag: bool) -> bool:
        return flag


def save_snapshot(run: RunFolder, model: Transformer, epoch: int) -> None:
    """The parameters at ``epoch``, for analyses of the whole path (sharpness, Fourier
    measures, trajectory PCA in ``gptlab.experiments.grokking.mechanism``). A resumed run
    rewrites the snapshots after its checkpoint with the same numbers."""
    state = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    path = run.path / "snapshots" / f"epoch_{epoch:06d}.pt"
    save_tensors(path, state)


def render_landscape(writer, run: RunFolder, landscapes: LandscapeSeries, epoch: int) -> None:
    """The newest surface, on its own scale (the run's scale is known only at its end)."""
    fig = plot_landscape(
        landscapes.coords, landscapes.losses[-1], title=f"loss landscape, epoch {epoch}"
    )
    path = run.plots_subdir("landscape") / f"epoch_{epoch:06d}.png"
    save_and_log(fig, path, writer, "landscape", epoch)


def render_landscapes_on_one_scale(
    run: RunFolder, c: GrokConfig, landscapes: LandscapeSeries, rows: list[dict[str, Any]]
) -> None:
    """At the end: every drawn surface again on the run's own loss range, so that the
    PNGs compare, and the evolution panels titled with that epoch's accuracies (a panel
    inside a loss spike says so)."""
    losses = np.stack(landscapes.losses)
    vmin, vmax = loss_range(losses)
    titles = [epoch_title(e, rows) for e in landscapes.epochs]
    for epoch, grid, title in zip(landscapes.epochs, losses, titles, strict=True):
        if due(epoch, c.landscape_plot_every, c.epochs):
            fig = plot_landscape(landscapes.coords, grid, title=title, vmin=vmin, vmax=vmax)
            fig.savefig(run.plots_subdir("landscape") / f"epoch_{epoch:06d}.png", dpi=100)
    fig = plot_landscape_evolution(
        landscapes.coords, losses, landscapes.epochs, title=run_title(c), titles=titles
    )
    fig.savefig(run.plots_dir / "landscape_evolution.png", dpi=110)


def epoch_title(epoch: int, rows: list[dict[str, Any]]) -> str:
    """ "epoch E" and the train/test accuracy of the evaluation at (or just before) E."""
    row = next((r for r in reversed(rows) if r["epoch"] <= epoch), None)
    if row is None:
        return f"epoch {epoch}"
    return f"epoch {epoch}\ntrain {row['train_acc']:.2f}, test {row['test_acc']:.2f}"


def render_attention(
    writer, run: RunFolder, model: Transformer, c: GrokConfig, epoch: int
) -> np.ndarray:
    """The attention maps at ``epoch``, kept per epoch; returns the mean map."""
    mean, on_x = attention_maps(model, c.p, c.operation)
    fig = plot_attention(mean, on_x, title=f"attention per head, epoch {epoch}")
    path = run.plots_subdir("attention") / f"epoch_{epoch:06d}.png"
    save_and_log(fig, path, writer, "attention", epoch)
    return mean


def render_curves(folder: RunFolder, c: GrokConfig, rows: list[dict[str, Any]]) -> None:
    """Accuracy and loss curves, memorization, first and stable generalization and the
    training-loss spikes marked."""
    memorized = first_epoch(rows, "train_acc", MEMORIZED)
    stability = generalization_stability(rows, "test_acc", GENERALIZED)
    fig = plot_curves(
        rows,
        memorized and memorized["epoch"],
        stability["generalized_epoch"],
        title=run_title(c),
        spike_epochs=stability["spike_epochs"],
        stable_epoch=stability["stable_generalized_epoch"],
    )
    fig.savefig(folder.plots_dir / "curves.png", dpi=120)


def run_title(c: GrokConfig) -> str:
    size = f"{c.train_fraction:.0%} of pairs" if c.train_fraction else f"{c.train_size} pairs"
    decay = f"L2 {c.weight_decay:g}" if c.optimizer == "adam" else f"wd {c.weight_decay:g}"
    title = f"{c.operation} mod {c.p}, {size}, {decay}, lr {c.lr:g}, seed {c.seed}"
    if c.grad_filter != "none":  # a filtered run must not pass for an unfiltered one
        title += f", {c.grad_filter} filter (lambda {c.grad_filter_lambda:g})"
    return title


def run_grok(
    config: GrokConfig, run_dir: Path | str, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or continue) the run in ``run_dir``; return its summary."""
    return run_experiment(GrokRun([config], [Path(run_dir)]), resume, progress)[0]


def run_seeds(
    config: GrokConfig,
    count: int,
    out_dir: Path | str,
    batched: bool,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``count`` seeds of ``config`` into ``out_dir/seed-*``, as one stacked model
    (``batched``) or one after another; return their summaries."""
    configs = seed_configs(config, count)
    run_dirs = [Path(out_dir) / f"seed-{c.seed}" for c in configs]
    if batched:
        return run_experiment(GrokRun(configs, run_dirs), resume, progress)
    return [
        run_experiment(GrokRun([c], [d]), resume and (d / "config.json").exists(), progress)[0]
        for c, d in zip(configs, run_dirs, strict=True)
    ]


# The `grok` preset's recipe (what its measured p 23 table in docs/grokking.md varied only
# the data of) and the fewest training pairs with which it generalized there in 5/5 seeds.
RECIPE_FIELDS = (
    "d_model",
    "n_heads",
    "n_layers",
    "d_ff",
    "dropout",
    "layer_norm",
    "init",
    "init_scale",
    "optimizer",
    "lr",
    "weight_decay",
    "batch_size",
    "scheduler",
)
GROK_RECIPE_MIN_PAIRS = 370  # p 23: 0/5 seeds at 40-55% of the pairs, 2/5 at 60%, 5/5 at 70%


def expected_failure_note(c: GrokConfig) -> str | None:
    """A one-line warning for a run set up where our measurements say it will not
    generalize, naming the setting that does; None where we know of no such measurement."""
    same_recipe = all(getattr(c, f) == getattr(PRESETS["grok"], f) for f in RECIPE_FIELDS)
    n_train = resolve_train_size(example_count(c), c.train_size, c.train_fraction)
    if not same_recipe or n_train >= GROK_RECIPE_MIN_PAIRS:
        return None
    enough = math.ceil(GROK_RECIPE_MIN_PAIRS / example_count(c) * 100) / 100
    advice = f"--train-fraction {enough:g}" if enough < 1 else "a larger --p"
    return (
        f"note: {n_train} training pairs; with this recipe runs with fewer than "
        f"{GROK_RECIPE_MIN_PAIRS} did not generalize stably here (p 23: 0/5 seeds at 40-55% "
        f"of the pairs, 5/5 at 70%; docs/grokking.md): try {advice}"
    )


def main(argv: list[str]) -> int:
    seeds = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seeds.add_argument("--seeds", type=int, default=1, help="K seeds of the config")
    seeds.add_argument("--batched", action="store_true", help="the K seeds as one model")
    multi, rest = seeds.parse_known_args(argv)
    request = parse_run_request(
        rest,
        "gptlab grok",
        GrokConfig,
        PRESETS,
        default_preset="grok",
        description="Train a transformer on modular arithmetic and watch it grok.\n"
        "How long, on a 2-core CPU (2026-12-01 and -02): --preset grok about 1 min; --preset fast\n"
        "about 30 s; --preset nanda about 36 min; --preset seed about 16 min\n"
        "(see docs/grokking.md).\n\n"
        "  --seeds K        K seeds (seed+i, split_seed+i), one folder each under --out\n"
        "  --batched        train the K seeds as one model with a leading seed axis",
    )
    note = None if request.resume else expected_failure_note(request.config)
    if note:
        print(note, file=sys.stderr)
    if multi.seeds != 1 or multi.batched or (request.run_dir / "seeds.json").exists():
        return main_seeds(request, multi.seeds, multi.batched)
    summary = run_grok(request.config, request.run_dir, resume=request.resume)
    print(summary_line(request.run_dir, summary))
    return 0


def main_seeds(request: RunRequest[GrokConfig], count: int, batched: bool) -> int:
    """``gptlab grok --seeds K [--batched]``; the group folder keeps the base config and
    ``seeds.json``, so ``--resume OUT`` needs no other option."""
    group = RunFolder(request.run_dir)
    seeds_file = group.path / "seeds.json"
    if request.resume:
        count, batched = read_seeds_file(seeds_file)
    else:
        group.check_new()
        for c in seed_configs(request.config, count):  # every check before anything is written
            check_config(c, seeds=count if batched else 1)
        group.create()
        group.write_config(to_dict(request.config))
        write_json(seeds_file, {"seeds": count, "batched": batched})
    started = time.perf_counter()
    try:
        summaries = run_seeds(request.config, count, group.path, batched, request.resume)
    except RunEnded as ended:  # one seed's hint would resume that seed alone
        if ended.exit_code != EXIT_STOPPED:
            raise
        resume = shlex.join(["gptlab", "grok", "--resume", str(group.path)])
        raise RunEnded(
            f"{str(ended).split(';')[0]}; resume every seed with: {resume}",
            ended.exit_code,
            ended.summaries,
        ) from None
    for config, summary in zip(seed_configs(request.config, count), summaries, strict=True):
        print(summary_line(group.path / f"seed-{config.seed}", summary))
    print(
        f"{count} seeds ({'batched' if batched else 'one by one'}): "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def read_seeds_file(path: Path) -> tuple[int, bool]:
    """(count, batched) of a multi-seed group folder, checked."""
    if not path.exists():
        raise ValueError(f"{path.parent} is not a multi-seed run folder: no seeds.json")
    stored = read_json_object(path, "a seed count and whether batched")
    count, batched = stored.get("seeds"), stored.get("batched")
    if set(stored) != {"seeds", "batched"} or not isinstance(batched, bool):
        raise ValueError(f"{path} must hold exactly {{seeds: integer, batched: true/false}}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"{path}: seeds = {count!r} must be an integer >= 1")
    return count, batched


def stable_unmirrored(rows: list[dict[str, Any]]) -> int | None:
    """The stable epoch on test pairs whose mirror (y, x) is not in training: they cannot be
    answered by memorizing a symmetric operation. None without such pairs."""
    if not rows or rows[0]["test_acc_unmirrored"] is None:
        return None
    stability = generalization_stability(rows, "test_acc_unmirrored", GENERALIZED)
    return stability["stable_generalized_epoch"]


def summary_line(run_dir: Path, summary: dict[str, Any]) -> str:
    dips = ""
    if summary["generalized_epoch"] is not None:
        share = summary["share_at_threshold_after_generalizing"]
        dips = (
            f" ({summary['dips_after_generalizing']} dips after, worst "
            f"{summary['worst_dip']:.2f}; {share:.0%} of evaluations after at >= {GENERALIZED})"
        )
    return (
        f"{run_dir}: memorized at epoch {summary['memorized_epoch']}, "
        f"generalized at {summary['generalized_epoch']}{dips}, "
        f"stable from {summary['stable_generalized_epoch']}, "
        f"final test acc {summary['final']['test_acc']:.4f}, {summary['wall_time_s']:.0f} s"
    )
