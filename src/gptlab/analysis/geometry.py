"""Geometry of a set of vectors (rows of an (N, d) tensor): pure functions, numbers out.

The brief measured centering by the mean pairwise angle. That number moves by construction:
subtracting the mean of a set makes the mean pairwise cosine exactly -1/(N-1) ... ~0 (so the
mean angle goes to ~90 deg) whatever the vectors were. Measures that centering cannot move
by definition say more about how well a model uses its space: the effective rank and the
variance share of the top principal components (both of the *centered* covariance), and
the share of the raw second moment that lies along the mean direction (anisotropy).
"""

from __future__ import annotations

import math

import torch

from gptlab.nn import Trace


def center_and_normalize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The brief's operation on a set: subtract the set's mean, scale every row to length 1."""
    centered = x - x.mean(dim=0, keepdim=True)
    return centered / (centered.norm(dim=1, keepdim=True) + eps)


def pairwise_cosines(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine of every pair i < j of rows, flattened."""
    unit = x / (x.norm(dim=1, keepdim=True) + eps)
    cos = (unit @ unit.T).clamp(-1.0, 1.0)
    i, j = torch.triu_indices(len(x), len(x), offset=1)
    return cos[i, j]


def pairwise_angles_degrees(x: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.arccos(pairwise_cosines(x)))


def singular_values_centered(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.svdvals(x - x.mean(dim=0, keepdim=True))


def effective_rank(x: torch.Tensor) -> float:
    """exp(entropy of the normalized singular values of the centered rows) (Roy & Vetterli,
    2007): d for an isotropic cloud, 1 when all variance lies along one direction."""
    s = singular_values_centered(x)
    p = s / s.sum()
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def top_pc_variance_share(x: torch.Tensor, k: int) -> float:
    """Share of the variance of the centered rows in the top ``k`` principal components."""
    variance = singular_values_centered(x) ** 2
    return (variance[:k].sum() / variance.sum()).item()


def mean_direction_share(x: torch.Tensor) -> float:
    """||mean||^2 / mean(||x||^2): the share of the raw second moment along the mean
    direction (0 = centered cloud, 1 = all vectors equal)."""
    return (x.mean(dim=0).square().sum() / x.square().sum(dim=1).mean()).item()


def describe(x: torch.Tensor, top_k: int = 3) -> dict[str, float]:
    cos = pairwise_cosines(x)
    return {
        "mean_cosine": cos.mean().item(),
        "mean_angle_deg": torch.rad2deg(torch.arccos(cos)).mean().item(),
        "effective_rank": effective_rank(x),
        f"top{top_k}_pc_share": top_pc_variance_share(x, top_k),
        "mean_direction_share": mean_direction_share(x),
    }


def before_after_centering(x: torch.Tensor, top_k: int = 3) -> dict[str, object]:
    """:func:`describe` of ``x`` and of ``center_and_normalize(x)``, and the angle-widening
    factor (mean angle after / before) that the brief reported."""
    before, after = describe(x, top_k), describe(center_and_normalize(x), top_k)
    return {
        "dim": x.shape[1],
        "n_vectors": x.shape[0],
        "before": before,
        "after": after,
        "angle_widening": after["mean_angle_deg"] / before["mean_angle_deg"],
    }


def layer_vectors(trace: Trace, max_vectors: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The residual stream after each block and the final embeddings, as (N, C) float rows:
    every position of every sequence, a fixed random subset of ``max_vectors`` of them."""
    sets = {f"block{i}": r for i, r in enumerate(trace.residual)}
    sets["final"] = trace.final_embedding
    out = {}
    for name, tensor in sets.items():
        rows = tensor.detach().float().flatten(0, -2)
        keep = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))
        out[name] = rows[keep[:max_vectors]]
    return out


def head_rows(t: torch.Tensor) -> list[torch.Tensor]:
    """(B, nh, T, hs) per-head vectors (queries or keys) -> nh float tensors of (B*T, hs)."""
    return [t[:, h].detach().float().flatten(0, 1) for h in range(t.shape[1])]


def query_key_angles_degrees(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Angle between query t and key s for every causal pair s <= t of every sequence and
    head, flattened: the angle the attention logit of that pair is a function of once Q and
    K are unit vectors. q, k: (B, nh, T, hs)."""
    unit_q = q.float() / q.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    unit_k = k.float() / k.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = (unit_q @ unit_k.transpose(-2, -1)).clamp(-1.0, 1.0)  # (B, nh, T, T)
    T = q.shape[-2]
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    return torch.rad2deg(torch.arccos(cos[..., causal])).flatten()
