"""``gptlab grok``: train a small transformer on modular arithmetic and watch it grok.

The run composes the pieces: a seeded split of all pairs (``gptlab.data.modular``), the
shared :class:`Transformer`, AdamW + CosineAnnealingLR, an evaluation of the full train and
test sets every ``eval_every`` epochs, a loss landscape every ``landscape_every`` epochs,
TensorBoard, PNG plots, and a checkpoint from which ``--resume`` continues exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

from gptlab.analysis.landscape import loss_surface, parameters_of, random_directions
from gptlab.config import check_finite, to_dict
from gptlab.data.modular import ModularSplit, all_pairs, split_pairs
from gptlab.experiments.options import RunRequest, parse_run_request
from gptlab.nn.stacked import StackedModels
from gptlab.nn.transformer import Transformer, TransformerConfig
from gptlab.plots.grokking import plot_attention, plot_curves
from gptlab.plots.landscape import plot_landscape, plot_landscape_evolution
from gptlab.plots.output import save_and_log
from gptlab.train.lifecycle import Counters, run_experiment
from gptlab.train.optim import fused_for
from gptlab.train.reproducibility import pick_device, rng_state, seed_everything, set_rng_state
from gptlab.train.run_folder import RunFolder, atomic_write, read_json, write_json

MEMORIZED = GENERALIZED = 0.99  # accuracy thresholds for memorized_epoch / generalized_epoch
SCHEDULERS = ("cosine", "constant")
T_MAX_UNITS = ("epochs", "steps")


@dataclass
class GrokConfig:
    # data
    p: int = 97
    operation: str = "add"  # add, sub, mul, div, square_sum, quad, cube_xy
    train_size: int = 500  # number of training pairs; ignored when train_fraction > 0
    train_fraction: float = 0.0  # share of all pairs for training; 0 = use train_size
    keep_mirrors: bool = False  # split whole {(x, y), (y, x)} groups: no mirror leaks into test
    split_seed: int = 0
    # model
    seed: int = 0  # initialization, dropout and batch order
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 1
    d_ff: int = 1024
    dropout: float = 0.05
    layer_norm: bool = True
    # optimization: AdamW + a learning-rate schedule
    lr: float = 3e-3
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 16  # 0 = full batch (one step per epoch)
    epochs: int = 10000
    scheduler: str = "cosine"  # cosine (CosineAnnealingLR) or constant
    t_max: int = 10000  # CosineAnnealingLR period, counted in t_max_unit
    t_max_unit: str = "epochs"  # epochs or steps
    eta_min: float = 0.0
    # monitoring (every N epochs; 0 = never)
    eval_every: int = 10
    landscape_every: int = 10
    landscape_span: float = 1.0  # grid over [-span, span]^2 in filter-normalized units
    landscape_resolution: int = 11
    landscape_examples: int = 128  # fixed random subset of training pairs for the surface
    landscape_seed: int = 0  # the two random directions
    landscape_plot_every: int = 1000  # render PNG + TensorBoard image (numbers: every time)
    histogram_every: int = 100
    attention_every: int = 1000
    checkpoint_every: int = 100
    snapshot_every: int = 0  # model parameters under snapshots/ (gptlab grok-mechanism)
    device: str = "auto"  # auto, cpu, cuda, cuda:N, mps


PRESETS = {
    # Exactly the seed: p 97, add, 500 training pairs, 1 layer, 4 heads, d_model 64, d_ff 1024,
    # dropout 0.05, LayerNorm, AdamW lr 3e-3 wd 1e-3, batch 16, cosine T_max 10000 epochs.
    "seed": GrokConfig(),
    # Groks reliably in a few CPU minutes: p 47, 40% of the pairs, full batch, weight decay 1.0
    # (found empirically here; without LayerNorm the same model had not memorized by 1500).
    "grok": GrokConfig(
        p=47,
        train_size=0,
        train_fraction=0.4,
        d_model=64,
        d_ff=256,
        dropout=0.0,
        lr=3e-3,
        weight_decay=1.0,
        betas=(0.9, 0.98),
        batch_size=0,
        epochs=2000,
        scheduler="constant",
        eval_every=10,
        landscape_every=50,
        landscape_plot_every=500,
        histogram_every=100,
        attention_every=500,
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


def check_config(c: GrokConfig) -> None:
    """Raise ValueError naming the bad value and what is allowed; data and model sizes are
    checked where they are built (``split_pairs``, ``TransformerConfig``)."""
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


def build_data(c: GrokConfig) -> ModularSplit:
    return split_pairs(
        c.p, c.operation, c.train_size, c.train_fraction, c.split_seed, c.keep_mirrors
    )


def build_model(c: GrokConfig, vocab_size: int) -> Transformer:
    return Transformer(
        TransformerConfig(
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
    )


def build_optimizer(model: torch.nn.Module, c: GrokConfig) -> tuple[torch.optim.AdamW, Any]:
    """AdamW on every parameter (the seed decays all of them) and its schedule."""
    device_type = next(model.parameters()).device.type
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=c.lr,
        betas=c.betas,
        weight_decay=c.weight_decay,
        fused=fused_for(device_type),
    )
    return optimizer, build_scheduler(optimizer, c)


def build_scheduler(optimizer: torch.optim.Optimizer, c: GrokConfig):
    if c.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, c.t_max, c.eta_min)


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
    scheduler,
    data: list[ModularSplit],
    c: GrokConfig,
    shuffles: list[torch.Generator],
) -> tuple[int, list[float]]:
    """One pass over every seed's training set, each seed in its own random order; returns
    (steps, mean gradient norm per seed). The schedule steps per optimizer step when T_max
    counts steps. Seeds are independent: the summed loss gives each its own gradient, and
    AdamW is elementwise."""
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
        grads = [p.grad for p in model.parameters()]
        grad_norms.append(per_seed_norm(grads) if len(data) > 1 else clip_norm(model))
        optimizer.step()
        if c.t_max_unit == "steps":
            scheduler.step()
    if c.t_max_unit == "epochs":
        scheduler.step()
    return len(grad_norms), torch.stack(grad_norms).reshape(-1, len(data)).mean(0).tolist()


def summed_seed_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over seeds of each seed's mean cross-entropy: (K, b, vocab), (K, b) -> ().
    Both spellings compute the same; each keeps the float rounding its path always had,
    because when a run groks is chaotic in the last bits (hundreds of epochs apart)."""
    if y.shape[0] == 1:
        return F.cross_entropy(logits[0], y[0])
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum()


def clip_norm(model: torch.nn.Module) -> torch.Tensor:
    """One model's total gradient norm (clipping at infinity changes nothing)."""
    return torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf).reshape(1)


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
    weight_norms = (
        per_seed_norm(params) if len(data) > 1 else per_seed_norm([p.unsqueeze(0) for p in params])
    )
    for k, (row, d) in enumerate(zip(rows, data, strict=True)):
        unmirrored = hit[k][d.unmirrored]  # hit holds the test split, evaluated last
        row["test_acc_unmirrored"] = unmirrored.float().mean().item() if len(unmirrored) else None
        row["weight_norm"] = weight_norms[k].item()
    model.train(was_training)
    return rows


@torch.no_grad()
def attention_maps(model: Transformer, p: int, operation: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean attention over all pairs, (L, nh, 3, 3), and the weight the ``=`` token puts on
    ``x`` for every pair, (L, nh, p, p) indexed [x, y] (NaN where a pair does not exist)."""
    was_training = model.training
    model.eval()
    inputs, _ = all_pairs(p, operation)
    trace = model.trace(inputs.to(next(model.parameters()).device))
    model.train(was_training)
    attention = torch.stack(trace.attention, dim=1).cpu()  # (B, L, nh, T, T)
    on_x = torch.full((*attention.shape[1:3], p, p), float("nan"))
    on_x[:, :, inputs[:, 0], inputs[:, 1]] = attention[:, :, :, 2, 0].permute(1, 2, 0)
    return attention.mean(0).numpy(), on_x.numpy()


def first_epoch(rows: list[dict[str, Any]], key: str, threshold: float) -> dict | None:
    return next((r for r in rows if r[key] >= threshold), None)


class Landscapes:
    """Loss surfaces of one run on one fixed plane: numbers at every landscape epoch."""

    def __init__(self, model: Transformer, data: ModularSplit, c: GrokConfig) -> None:
        self.c = c
        subset = torch.randperm(
            len(data.train_targets), generator=torch.Generator().manual_seed(c.landscape_seed)
        )
        subset = subset[: c.landscape_examples].to(data.train_targets.device)
        self.inputs, self.targets = data.train_inputs[subset], data.train_targets[subset]
        self.directions = random_directions(parameters_of(model), c.landscape_seed)
        self.epochs: list[int] = []
        self.losses: list[np.ndarray] = []
        self.coords = np.linspace(-c.landscape_span, c.landscape_span, c.landscape_resolution)

    def compute(self, model: Transformer, epoch: int) -> np.ndarray:
        _, grid = loss_surface(
            model,
            parameters_of(model),
            self.directions,
            self.inputs,
            self.targets,
            self.c.landscape_span,
            self.c.landscape_resolution,
        )
        self.epochs.append(epoch)
        self.losses.append(grid)
        return grid

    def state(self) -> dict[str, Any]:
        """Tensors and plain values, for a ``weights_only`` checkpoint."""
        return {"epochs": list(self.epochs), "losses": [torch.from_numpy(g) for g in self.losses]}

    def load(self, state: dict[str, Any]) -> None:
        self.epochs = list(state["epochs"])
        self.losses = [g.numpy() for g in state["losses"]]

    def save(self, path: Path) -> None:
        n = len(self.coords)
        losses = np.stack(self.losses) if self.losses else np.zeros((0, n, n))
        arrays = {"epochs": np.array(self.epochs), "coords": self.coords, "losses": losses}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        atomic_write(path, write)


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


class GrokRun:
    """K >= 1 seeds of one configuration trained together, each writing its own folder.

    K = 1 trains the plain :class:`Transformer`; K > 1 a :class:`StackedModels` whose
    weights carry a leading seed axis, which gives the same numbers as K separate runs (up
    to float rounding; dropout masks are drawn differently). Every folder's checkpoint is
    that seed's own, so any seed of a batched run can be continued alone. Landscapes,
    histograms, snapshots and attention during training need one model at a time: they
    run for K = 1 only; a batched run draws each seed's attention at the end.
    """

    command, unit = "grok", "epoch"

    def __init__(self, configs: list[GrokConfig], run_dirs: list[Path]) -> None:
        for c in configs:
            check_config(c)
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
        self.landscapes = Landscapes(self.models[0], self.data[0], c) if self.single else None
        self.timers = {"landscape": 0.0, "render": 0.0}
        self.grad_norms = [math.nan] * len(configs)

    def stack_models(self) -> None:
        """The trained module over ``self.models``' current weights, and its optimizer."""
        if len(self.models) == 1:
            self.model = self.models[0]
        else:
            self.model = StackedModels(self.models).to(self.device)
        self.optimizer, self.scheduler = build_optimizer(self.model, self.c)

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
                else self.model.seed_optimizer_state(optimizer, k),
                "scheduler": self.scheduler.state_dict(),
                "shuffle": self.shuffles[k].get_state(),
                "rng": rng,
                "landscapes": self.landscapes.state() if self.single else NO_LANDSCAPES,
                "timers": dict(self.timers),
            }
            for k in range(len(self.folders))
        ]

    def load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        for model, state in zip(self.models, states, strict=True):
            model.load_state_dict(state["model"])
        self.stack_models()  # a stack copies its models' weights
        optimizer = states[0]["optimizer"]
        if not self.single:
            optimizer = self.model.stacked_optimizer_state([s["optimizer"] for s in states])
        self.optimizer.load_state_dict(optimizer)
        self.scheduler.load_state_dict(states[0]["scheduler"])
        for shuffle, state in zip(self.shuffles, states, strict=True):
            shuffle.set_state(state["shuffle"])
        set_rng_state(states[0]["rng"])  # global: dropout masks
        if self.single:
            self.landscapes.load(states[0]["landscapes"])
        self.timers = dict(states[0]["timers"])

    def train_unit(self, counters: Counters) -> list[float]:
        steps, self.grad_norms = train_epoch(
            self.model, self.optimizer, self.scheduler, self.data, self.c, self.shuffles
        )
        counters.step += steps
        return self.grad_norms

    def due(self, epoch: int, every: int) -> bool:
        return every > 0 and epoch > 0 and (epoch % every == 0 or epoch == self.c.epochs)

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
                self.landscapes.save(folder.path / "landscapes.npz")
        if self.due(epoch, c.histogram_every):
            self.timed("render", log_histograms, writer, model, epoch)
        if self.due(epoch, c.attention_every):
            self.timed("render", render_attention, writer, folder, model, c, epoch)
        if self.due(epoch, c.snapshot_every):
            save_snapshot(folder, model, epoch)

    def timed(self, key: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.timers[key] += time.perf_counter() - started
        return result

    def render(self, counters: Counters, writers: list[SummaryWriter]) -> None:
        if self.single:
            if self.landscapes.losses:
                self.landscapes.save(self.folders[0].path / "landscapes.npz")
        for k, (folder, writer) in enumerate(zip(self.folders, writers, strict=True)):
            model, c = self.seed_model(k), self.seed_configs[k]
            if not self.single:
                render_attention(writer, folder, model, c, counters.unit)
            render_curves(folder, c, self.landscapes if self.single else None)

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        wall = max(counters.wall_s, 1e-9)
        summaries = []
        for folder in self.folders:
            rows = folder.read_metrics()
            memorized = first_epoch(rows, "train_acc", MEMORIZED)
            generalized = first_epoch(rows, "test_acc", GENERALIZED)
            summary = {
                "epochs_completed": counters.unit,
                "final": rows[-1] if rows else None,
                "memorized_epoch": memorized and memorized["epoch"],
                "generalized_epoch": generalized and generalized["epoch"],
                "memorized_time_s": memorized and memorized["time_s"],
                "generalized_time_s": generalized and generalized["time_s"],
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
    measures, trajectory PCA in ``gptlab.experiments.grok_mechanism``). A resumed run
    rewrites the snapshots after its checkpoint with the same numbers."""
    state = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    path = run.path / "snapshots" / f"epoch_{epoch:06d}.pt"
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def render_landscape(writer, run: RunFolder, landscapes: Landscapes, epoch: int) -> None:
    fig = plot_landscape(
        landscapes.coords, landscapes.losses[-1], title=f"loss landscape, epoch {epoch}"
    )
    folder = run.plots_dir / "landscape"
    folder.mkdir(exist_ok=True)
    save_and_log(fig, folder / f"epoch_{epoch:06d}.png", writer, "landscape", epoch)


def render_attention(writer, run: RunFolder, model: Transformer, c: GrokConfig, epoch: int) -> None:
    mean, on_x = attention_maps(model, c.p, c.operation)
    fig = plot_attention(mean, on_x, title=f"attention per head, epoch {epoch}")
    save_and_log(fig, run.plots_dir / "attention.png", writer, "attention", epoch)


def render_curves(folder: RunFolder, c: GrokConfig, landscapes: Landscapes | None) -> None:
    """The end-of-run plots: curves, and the landscape's evolution where there is one."""
    rows = folder.read_metrics()
    memorized = first_epoch(rows, "train_acc", MEMORIZED)
    generalized = first_epoch(rows, "test_acc", GENERALIZED)
    fig = plot_curves(
        rows, memorized and memorized["epoch"], generalized and generalized["epoch"],
        title=run_title(c),
    )  # fmt: skip
    fig.savefig(folder.plots_dir / "curves.png", dpi=120)
    if landscapes is not None and landscapes.losses:
        fig = plot_landscape_evolution(
            landscapes.coords, np.stack(landscapes.losses), landscapes.epochs, title=run_title(c)
        )
        fig.savefig(folder.plots_dir / "landscape_evolution.png", dpi=110)


def run_title(c: GrokConfig) -> str:
    size = f"{c.train_fraction:.0%} of pairs" if c.train_fraction else f"{c.train_size} pairs"
    return f"{c.operation} mod {c.p}, {size}, wd {c.weight_decay:g}, lr {c.lr:g}, seed {c.seed}"


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
        run_experiment(GrokRun([c], [d]), resume and d.exists(), progress)[0]
        for c, d in zip(configs, run_dirs, strict=True)
    ]


def main(argv: list[str]) -> int:
    seeds = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    seeds.add_argument("--seeds", type=int, default=1)
    seeds.add_argument("--batched", action="store_true")
    multi, rest = seeds.parse_known_args(argv)
    request = parse_run_request(
        rest,
        "gptlab grok",
        GrokConfig,
        PRESETS,
        default_preset="grok",
        description="Train a transformer on modular arithmetic and watch it grok.\n\n"
        "  --seeds K        K seeds (seed+i, split_seed+i), one folder each under --out\n"
        "  --batched        train the K seeds as one model with a leading seed axis",
    )
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
        if not seeds_file.exists():
            raise ValueError(f"{group.path} is not a multi-seed run folder: no seeds.json")
        stored = read_json(seeds_file)
        count, batched = stored["seeds"], stored["batched"]
    else:
        for c in seed_configs(request.config, count):  # every check before anything is written
            check_config(c)
        group.create()
        group.write_config(to_dict(request.config))
        write_json(seeds_file, {"seeds": count, "batched": batched})
    started = time.perf_counter()
    summaries = run_seeds(request.config, count, group.path, batched, request.resume)
    for config, summary in zip(seed_configs(request.config, count), summaries, strict=True):
        print(summary_line(group.path / f"seed-{config.seed}", summary))
    print(
        f"{count} seeds ({'batched' if batched else 'one by one'}): "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def summary_line(run_dir: Path, summary: dict[str, Any]) -> str:
    return (
        f"{run_dir}: memorized at epoch {summary['memorized_epoch']}, "
        f"generalized at epoch {summary['generalized_epoch']}, "
        f"final test acc {summary['final']['test_acc']:.4f}, {summary['wall_time_s']:.0f} s"
    )
