"""What every evaluation of a grokking run measures, per model: loss and accuracy on the
full train and test sets, then each registered measure. A new per-evaluation measure is
one function registered with ``@measure("its_key")``: it lands in every metrics row,
TensorBoard and the run's checks on resume (see docs/design.md, "How to add a measure")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gptlab.experiments.grokking.tasks import Split
from gptlab.experiments.grokking.train import model_logits, per_model_norm, stacked_split

MEMORIZED = GENERALIZED = 0.99  # accuracy thresholds for memorized_epoch / generalized_epoch
SPLIT_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")
EVAL_CHUNK = 512  # examples per forward pass: keeps (K, chunk, d_ff) in cache


@dataclass
class Evaluation:
    """What a measure may read: the models (K of them: a plain model or a stack), each
    model's split, and which examples each model answers right per split, (K, N)."""

    model: torch.nn.Module
    data: list[Split]
    hits: dict[str, torch.Tensor]


# key -> function giving each model's value (None where the measure does not apply)
MEASURES: dict[str, Callable[[Evaluation], list[float | None]]] = {}


def measure(key: str) -> Callable:
    def register(fn: Callable[[Evaluation], list[float | None]]) -> Callable:
        MEASURES[key] = fn
        return fn

    return register


@measure("test_acc_unmirrored")
def unmirrored_accuracy(e: Evaluation) -> list[float | None]:
    """Test accuracy on the examples whose mirror is not a training example: they cannot
    be answered by recalling a symmetric operation's training pair."""
    values = []
    for hit, d in zip(e.hits["test"], e.data, strict=True):
        kept = hit[d.unmirrored] if d.unmirrored is not None else hit[:0]
        values.append(kept.float().mean().item() if len(kept) else None)
    return values


@measure("weight_norm")
def weight_norm(e: Evaluation) -> list[float | None]:
    params = list(e.model.parameters())
    stacked = params if len(e.data) > 1 else [p.unsqueeze(0) for p in params]
    return per_model_norm(stacked).tolist()


def metrics_keys() -> tuple[str, ...]:
    """What every metrics row holds (``GrokRun.monitor``): a row without one is not a
    grok row."""
    return ("epoch", "step", *SPLIT_KEYS, *MEASURES, "grad_norm", "lr", "time_s")


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: list[Split]) -> list[dict[str, Any]]:
    """Per model: loss and accuracy on the full train and test sets, then every measure."""
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = [{} for _ in data]
    hits = {}
    for split in ("train", "test"):
        losses, hits[split] = split_losses(model, data, split)
        for k, row in enumerate(rows):
            row[f"{split}_loss"] = losses[k].item()
            row[f"{split}_acc"] = hits[split][k].float().mean().item()
    evaluation = Evaluation(model, data, hits)
    for key, fn in MEASURES.items():
        for row, value in zip(rows, fn(evaluation), strict=True):
            row[key] = value
    model.train(was_training)
    return rows


def split_losses(
    model: torch.nn.Module, data: list[Split], split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each model's mean loss on ``split`` (K,) and which examples it answers right (K, N),
    in chunks of EVAL_CHUNK examples."""
    inputs, targets = stacked_split(data, split)
    loss_sum = torch.zeros(len(data), device=targets.device)
    hits = []
    for i in range(0, targets.shape[1], EVAL_CHUNK):
        logits = model_logits(model, inputs[:, i : i + EVAL_CHUNK])
        y = targets[:, i : i + EVAL_CHUNK]
        loss_sum += F.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(1)
        hits.append(logits.argmax(-1) == y)
    return loss_sum / targets.shape[1], torch.cat(hits, dim=1)


def first_epoch(rows: list[dict[str, Any]], key: str, threshold: float) -> dict | None:
    return next((r for r in rows if r[key] >= threshold), None)
