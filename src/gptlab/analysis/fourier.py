"""Progress measures for modular addition (Nanda et al., 2023, "Progress measures for grokking
via mechanistic interpretability").

A network that has grokked ``(x + y) mod p`` embeds each token as waves ``cos(w_k x)``,
``sin(w_k x)`` for a few *key frequencies* ``w_k = 2 pi k / p`` and composes them into logits
that depend on ``x + y`` through ``cos(w_k (x + y - c))``. The measures here track that circuit:

- :func:`frequency_norms`: how much of the token embedding lies at each frequency; it turns
  from flat (random init) to a few sharp peaks (the key frequencies).
- :func:`restricted_loss`: the loss when the logits keep only their key-frequency components
  ``cos/sin(w_k (x + y))``; it falls before test loss does, as the circuit forms.
- :func:`excluded_loss`: the training loss with those components removed; it rises during
  the plateau as the memorizing solution is replaced by the circuit.

Logits are laid out as ``(p, p, C)``: ``logits[x, y, c]`` for every pair, ``C >= p`` classes
of which the first ``p`` are the residues 0..p-1. As in the paper, the measures use only
those ``p`` (the answers; a vocabulary's other tokens, such as ``=``, are dropped) and compute
cross-entropy in float64, where float32 rounds a loss below ~6e-8 to 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def fourier_basis(p: int) -> torch.Tensor:
    """Orthonormal real Fourier basis of functions on Z_p, one per row: (p, p).

    Row 0 is the constant; rows 2k-1 and 2k are cos and sin at frequency k = 1..(p-1)//2
    (for even p the last row is the cosine at the Nyquist frequency p/2).
    """
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, p // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * x / p))
        if 2 * k != p:  # sin at the Nyquist frequency is identically zero
            rows.append(torch.sin(2 * math.pi * k * x / p))
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()


def basis_frequencies(p: int) -> torch.Tensor:
    """The frequency k of each row of :func:`fourier_basis`: 0, 1, 1, 2, 2, ..."""
    return torch.tensor([0] + [k for k in range(1, p // 2 + 1) for _ in range(2 - (2 * k == p))])


def frequency_norms(embedding: torch.Tensor) -> torch.Tensor:
    """Norm of the embedding's component at each frequency 0..p//2: (p // 2 + 1,).

    ``embedding`` is (p, d): one row per number token (leave out ``=`` and other tokens).
    """
    p = embedding.shape[0]
    coefficients = fourier_basis(p).to(embedding) @ embedding  # (p, d), one row per basis wave
    squared = torch.zeros(p // 2 + 1, dtype=embedding.dtype, device=embedding.device)
    squared.index_add_(0, basis_frequencies(p).to(embedding.device), coefficients.pow(2).sum(1))
    return squared.sqrt()


def logit_frequency_energy(logits: torch.Tensor) -> torch.Tensor:
    """How much of the residue logits lies along cos/sin(w_k (x + y)), per frequency
    k = 0..p//2: the squared projections summed over both waves and the p residue classes,
    (p // 2 + 1,) in float64. The constant (k = 0) is left at zero: it carries each class's
    bias, not the circuit. Only these x + y directions are measured; a logit term in x or y
    alone, or in x - y, adds nothing here (see :func:`logit_variance_share` for the whole)."""
    logits = _residues(logits)
    p = logits.shape[0]
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).to(logits)  # x + y, (p, p)
    energy = torch.zeros(p // 2 + 1, dtype=logits.dtype, device=logits.device)
    for k in range(1, p // 2 + 1):
        for wave in (torch.cos, torch.sin):
            direction = wave(2 * math.pi * k * s / p)
            if direction.norm() < 1e-6:  # sin at the Nyquist frequency is zero
                continue
            direction = direction / direction.norm()
            energy[k] += torch.einsum("xy,xyc->c", direction, logits).pow(2).sum()
    return energy


def key_frequencies_explaining(energy: torch.Tensor, share: float = 0.9) -> list[int]:
    """The fewest frequencies, strongest first, that hold ``share`` of the x + y energy
    (:func:`logit_frequency_energy`, summed over k >= 1): as many as the model uses, not a
    fixed count. The share is of that x + y energy only, not of the logits' variance: a
    99% share here can be much less of the logits (:func:`logit_variance_share` says how
    much)."""
    if not 0 < share <= 1:
        raise ValueError(f"share = {share} must lie in (0, 1]")
    order = energy[1:].argsort(descending=True) + 1
    cumulative = energy[order].cumsum(0) / energy[1:].sum()
    count = int((cumulative < share).sum()) + 1
    return [int(k) for k in order[:count]]


def logit_variance_share(logits: torch.Tensor, frequencies: list[int]) -> float:
    """Share of the residue logits' variance over pairs (each class's logit table minus its
    mean over pairs) that lies along cos/sin(w_k (x + y)) at ``frequencies``: how much of
    the logits the key frequencies account for, where :func:`key_frequencies_explaining`'s
    share counts only the x + y part."""
    logits = _residues(logits)
    centered = logits - logits.mean(dim=(0, 1), keepdim=True)
    kept = sum_frequency_component(centered, frequencies)
    return float(kept.pow(2).sum() / centered.pow(2).sum())


def sum_frequency_component(logits: torch.Tensor, frequencies: list[int]) -> torch.Tensor:
    """The part of ``logits`` (p, p, C) spanned by cos(w_k (x + y)) and sin(w_k (x + y)).

    For each class c, the logit table over pairs is projected onto these unit directions in
    R^{p*p}; for distinct non-zero frequencies they are mutually orthogonal, so the
    projection is the sum of the one-direction projections.
    """
    p = logits.shape[0]
    s = (torch.arange(p)[:, None] + torch.arange(p)[None, :]).to(logits)  # x + y, (p, p)
    component = torch.zeros_like(logits)
    for k in frequencies:
        for wave in (torch.cos, torch.sin):
            direction = wave(2 * math.pi * k * s / p)
            direction = direction / direction.norm()
            weight = torch.einsum("xy,xyc->c", direction, logits)  # (C,)
            component += direction[:, :, None] * weight
    return component


def modular_addition_labels(p: int) -> torch.Tensor:
    """``(x + y) mod p`` for every pair: (p, p)."""
    return (torch.arange(p)[:, None] + torch.arange(p)[None, :]) % p


def restricted_loss(logits: torch.Tensor, frequencies: list[int]) -> float:
    """Cross-entropy over the p residue classes, on all pairs, when their logits keep only
    the key-frequency components.

    As in Nanda et al., each class keeps its mean logit over pairs (a bias the components,
    which average to zero, cannot carry).
    """
    logits = _residues(logits)
    kept = sum_frequency_component(logits, frequencies)
    kept = kept + (logits - kept).mean(dim=(0, 1), keepdim=True)
    return _loss(kept, modular_addition_labels(logits.shape[0]).to(logits.device))


def excluded_loss(logits: torch.Tensor, frequencies: list[int], train_mask: torch.Tensor) -> float:
    """Cross-entropy over the p residue classes on the training pairs (``train_mask``: (p, p)
    bool) once the key-frequency components are removed from the logits (they are computed
    over all pairs)."""
    logits = _residues(logits)
    removed = logits - sum_frequency_component(logits, frequencies)
    labels = modular_addition_labels(logits.shape[0]).to(logits.device)
    return _loss(removed[train_mask], labels[train_mask])


def _residues(logits: torch.Tensor) -> torch.Tensor:
    """The p residue classes' logits in float64: (p, p, C) -> (p, p, p)."""
    return logits[..., : logits.shape[0]].double()


def _loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)))
