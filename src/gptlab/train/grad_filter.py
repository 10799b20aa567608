"""Grokfast's EMA gradient filter (Lee et al. 2024, "Grokfast: Accelerated Grokking by
Amplifying Slow Gradients", arXiv:2405.20233).

The slow (low-frequency) part of the gradient sequence is what drives generalization in
their account, so it is amplified: per parameter, after ``backward`` and before
``optimizer.step``,

    ema  = alpha * ema + (1 - alpha) * grad
    grad = grad + lamb * ema

with ``ema`` starting at the first gradient (as the published ``gradfilter_ema`` does: it
seeds its dict with the first grads, then applies the same update, which leaves them
unchanged), so the first step is ``grad * (1 + lamb)`` rather than a bias toward zero.

The filter is elementwise, so a "stacked" parameter whose first axis holds K independent
models is filtered exactly as each model alone would be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def _check(alpha: float, lamb: float) -> None:
    if not (math.isfinite(alpha) and 0.0 <= alpha < 1.0):
        raise ValueError(f"alpha must be finite and in [0, 1), got {alpha!r}")
    if not (math.isfinite(lamb) and lamb >= 0.0):
        raise ValueError(f"lamb must be finite and >= 0, got {lamb!r}")


class EmaGradFilter:
    """In-place Grokfast-EMA filter on the ``.grad`` of ``params``; call ``apply()`` after
    every ``backward`` and before ``optimizer.step()``."""

    def __init__(self, params: Iterable[torch.Tensor], alpha: float, lamb: float) -> None:
        _check(alpha, lamb)
        self.params = list(params)  # a generator (model.parameters()) is read once
        self.alpha, self.lamb = float(alpha), float(lamb)
        # keyed by position in ``params``; a parameter gets its EMA at its first gradient
        self.ema: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def apply(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:  # frozen, or unused in this step: nothing to filter
                continue
            ema = self.ema.get(i)
            if ema is None:
                self.ema[i] = ema = p.grad.detach().clone()
            else:
                ema.mul_(self.alpha).add_(p.grad, alpha=1.0 - self.alpha)
            p.grad.add_(ema, alpha=self.lamb)

    def state_dict(self) -> dict[str, Any]:
        """Floats, ints and tensors only, so ``torch.load(weights_only=True)`` reads it."""
        return {
            "alpha": self.alpha,
            "lamb": self.lamb,
            "ema": {i: t.detach().clone() for i, t in self.ema.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the EMA and, like ``torch.optim.Optimizer``, ``alpha`` and ``lamb``."""
        alpha, lamb = float(state["alpha"]), float(state["lamb"])
        _check(alpha, lamb)
        ema: dict[int, torch.Tensor] = {}
        for i, t in state["ema"].items():
            i = int(i)
            if not 0 <= i < len(self.params) or t.shape != self.params[i].shape:
                raise ValueError(
                    f"EMA entry {i} of shape {tuple(t.shape)} does not match the parameters"
                )
            ema[i] = t.detach().clone().to(self.params[i].device)
        self.alpha, self.lamb, self.ema = alpha, lamb, ema
