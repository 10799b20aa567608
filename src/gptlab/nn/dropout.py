"""Inverted dropout whose mask is cheap to draw on a CPU.

On CPU, ``torch.nn.functional.dropout`` draws one Bernoulli number per element, and that
dominates its cost (profiled on the brief's GPT: 19 dropout calls took 15% of a training step,
more than all the attention kernels). Here four masks come out of every 64-bit random word:
each 16-bit quarter, with its top bit cleared, is a uniform draw from [0, 2^15), and an
element is kept when its draw is at or above ``round(p * 2^15)``. That is dropout with ``p``
rounded to a multiple of 2^-15 (0.2 -> 0.20001); the survivors are scaled by the exact
inverse of the realized keep probability, so the expectation is unchanged. It measured
~6x faster than ``F.dropout`` on (96, 256, 256) tensors.

Elsewhere (CUDA, MPS) ``F.dropout`` is already fast and is used as it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DRAW_BITS = 15
DRAWS = 1 << DRAW_BITS


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A bool tensor shaped like ``x``: True (keep) with probability ``1 - p``, rounded to
    a multiple of 2^-15. Draws from torch's default generator on ``x``'s device."""
    n = x.shape[-1]
    # empty_like of a slice of x keeps vmap's batching, so models under vmap draw per model;
    # contiguous, because viewing int64 words as int16 needs a unit stride
    words = x[..., : (n + 3) // 4]
    words = torch.empty_like(words, dtype=torch.int64, memory_format=torch.contiguous_format)
    words.random_()
    draws = words.view(torch.int16)[..., :n] & (DRAWS - 1)  # random_ leaves the sign bit 0
    return draws >= round(p * DRAWS)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout(x, p, training)``, with the fast mask on CPU."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    dropped = round(p * DRAWS)
    if dropped == DRAWS:  # p rounds to 1: nothing survives
        return torch.zeros_like(x)
    # a float mask times x: measured 4x faster, forward + backward, than torch.where
    scaled_mask = keep_mask(x, p).to(x.dtype).mul_(DRAWS / (DRAWS - dropped))
    return x * scaled_mask


class Dropout(nn.Module):
    """``nn.Dropout`` with :func:`dropout`'s fast CPU mask."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p = {p} must lie in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
