"""Loss landscape around the current parameters on a 2D plane (Li et al., 2018).

Two random Gaussian directions are drawn once per run from a fixed seed, so surfaces at
different epochs look along the same plane. Each time a surface is computed they are
filter-normalized to the current parameters: every filter (a row of a weight matrix, an
embedding vector) of a direction is rescaled to the norm of the matching filter of the
weights, so "one unit along d" means the same relative change whatever the weight scale
(weight decay shrinks the weights a lot during grokking). 1-D parameters (biases,
LayerNorm gains) get a zero direction, as in Li et al.

Pure functions: tensors in, numbers out.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

Params = dict[str, torch.Tensor]


def parameters_of(model: nn.Module) -> Params:
    return {name: p.detach() for name, p in model.named_parameters()}


def random_directions(params: Params, seed: int, count: int = 2) -> list[Params]:
    """``count`` Gaussian directions shaped like ``params``, drawn on the CPU from ``seed``
    (the same numbers on every device)."""
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            name: torch.randn(p.shape, generator=generator).to(p.device, p.dtype)
            for name, p in params.items()
        }
        for _ in range(count)
    ]


def filter_normalize(direction: Params, params: Params, eps: float = 1e-10) -> Params:
    """Rescale each filter (slice along dim 0) of ``direction`` to the norm of the same filter
    of ``params``; zero for 1-D parameters."""
    normalized = {}
    for name, d in direction.items():
        p = params[name]
        if p.dim() <= 1:
            normalized[name] = torch.zeros_like(d)
            continue
        d_norm = d.flatten(1).norm(dim=1).view(-1, *[1] * (d.dim() - 1))
        p_norm = p.flatten(1).norm(dim=1).view(-1, *[1] * (d.dim() - 1))
        normalized[name] = d * p_norm / (d_norm + eps)
    return normalized


@torch.no_grad()
def loss_surface(
    model: nn.Module,
    params: Params,
    directions: list[Params],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    span: float = 1.0,
    resolution: int = 11,
    points_per_call: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss at ``params + a * d1 + b * d2`` for a, b on a ``resolution`` x ``resolution`` grid
    over [-span, span], with d1, d2 = filter-normalized ``directions``.

    ``model(inputs, targets)`` must return ``(logits, loss)``. The model runs in eval mode
    (no dropout) and its own parameters are left untouched. Returns ``(coords, losses)``
    with ``losses[i, j]`` at ``a = coords[i], b = coords[j]``.

    ``points_per_call`` grid points go through the model at once (``vmap`` over stacked
    weights): on the grokking models this measured 2x faster on CPU than one call per
    point, which is dominated by per-call overhead; 32 beat both 8 and all 121.
    """
    d1, d2 = (filter_normalize(d, params) for d in directions)
    coords = torch.linspace(-span, span, resolution)
    a, b = (t.flatten().to(inputs.device) for t in torch.meshgrid(coords, coords, indexing="ij"))
    was_training = model.training
    model.eval()

    def loss_at(point: Params) -> torch.Tensor:
        return functional_call(model, point, (inputs, targets))[1]

    losses = []
    with warnings.catch_warnings():
        # vmap runs the fused attention kernel point by point; on sequences of a few tokens
        # that costs nothing measurable, so its performance warning is noise here
        warnings.filterwarnings("ignore", message="There is a performance drop")
        for start in range(0, len(a), points_per_call):
            scales = (a[start : start + points_per_call], b[start : start + points_per_call])
            losses.append(vmap(loss_at)(points_on_plane(params, (d1, d2), scales)))
    model.train(was_training)
    grid = torch.cat(losses).view(resolution, resolution).cpu().numpy()
    return coords.numpy(), grid


def points_on_plane(
    params: Params, directions: tuple[Params, Params], scales: tuple[torch.Tensor, torch.Tensor]
) -> Params:
    """``params + a_i * d1 + b_i * d2`` for the n pairs (a_i, b_i) of ``scales``: each
    parameter stacked n times, from one (n, 3) x (3, all parameters) product. Two products
    and two sums per parameter tensor instead cost 7-12% more per landscape (measured on the
    brief's grokking model, 2026-12-05)."""
    names = list(params)
    plane = torch.stack([torch.cat([t[n].flatten() for n in names]) for t in (params, *directions)])
    a, b = scales
    weights = torch.stack((torch.ones_like(a), a, b), dim=1).to(plane.dtype)  # (n, 3)
    stacked = (weights @ plane).split([params[n].numel() for n in names], dim=1)
    return {
        n: column.view(len(a), *params[n].shape) for n, column in zip(names, stacked, strict=True)
    }


class LandscapeSeries:
    """Loss surfaces of one run on one fixed plane, one per landscape epoch. The plane (two
    directions drawn from ``seed``) and the subset of ``examples`` inputs are fixed at
    construction, so surfaces at different epochs compare."""

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        span: float,
        resolution: int,
        examples: int,
        seed: int,
    ) -> None:
        subset = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
        subset = subset[:examples].to(targets.device)
        self.inputs, self.targets = inputs[subset], targets[subset]
        self.directions = random_directions(parameters_of(model), seed)
        self.span, self.resolution = span, resolution
        self.coords = np.linspace(-span, span, resolution)
        self.epochs: list[int] = []
        self.losses: list[np.ndarray] = []

    def compute(self, model: nn.Module, epoch: int) -> np.ndarray:
        """The surface around ``model``'s current weights, kept as the one of ``epoch``."""
        _, grid = loss_surface(
            model,
            parameters_of(model),
            self.directions,
            self.inputs,
            self.targets,
            self.span,
            self.resolution,
        )
        self.epochs.append(epoch)
        self.losses.append(grid)
        return grid

    def state(self) -> dict:
        """Tensors and plain values, for a ``weights_only`` checkpoint."""
        return {"epochs": list(self.epochs), "losses": [torch.from_numpy(g) for g in self.losses]}

    def load(self, state: dict) -> None:
        self.epochs = list(state["epochs"])
        self.losses = [g.numpy() for g in state["losses"]]

    def arrays(self) -> dict[str, np.ndarray]:
        """``epochs``, ``coords`` and ``losses[n, i, j]`` (n surfaces of i x j points)."""
        n = len(self.coords)
        losses = np.stack(self.losses) if self.losses else np.zeros((0, n, n))
        return {"epochs": np.array(self.epochs), "coords": self.coords, "losses": losses}
