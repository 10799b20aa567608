"""``gptlab grok``: train a small transformer on modular arithmetic and watch it grok.

The run composes the pieces: a seeded split of all pairs (``gptlab.data.modular``), the
shared :class:`Transformer`, AdamW + CosineAnnealingLR, an evaluation of the full train and
test sets every ``eval_every`` epochs, a loss landscape every ``landscape_every`` epochs,
TensorBoard, PNG plots, and a checkpoint from which ``--resume`` continues exactly.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from gptlab.analysis.landscape import loss_surface, parameters_of, random_directions
from gptlab.config import to_dict
from gptlab.data.modular import ModularSplit, all_pairs, split_pairs
from gptlab.experiments.options import parse_run_request
from gptlab.nn.transformer import Transformer, TransformerConfig
from gptlab.plots.grokking import plot_attention, plot_curves
from gptlab.plots.landscape import plot_landscape, plot_landscape_evolution
from gptlab.plots.output import save_and_log
from gptlab.train.optim import fused_for
from gptlab.train.reproducibility import pick_device, rng_state, seed_everything, set_rng_state
from gptlab.train.run_folder import RunFolder, atomic_write

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


@torch.no_grad()
def evaluate(model: Transformer, data: ModularSplit, batch_size: int = 8192) -> dict[str, float]:
    """Loss and accuracy on the full train and test sets, the test accuracy on pairs whose
    mirror is not in training, and the weight norm. Add new per-evaluation metrics here."""
    was_training = model.training
    model.eval()
    metrics = {}
    for split, inputs, targets in (
        ("train", data.train_inputs, data.train_targets),
        ("test", data.test_inputs, data.test_targets),
    ):
        losses, correct = [], []
        for i in range(0, len(targets), batch_size):
            logits = model(inputs[i : i + batch_size], last_only=True)[0][:, -1]  # at "="
            y = targets[i : i + batch_size]
            losses.append(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct.append(logits.argmax(-1) == y)
        hits = torch.cat(correct)
        metrics[f"{split}_loss"] = (torch.stack(losses).sum() / len(targets)).item()
        metrics[f"{split}_acc"] = hits.float().mean().item()
    unmirrored = hits[data.unmirrored]  # hits of the test split (last in the loop)
    metrics["test_acc_unmirrored"] = unmirrored.float().mean().item() if len(unmirrored) else None
    metrics["weight_norm"] = torch.cat([p.flatten() for p in model.parameters()]).norm().item()
    model.train(was_training)
    return metrics


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
        return {"epochs": list(self.epochs), "losses": list(self.losses)}

    def load(self, state: dict[str, Any]) -> None:
        self.epochs, self.losses = list(state["epochs"]), list(state["losses"])

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


def train_epoch(
    model: Transformer,
    optimizer: torch.optim.Optimizer,
    scheduler,
    data: ModularSplit,
    c: GrokConfig,
    shuffle: torch.Generator,
) -> tuple[int, float]:
    """One pass over the training set in a fresh random order; returns (steps, mean grad
    norm). The schedule steps per optimizer step when T_max counts steps."""
    model.train()
    n = len(data.train_targets)
    batch_size = c.batch_size or n
    order = torch.randperm(n, generator=shuffle).to(data.train_targets.device)
    grad_norms = []
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        _, loss = model(data.train_inputs[idx], data.train_targets[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), math.inf))
        optimizer.step()
        if c.t_max_unit == "steps":
            scheduler.step()
    if c.t_max_unit == "epochs":
        scheduler.step()
    return len(grad_norms), torch.stack(grad_norms).mean().item()


def run_grok(
    config: GrokConfig, run_dir: Path | str, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or continue) the run in ``run_dir``; return its summary."""
    c = config
    check_config(c)
    device = pick_device(c.device)
    data = build_data(c).to(device)
    seed_everything(c.seed)
    model = build_model(c, data.vocab_size).to(device)
    optimizer, scheduler = build_optimizer(model, c)
    shuffle = torch.Generator().manual_seed(c.seed)
    landscapes = Landscapes(model, data, c)
    run = RunFolder(run_dir)
    epoch = step = 0
    times = {"wall": 0.0, "landscape": 0.0, "render": 0.0}  # seconds, summed over resumes
    if resume:
        state = run.load_checkpoint(device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        shuffle.set_state(state["shuffle"])
        set_rng_state(state["rng"])
        landscapes.load(state["landscapes"])
        epoch, step, times = state["epoch"], state["step"], state["times"]
        run.keep_metrics(lambda r: r["epoch"] <= epoch)  # rows after the checkpoint: redo
    else:
        run.create()
        run.write_config(to_dict(c))
    # purge_step drops TensorBoard events logged after the checkpoint by the interrupted run
    writer = SummaryWriter(run.tensorboard_dir, purge_step=epoch + 1 if resume else None)
    started = time.perf_counter() - times["wall"]

    def due(every: int) -> bool:
        return every > 0 and (epoch % every == 0 or epoch == c.epochs)

    def timed(key: str, fn, *args):
        t0 = time.perf_counter()
        result = fn(*args)
        times[key] += time.perf_counter() - t0
        return result

    bar = tqdm(total=c.epochs, initial=epoch, disable=not progress, desc="grok", unit="epoch")
    while epoch < c.epochs:
        steps, grad_norm = train_epoch(model, optimizer, scheduler, data, c, shuffle)
        epoch, step = epoch + 1, step + steps
        if due(c.eval_every):
            row = {"epoch": epoch, "step": step, **evaluate(model, data)}
            row |= {"grad_norm": grad_norm, "lr": optimizer.param_groups[0]["lr"]}
            row["time_s"] = time.perf_counter() - started
            run.append_metrics(row)
            log_scalars(writer, row)
            bar.set_postfix(train=f"{row['train_acc']:.3f}", test=f"{row['test_acc']:.3f}")
        if due(c.landscape_every):
            grid = timed("landscape", landscapes.compute, model, epoch)
            writer.add_scalar("landscape/center_loss", grid[len(grid) // 2, len(grid) // 2], epoch)
            writer.add_scalar("landscape/mean_loss", grid.mean(), epoch)
            if due(c.landscape_plot_every):
                timed("render", render_landscape, writer, run, landscapes, epoch)
        if due(c.histogram_every):
            timed("render", log_histograms, writer, model, epoch)
        if due(c.attention_every):
            timed("render", render_attention, writer, run, model, c, epoch)
        if due(c.snapshot_every):
            save_snapshot(run, model, epoch)
        if due(c.checkpoint_every):
            times["wall"] = time.perf_counter() - started
            save_checkpoint(
                run, model, optimizer, scheduler, shuffle, landscapes, epoch, step, times
            )
        bar.update(1)
    bar.close()
    times["wall"] = time.perf_counter() - started
    summary = finish(run, landscapes, c, epoch, model, times)
    writer.close()
    return summary


def save_checkpoint(run, model, optimizer, scheduler, shuffle, landscapes, epoch, step, times):
    run.save_checkpoint(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "shuffle": shuffle.get_state(),
            "rng": rng_state(),
            "landscapes": landscapes.state(),
            "epoch": epoch,
            "step": step,
            "times": dict(times),
        }
    )
    landscapes.save(run.path / "landscapes.npz")


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


def finish(run, landscapes, c, epoch, model, times) -> dict[str, Any]:
    """Summary and the end-of-run plots (curves, landscape evolution)."""
    rows = run.read_metrics()
    memorized = first_epoch(rows, "train_acc", MEMORIZED)
    generalized = first_epoch(rows, "test_acc", GENERALIZED)
    summary = {
        "epochs_completed": epoch,
        "final": rows[-1] if rows else None,
        "memorized_epoch": memorized and memorized["epoch"],
        "generalized_epoch": generalized and generalized["epoch"],
        "memorized_time_s": memorized and memorized["time_s"],
        "generalized_time_s": generalized and generalized["time_s"],
        "wall_time_s": times["wall"],
        "landscape_time_s": times["landscape"],
        "landscape_share": times["landscape"] / times["wall"],
        "render_time_s": times["render"],
        "render_share": times["render"] / times["wall"],
        "num_parameters": model.num_parameters(),
    }
    run.write_summary(summary)
    fig = plot_curves(
        rows, summary["memorized_epoch"], summary["generalized_epoch"], title=run_title(c)
    )
    fig.savefig(run.plots_dir / "curves.png", dpi=120)
    if landscapes.losses:
        fig = plot_landscape_evolution(
            landscapes.coords, np.stack(landscapes.losses), landscapes.epochs, title=run_title(c)
        )
        fig.savefig(run.plots_dir / "landscape_evolution.png", dpi=110)
    return summary


def run_title(c: GrokConfig) -> str:
    size = f"{c.train_fraction:.0%} of pairs" if c.train_fraction else f"{c.train_size} pairs"
    return f"{c.operation} mod {c.p}, {size}, wd {c.weight_decay:g}, lr {c.lr:g}, seed {c.seed}"


def main(argv: list[str]) -> int:
    seeds = argparse.ArgumentParser(add_help=False)
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
        from gptlab.experiments.grok_batched import main_seeds  # it imports this module

        return main_seeds(request, multi.seeds, multi.batched)
    summary = run_grok(request.config, request.run_dir, resume=request.resume)
    print(summary_line(request.run_dir, summary))
    return 0


def summary_line(run_dir: Path, summary: dict[str, Any]) -> str:
    return (
        f"{run_dir}: memorized at epoch {summary['memorized_epoch']}, "
        f"generalized at epoch {summary['generalized_epoch']}, "
        f"final test acc {summary['final']['test_acc']:.4f}, {summary['wall_time_s']:.0f} s"
    )
