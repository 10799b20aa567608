"""Sharpness of the loss at the current parameters: Hessian-vector products, the top Hessian
eigenvalue (Lanczos), the Hessian trace (Hutchinson), and the adaptive top eigenvalue, which
does not change when weights the loss is invariant to the scale of are rescaled.

The Hessian of even a small transformer has ~10^5 rows, so it is never formed: every
quantity here needs only products ``H v``. :func:`hessian_vector_product` builds the gradient
graph once (one forward and backward pass) and then answers each ``H v`` with one more
backward pass through it (Pearlmutter's trick via double backward).

All vectors are flat: one 1-D tensor over every parameter, in the order of ``params``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

HVP = Callable[[torch.Tensor], torch.Tensor]


def hessian_vector_product(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> HVP:
    """``v -> H v`` for the Hessian of the scalar ``loss`` w.r.t. ``params`` (flat vectors).

    ``loss`` must have been computed from ``params`` with autograd on. Models whose
    attention uses a fused kernel without double backward should compute ``loss`` through
    an explicit path (e.g. ``model.trace``).
    """
    params = list(params)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])

    def hvp(vector: torch.Tensor) -> torch.Tensor:
        # d(g . v)/dparams = H v; the graph of g is kept for the next product. The result goes
        # back to the vector's device: random vectors are drawn on the CPU, so one seed gives
        # the same estimate whether the model sits on a CPU or a GPU.
        v = vector.to(flat_grad)
        products = torch.autograd.grad(flat_grad, params, grad_outputs=v, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in products]).detach().to(vector)

    return hvp


def lanczos(
    hvp: HVP, dim: int, steps: int = 20, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Ritz values (ascending) of a symmetric operator after ``steps`` Lanczos iterations.

    The extreme Ritz values converge first, so ``lanczos(...)[-1]`` is the top eigenvalue.
    Unlike power iteration, this is the largest *algebraic* eigenvalue even when a negative
    eigenvalue has a larger magnitude (common away from a minimum). Full re-orthogonalization
    keeps the basis orthogonal in float32; it costs ``steps`` stored vectors.
    """
    steps = min(steps, dim)
    q = torch.randn(dim, generator=generator)
    basis = [q / q.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    for i in range(steps):
        w = hvp(basis[i]).double()
        alphas.append(float(w @ basis[i].double()))
        stacked = torch.stack(basis).double()  # (i+1, dim)
        for _ in range(2):  # one more pass repairs what float rounding lost ("twice is enough")
            w = w - stacked.T @ (stacked @ w)
        beta = float(w.norm())
        if i == steps - 1 or beta < 1e-10:  # converged: the Krylov space is invariant
            break
        betas.append(beta)
        basis.append((w / beta).float())
    k = len(alphas)
    tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    off = torch.tensor(betas[: k - 1], dtype=torch.float64)
    tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigvalsh(tridiagonal)


def hutchinson_trace(
    hvp: HVP, dim: int, samples: int = 10, generator: torch.Generator | None = None
) -> float:
    """Unbiased estimate of tr(H): the mean of z^T H z over Rademacher vectors z."""
    total = 0.0
    for _ in range(samples):
        z = torch.randint(0, 2, (dim,), generator=generator).float() * 2 - 1
        total += float(z @ hvp(z))
    return total / samples


def sharpness(
    loss: torch.Tensor,
    params: Sequence[torch.Tensor],
    lanczos_steps: int = 20,
    trace_samples: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """Top Hessian eigenvalue and Hutchinson trace of ``loss`` at ``params``."""
    params = list(params)
    hvp = hessian_vector_product(loss, params)
    dim = sum(p.numel() for p in params)
    generator = torch.Generator().manual_seed(seed)
    ritz = lanczos(hvp, dim, lanczos_steps, generator)
    return {
        "hessian_top_eig": float(ritz[-1]),
        "hessian_trace": hutchinson_trace(hvp, dim, trace_samples, generator),
    }


def adaptive_top_eigenvalue(
    loss: torch.Tensor, params: Sequence[torch.Tensor], lanczos_steps: int = 20, seed: int = 0
) -> float:
    """Top eigenvalue of diag(|w|) H diag(|w|): the Hessian in coordinates relative to each
    weight's size (adaptive sharpness, Kwon et al. 2021; Andriushchenko et al. 2023).

    Where the loss does not change when a group of weights is scaled by c (weights that only
    feed a LayerNorm, such as every writer of a pre-LN residual stream), the Hessian there
    scales as 1/c^2 and its cross terms as 1/c, while diag(|w|) scales by c on each side: this
    eigenvalue stays the same, where the plain one grows as weight decay shrinks the weights."""
    params = list(params)
    hvp = hessian_vector_product(loss, params)
    # on the CPU, as the random vectors are: the same seed gives the same estimate anywhere
    size = torch.cat([p.detach().abs().reshape(-1) for p in params]).cpu()
    generator = torch.Generator().manual_seed(seed)
    ritz = lanczos(lambda v: size * hvp(size * v), size.numel(), lanczos_steps, generator)
    return float(ritz[-1])


def nearest_on_log_scale(values: Sequence[float], candidates: Sequence[float]) -> list[int]:
    """For each of ``values``, the index of the candidate closest to it in log space (losses
    span orders of magnitude: 1e-3 is as far from 1e-2 as 1e-2 from 1e-1)."""
    if not candidates:
        raise ValueError("nearest_on_log_scale needs at least one candidate")
    logs = np.log(np.asarray(candidates, dtype=float))
    return [int(np.argmin(np.abs(logs - math.log(v)))) for v in values]
