"""``gptlab grok --seeds K [--batched]``: K seeds of one grokking configuration.

Seed i uses ``seed + i`` for its initialization and batch order and ``split_seed + i`` for
its train/test split, and writes its own run folder ``OUT/seed-<seed>``.

Without ``--batched`` the seeds run one after another. With it they train as one model
whose weights carry a leading seed axis (:class:`StackedModels`): AdamW is elementwise and
the summed loss gives each seed exactly its own gradient, so the metrics equal K separate
runs (up to float rounding; with dropout > 0 the masks are drawn differently). Every seed
folder gets a checkpoint that ``gptlab grok --resume`` accepts on its own, so a batched
run can be resumed as a batch or any seed continued alone.

A batched run logs metrics, TensorBoard scalars, the curves and the final attention maps
per seed; loss landscapes, histograms and snapshots need one model at a time and are left
to single runs (``landscape_every`` and friends are ignored here).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter
from tqdm.auto import tqdm

from gptlab.config import to_dict
from gptlab.data.modular import ModularSplit
from gptlab.experiments.grok import (
    GrokConfig,
    Landscapes,
    build_data,
    build_model,
    build_optimizer,
    check_config,
    finish,
    log_scalars,
    render_attention,
    run_grok,
    summary_line,
)
from gptlab.experiments.options import RunRequest
from gptlab.nn.stacked import StackedModels
from gptlab.train.reproducibility import pick_device, rng_state, seed_everything
from gptlab.train.run_folder import RunFolder, read_json, write_json


def seed_configs(config: GrokConfig, count: int) -> list[GrokConfig]:
    if count < 1:
        raise ValueError(f"seeds = {count} must be >= 1")
    return [
        dataclasses.replace(config, seed=config.seed + i, split_seed=config.split_seed + i)
        for i in range(count)
    ]


def seed_run_dirs(out_dir: Path, configs: list[GrokConfig]) -> list[Path]:
    return [Path(out_dir) / f"seed-{c.seed}" for c in configs]


def run_seeds(
    config: GrokConfig,
    count: int,
    out_dir: Path | str,
    batched: bool,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``count`` seeds of ``config`` into ``out_dir/seed-*``; return their summaries."""
    configs = seed_configs(config, count)
    run_dirs = seed_run_dirs(Path(out_dir), configs)
    if batched:
        return run_grok_batched(configs, run_dirs, resume, progress)
    return [
        RunFolder(d).read_summary() or run_grok(c, d, resume and d.exists(), progress)
        for c, d in zip(configs, run_dirs, strict=True)
    ]


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
        seed_configs(request.config, count)  # check the count before creating anything
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


def check_stackable(configs: list[GrokConfig]) -> None:
    shared = [dataclasses.replace(c, seed=0, split_seed=0) for c in configs]
    if any(s != shared[0] for s in shared):
        raise ValueError("batched seeds must share every config field but seed and split_seed")


def run_grok_batched(
    configs: list[GrokConfig],
    run_dirs: list[Path],
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    for c in configs:
        check_config(c)
    check_stackable(configs)
    c0 = configs[0]
    device = pick_device(c0.device)
    data = [build_data(c).to(device) for c in configs]
    models = []
    for c, d in zip(configs, data, strict=True):
        seed_everything(c.seed)  # the same initialization as the seed's own run
        models.append(build_model(c, d.vocab_size).to(device))
    runs = [RunFolder(d) for d in run_dirs]
    shuffles = [torch.Generator().manual_seed(c.seed) for c in configs]
    epoch = step = 0
    wall_before = 0.0
    states = [run.load_checkpoint(device) for run in runs] if resume else None
    if states:
        if len({s["epoch"] for s in states}) != 1:
            raise ValueError("the seed folders stopped at different epochs; resume them one by one")
        for model, shuffle, state in zip(models, shuffles, states, strict=True):
            model.load_state_dict(state["model"])
            shuffle.set_state(state["shuffle"])
        epoch, step, wall_before = states[0]["epoch"], states[0]["step"], states[0]["times"]["wall"]
        for run in runs:
            run.keep_metrics(lambda r: r["epoch"] <= epoch)
    else:
        for run, c in zip(runs, configs, strict=True):
            run.create()
            run.write_config(to_dict(c))
    stacked = StackedModels(models).to(device)
    optimizer, scheduler = build_optimizer(stacked, c0)
    if states:
        optimizer.load_state_dict(stacked.stacked_optimizer_state([s["optimizer"] for s in states]))
        scheduler.load_state_dict(states[0]["scheduler"])
    writers = [
        SummaryWriter(run.tensorboard_dir, purge_step=epoch + 1 if resume else None) for run in runs
    ]
    started = time.perf_counter() - wall_before

    def due(every: int) -> bool:
        return every > 0 and (epoch % every == 0 or epoch == c0.epochs)

    def save_checkpoints() -> None:
        wall = time.perf_counter() - started
        for k, run in enumerate(runs):
            run.save_checkpoint(seed_checkpoint(k, wall))

    def seed_checkpoint(k: int, wall: float) -> dict[str, Any]:
        """What ``run_grok(resume=True)`` reads, for seed k alone."""
        return {
            "model": stacked.unstack(k, build_model(c0, data[k].vocab_size)).state_dict(),
            "optimizer": stacked.seed_optimizer_state(optimizer.state_dict(), k),
            "scheduler": scheduler.state_dict(),
            "shuffle": shuffles[k].get_state(),
            "rng": rng_state(),
            "landscapes": {"epochs": [], "losses": []},
            "epoch": epoch,
            "step": step,
            "times": {"wall": wall, "landscape": 0.0, "render": 0.0},
        }

    bar = tqdm(
        total=c0.epochs,
        initial=epoch,
        disable=not progress,
        unit="epoch",
        desc=f"grok x{len(configs)} seeds (batched)",
    )
    while epoch < c0.epochs:
        steps, grad_norms = train_epoch_stacked(stacked, optimizer, scheduler, data, c0, shuffles)
        epoch, step = epoch + 1, step + steps
        if due(c0.eval_every):
            elapsed = time.perf_counter() - started
            rows = evaluate_stacked(stacked, data)
            for k, row in enumerate(rows):
                row = {"epoch": epoch, "step": step, **row, "grad_norm": grad_norms[k]}
                row |= {"lr": optimizer.param_groups[0]["lr"], "time_s": elapsed}
                runs[k].append_metrics(row)
                log_scalars(writers[k], row)
            test = sum(r["test_acc"] for r in rows) / len(rows)
            bar.set_postfix(mean_test=f"{test:.3f}")
        if due(c0.checkpoint_every):
            save_checkpoints()
        bar.update(1)
    bar.close()
    save_checkpoints()
    wall = time.perf_counter() - started
    summaries = []
    for k, (run, c) in enumerate(zip(runs, configs, strict=True)):
        model = stacked.unstack(k, build_model(c, data[k].vocab_size)).to(device)
        render_attention(writers[k], run, model, c, epoch)
        times = {"wall": wall, "landscape": 0.0, "render": 0.0}
        summary = finish(run, Landscapes(model, data[k], c), c, epoch, model, times)
        summary |= {"batched_seeds": len(configs)}
        run.write_summary(summary)
        writers[k].close()
        summaries.append(summary)
    return summaries


def train_epoch_stacked(
    stacked: StackedModels,
    optimizer: torch.optim.Optimizer,
    scheduler,
    data: list[ModularSplit],
    c: GrokConfig,
    shuffles: list[torch.Generator],
) -> tuple[int, list[float]]:
    """One epoch for every seed, each in its own random order; (steps, mean grad norm per
    seed). Mirrors ``grok.train_epoch`` step for step."""
    stacked.train()
    inputs = torch.stack([d.train_inputs for d in data])  # (K, N, 3)
    targets = torch.stack([d.train_targets for d in data])  # (K, N)
    n = targets.shape[1]
    batch_size = c.batch_size or n
    orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(targets.device)
    grad_norms = []
    for i in range(0, n, batch_size):
        idx = orders[:, i : i + batch_size]  # (K, b)
        x = torch.take_along_dim(inputs, idx.unsqueeze(-1), dim=1)  # (K, b, 3)
        y = torch.take_along_dim(targets, idx, dim=1)  # (K, b)
        logits = stacked(x, last_only=True)[:, :, -1]  # (K, b, vocab): the answer at "="
        per_seed = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
        optimizer.zero_grad(set_to_none=True)
        per_seed.sum().backward()  # each seed's slice receives exactly its own gradient
        grad_norms.append(per_seed_norm([p.grad for p in stacked.parameters()]))
        optimizer.step()
        if c.t_max_unit == "steps":
            scheduler.step()
    if c.t_max_unit == "epochs":
        scheduler.step()
    return len(grad_norms), torch.stack(grad_norms).mean(0).tolist()


def per_seed_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of each seed's slice over all tensors: (K,)."""
    norms = [torch.linalg.vector_norm(t, dim=tuple(range(1, t.dim()))) for t in tensors]
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


@torch.no_grad()
def evaluate_stacked(
    stacked: StackedModels, data: list[ModularSplit], chunk: int = 512
) -> list[dict[str, float]]:
    """``grok.evaluate`` for every seed at once: one metrics dict per seed."""
    was_training = stacked.training
    stacked.eval()
    rows: list[dict[str, float]] = [{} for _ in data]
    for split in ("train", "test"):
        inputs = torch.stack([getattr(d, f"{split}_inputs") for d in data])
        targets = torch.stack([getattr(d, f"{split}_targets") for d in data])
        loss_sum = torch.zeros(len(data), device=targets.device)
        hits = []
        for i in range(0, targets.shape[1], chunk):
            logits = stacked(inputs[:, i : i + chunk], last_only=True)[:, :, -1]
            y = targets[:, i : i + chunk]
            loss_sum += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(1)
            hits.append(logits.argmax(-1) == y)
        hit = torch.cat(hits, dim=1)
        for k, row in enumerate(rows):
            row[f"{split}_loss"] = (loss_sum[k] / targets.shape[1]).item()
            row[f"{split}_acc"] = hit[k].float().mean().item()
    weight_norms = per_seed_norm(list(stacked.parameters()))
    for k, (row, d) in enumerate(zip(rows, data, strict=True)):
        unmirrored = hit[k][d.unmirrored]  # hit holds the test split, evaluated last
        row["test_acc_unmirrored"] = unmirrored.float().mean().item() if len(unmirrored) else None
        row["weight_norm"] = weight_norms[k].item()
    stacked.train(was_training)
    return rows
