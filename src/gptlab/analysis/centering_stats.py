"""What centering does inside a trained model, measured on one batch: pure numbers out.

Per centering module (at each centered site: Q, K, V, block output, final embeddings; its
input as the model's ``Trace`` records it): how large the removed center is next to the
vectors it is removed from, ``||s * c_t|| / ||x_t||`` averaged over every
vector with a non-empty past (t >= 1; at t = 0 the causal center is zero by construction);
the learned strength of ``adaptive`` modules; per attention layer, the learned temperature
of each head and the entropy of the attention rows. Logged over training, they show whether
a model learns to use its centering or to switch it off.
"""

from __future__ import annotations

import torch

from gptlab.nn import Transformer
from gptlab.nn.centering import VectorCentering


def attention_entropy(weights: torch.Tensor) -> float:
    """Mean entropy (nats) of the attention rows of (B, nh, T, T) causal weights."""
    p = weights.float()
    return -(p * p.clamp_min(1e-30).log()).sum(-1).mean().item()


@torch.no_grad()
def centering_statistics(model: Transformer, idx: torch.Tensor) -> dict[str, float]:
    """The measures above for token windows ``idx`` (B, T), in eval mode (so a momentum
    center is read, not updated); the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        trace = model.trace(idx)
    finally:
        model.train(was_training)
    stats: dict[str, float] = {}
    modules = dict(model.named_modules())
    for name, x in trace.centering_inputs.items():
        module: VectorCentering = modules[name]
        removed = module.strength.float() * module.current_center(x).float()
        ratio = removed.expand_as(x).norm(dim=-1) / x.float().norm(dim=-1).clamp_min(1e-12)
        stats[f"center_ratio/{name}"] = ratio[:, 1:].mean().item()
        if module.mode == "adaptive":
            stats[f"strength/{name}"] = module.strength.item()
    for i, block in enumerate(model.blocks):
        stats[f"attention_entropy/layer{i}"] = attention_entropy(trace.attention[i])
        if block.attn.learned_temperature:
            for h, value in enumerate(block.attn.log_temperature.exp().flatten().tolist()):
                stats[f"temperature/layer{i}/head{h}"] = value
    return stats
