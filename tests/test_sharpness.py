"""Sharpness: Hessian-vector products, Lanczos and Hutchinson against an explicit Hessian."""

import pytest
import torch
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from gptlab.analysis.sharpness import (
    adaptive_top_eigenvalue,
    hessian_vector_product,
    hutchinson_trace,
    lanczos,
    sharpness,
)
from gptlab.nn import Transformer, TransformerConfig


@pytest.fixture(scope="module")
def tiny_problem():
    """A tiny one-layer transformer on a modular-addition batch, and its explicit Hessian."""
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=6, block_size=3, n_head=2, n_embd=4, d_ff=8, activation="relu"
    )
    model = Transformer(config).double()
    x, y = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    idx = torch.stack([x.flatten(), y.flatten(), torch.full((25,), 5)], dim=1)
    targets = (x + y).flatten() % 5
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]
    sizes = [p.numel() for p in params]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        pieces = [c.view_as(p) for c, p in zip(flat.split(sizes), params, strict=True)]
        logits = functional_call(model, dict(zip(names, pieces, strict=True)), (idx,))[0]
        return torch.nn.functional.cross_entropy(logits[:, -1], targets)

    flat = torch.cat([p.flatten() for p in params])
    with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention kernel has no double backward
        hessian = torch.autograd.functional.hessian(loss_of, flat, vectorize=True)
    return model, _loss(model), hessian


def test_hessian_vector_product_matches_explicit_hessian(tiny_problem):
    model, loss, hessian = tiny_problem
    hvp = hessian_vector_product(loss, model.parameters())
    v = torch.randn(hessian.shape[0], dtype=torch.float64)
    torch.testing.assert_close(hvp(v), hessian @ v)


def test_lanczos_finds_the_top_and_bottom_eigenvalues(tiny_problem):
    model, loss, hessian = tiny_problem
    eigenvalues = torch.linalg.eigvalsh(hessian)
    hvp = hessian_vector_product(loss, model.parameters())
    ritz = lanczos(hvp, hessian.shape[0], steps=40)
    assert ritz[-1] == pytest.approx(float(eigenvalues[-1]), rel=1e-4)
    assert ritz[0] == pytest.approx(float(eigenvalues[0]), rel=1e-3)


def test_lanczos_reports_the_largest_algebraic_not_largest_magnitude_eigenvalue():
    matrix = torch.diag(torch.tensor([-10.0, 1.0, 2.0, 3.0]))
    ritz = lanczos(lambda v: matrix @ v, 4, steps=4)
    torch.testing.assert_close(ritz.float(), torch.tensor([-10.0, 1.0, 2.0, 3.0]))


def test_hutchinson_is_exact_for_a_diagonal_and_averages_z_hz(tiny_problem):
    diagonal = torch.diag(torch.tensor([1.0, -2.0, 5.0]))
    assert hutchinson_trace(lambda v: diagonal @ v, 3, samples=3) == pytest.approx(4.0)
    model, loss, hessian = tiny_problem
    hvp = hessian_vector_product(loss, model.parameters())
    estimate = hutchinson_trace(hvp, hessian.shape[0], 5, torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(1)
    z = torch.randint(0, 2, (5, hessian.shape[0]), generator=generator).double() * 2 - 1
    assert estimate == pytest.approx(float(torch.einsum("si,ij,sj->", z, hessian, z) / 5), rel=1e-4)


def test_hutchinson_is_unbiased(tiny_problem):
    hessian = tiny_problem[2].float()
    estimate = hutchinson_trace(lambda v: hessian @ v, hessian.shape[0], 4000)
    # Var(z^T H z) = 2 * sum_{i != j} H_ij^2: the estimate lies within 4 standard errors
    off = hessian - torch.diag(torch.diag(hessian))
    standard_error = float((2 * (off**2).sum() / 4000).sqrt())
    assert abs(estimate - float(hessian.trace())) < 4 * standard_error


def test_sharpness_is_reproducible_and_matches_the_explicit_hessian(tiny_problem):
    model, _, hessian = tiny_problem
    first = sharpness(_loss(model), list(model.parameters()), lanczos_steps=40, seed=3)
    again = sharpness(_loss(model), list(model.parameters()), lanczos_steps=40, seed=3)
    assert first == again
    assert first["hessian_top_eig"] == pytest.approx(float(torch.linalg.eigvalsh(hessian)[-1]))


def test_adaptive_top_eigenvalue_is_that_of_the_size_scaled_hessian(tiny_problem):
    model, _, hessian = tiny_problem
    size = torch.cat([p.detach().abs().flatten() for p in model.parameters()])
    scaled = size[:, None] * hessian * size[None, :]
    measured = adaptive_top_eigenvalue(_loss(model), list(model.parameters()), 60)
    assert measured == pytest.approx(float(torch.linalg.eigvalsh(scaled)[-1]), rel=1e-4)


def test_adaptive_top_eigenvalue_ignores_the_scale_of_scale_invariant_weights():
    """A loss of the direction of w only (as of weights that feed a LayerNorm): shrinking w
    by 10 makes the plain top eigenvalue 100 times larger and leaves the adaptive one."""
    target = torch.tensor([0.3, -0.5, 0.8, 0.1], dtype=torch.float64)
    start = torch.tensor([1.0, 2.0, -0.5, 0.7], dtype=torch.float64)

    def measured(scale: float) -> tuple[float, float]:
        w = (scale * start).requires_grad_()
        loss = 1 - (w @ target) ** 2 / (w @ w)
        plain = sharpness(loss, [w], lanczos_steps=4)["hessian_top_eig"]
        return plain, adaptive_top_eigenvalue(1 - (w @ target) ** 2 / (w @ w), [w], 4)

    (plain, adaptive), (small_plain, small_adaptive) = measured(1.0), measured(0.1)
    assert small_plain == pytest.approx(100 * plain, rel=1e-6)
    assert small_adaptive == pytest.approx(adaptive, rel=1e-6)


def _loss(model: Transformer) -> torch.Tensor:
    """The loss through ``model.trace``: the fused CPU attention kernel has no double backward."""
    x, y = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    idx = torch.stack([x.flatten(), y.flatten(), torch.full((25,), 5)], dim=1)
    logits = model.trace(idx).logits
    return torch.nn.functional.cross_entropy(logits[:, -1], (x + y).flatten() % 5)
