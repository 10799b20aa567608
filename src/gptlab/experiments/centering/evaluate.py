"""Losses of a ``gptlab center`` run: the random-batch estimates that show progress, and
the one fixed, full, deterministic pass over a split that is the run's result."""

from __future__ import annotations

import contextlib

import torch

from gptlab.data.text import CharDataset
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.centering.data import EVAL_BATCHES, local_batch
from gptlab.nn import Transformer
from gptlab.train.distributed import DistributedContext, mean_across_processes


def autocast_for(config: CenterConfig, device: torch.device) -> contextlib.AbstractContextManager:
    dtype = config.runtime.dtype
    use_bf16 = dtype == "bfloat16" or (dtype == "auto" and device.type == "cuda")
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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
    eval_iters = config.monitor.eval_iters
    for split in ("train", "val"):
        total = torch.zeros((), device=device)
        for i in range(eval_iters):
            x, y = local_batch(data, split, config, context, step, EVAL_BATCHES, i)
            with autocast_for(config, device):
                total += model(x.to(device), y.to(device))[1].float()
        losses[split] = mean_across_processes(total / eval_iters, context).item()
    model.train()
    return losses


@torch.no_grad()
def full_pass_loss(
    model: Transformer, data: CharDataset, split: str, config: CenterConfig, device: torch.device
) -> float:
    """Mean cross-entropy over every target of ``split``, in a fixed order."""
    model.eval()
    total, count = 0.0, 0
    windows = data.full_pass(split, config.model.block_size, config.monitor.final_eval_batch_size)
    for x, y in windows:
        with autocast_for(config, device):
            logits = model(x.to(device))[0]
        losses = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum"
        )
        total += losses.item()
        count += y.numel()
    model.train()
    return total / count
