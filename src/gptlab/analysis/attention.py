"""Attention patterns of the grokking model, from its one documented trace path.

Pure functions: a model in, arrays out.
"""

from __future__ import annotations

import numpy as np
import torch

from gptlab.data.modular import all_pairs
from gptlab.nn.transformer import Transformer


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
