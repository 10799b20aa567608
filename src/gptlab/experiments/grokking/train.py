"""One epoch of training for K >= 1 models at once (a plain model, K = 1, or a
:class:`StackedModels` whose tensors carry a leading model axis), and the optimizer and
learning-rate schedule it steps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gptlab.experiments.grokking.config import OptimSection
from gptlab.experiments.grokking.tasks import Split
from gptlab.nn.stacked import StackedModels
from gptlab.train.grad_filter import EmaGradFilter
from gptlab.train.optim import fused_for


def build_optimizer(
    model: torch.nn.Module, o: OptimSection, steps_per_epoch: int
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW or Adam with an L2 term (weight decay on every parameter, as the brief, or on
    matrices only) and its schedule. A stack's parameters carry a model axis first: a matrix
    is 3-D there. Both are elementwise, so a stack trains as its models would alone."""
    device_type = next(model.parameters()).device.type
    matrix_dims = 3 if isinstance(model, StackedModels) else 2
    params = list(model.parameters())
    decayed = [p for p in params if o.decay == "all" or p.dim() >= matrix_dims]
    kept = [p for p in params if not (o.decay == "all" or p.dim() >= matrix_dims)]
    groups = [{"params": decayed}] + ([{"params": kept, "weight_decay": 0.0}] if kept else [])
    kind = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
    optimizer = kind(
        groups,
        lr=o.lr,
        betas=o.betas,
        eps=o.adam_eps,
        weight_decay=o.weight_decay,
        fused=fused_for(device_type),
    )
    return optimizer, build_scheduler(optimizer, o, steps_per_epoch)


def build_scheduler(
    optimizer: torch.optim.Optimizer, o: OptimSection, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate factor at every optimizer step: a linear warmup over
    ``warmup_steps``, times the cosine of CosineAnnealingLR (closed form: periodic past
    t_max, as CosineAnnealingLR is) counted in epochs or steps, or a constant."""

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / o.warmup_steps) if o.warmup_steps else 1.0
        if o.scheduler == "constant":
            return warm
        t = step if o.t_max_unit == "steps" else step // steps_per_epoch
        low = o.eta_min / o.lr
        return warm * (low + (1 - low) * (1 + math.cos(math.pi * t / o.t_max)) / 2)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def steps_per_epoch(o: OptimSection, train_examples: int) -> int:
    return math.ceil(train_examples / (o.batch_size or train_examples))


def model_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(K, b, T) inputs -> (K, b, vocab): each model's logits at the last position. A plain
    :class:`Transformer` (K = 1) folds the model axis into its batch; a
    :class:`StackedModels` runs model k on ``x[k]``."""
    out = model(x, last_only=True)
    return (out[0] if isinstance(out, tuple) else out)[:, :, -1]


def per_model_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of each model's slice (the leading axis) over all tensors: (K,)."""
    norms = [torch.linalg.vector_norm(t, dim=tuple(range(1, t.dim()))) for t in tensors]
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


def stacked_split(data: list[Split], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every model's ``split`` as (K, N, T) inputs and (K, N) targets."""
    inputs = torch.stack([getattr(d, f"{split}_inputs") for d in data])
    return inputs, torch.stack([getattr(d, f"{split}_targets") for d in data])


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: list[Split],
    o: OptimSection,
    shuffles: list[torch.Generator],
    grad_filter: EmaGradFilter | None = None,
) -> tuple[int, list[float]]:
    """One pass over every model's training set, each in its own random order; returns
    (steps, mean gradient norm per model, before filtering and clipping). Models are
    independent: the summed loss gives each its own gradient, and the filter, the clipping
    (per model) and the optimizer are elementwise."""
    model.train()
    inputs, targets = stacked_split(data, "train")
    n = targets.shape[1]
    batch_size = o.batch_size or n
    orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(targets.device)
    grad_norms = []
    for i in range(0, n, batch_size):
        idx = orders[:, i : i + batch_size]  # (K, b)
        x = torch.take_along_dim(inputs, idx.unsqueeze(-1), dim=1)  # (K, b, T)
        y = torch.take_along_dim(targets, idx, dim=1)  # (K, b)
        logits = model_logits(model, x)
        optimizer.zero_grad(set_to_none=True)
        summed_model_losses(logits, y).backward()
        grads = model_grads(model, len(data))
        grad_norms.append(per_model_norm(grads))
        if grad_filter is not None:
            grad_filter.apply()
        if o.grad_clip > 0:
            clip_per_model(grads, o.grad_clip)
        optimizer.step()
        scheduler.step()
    return len(grad_norms), torch.stack(grad_norms).mean(0).tolist()


def summed_model_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The sum over models of each model's mean cross-entropy: (K, b, vocab), (K, b) -> ().
    Both spellings compute the same; each keeps the float rounding its path always had,
    because when a run groks is chaotic in the last bits (hundreds of epochs apart)."""
    if y.shape[0] == 1:
        return F.cross_entropy(logits[0], y[0])
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum()


def model_grads(model: torch.nn.Module, count: int) -> list[torch.Tensor]:
    """Every gradient with the model axis first: a stack's own, or a plain model's as
    (1, ...) views (so that writing into them writes the gradient)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return grads if count > 1 else [g.unsqueeze(0) for g in grads]


@torch.no_grad()
def clip_per_model(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale each model's gradient to norm at most ``max_norm``, as clip_grad_norm_ does
    for one model."""
    norms = per_model_norm(grads)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))
