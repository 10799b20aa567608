"""Fourier progress measures on constructed embeddings and logits with known frequencies."""

import math

import pytest
import torch
import torch.nn.functional as F

from gptlab.analysis.fourier import (
    excluded_loss,
    fourier_basis,
    frequency_norms,
    key_frequencies_explaining,
    logit_frequency_energy,
    logit_variance_share,
    modular_addition_labels,
    restricted_loss,
)

P = 13


def wave(k: int, phase: float = 0.0) -> torch.Tensor:
    return torch.cos(2 * math.pi * k * torch.arange(P) / P + phase)


def circuit_logits(frequencies: list[int], scale: float = 8.0) -> torch.Tensor:
    """Logits of the grokked algorithm: sum_k cos(w_k (x + y - c)), peaked at c = x + y."""
    x, y, c = torch.meshgrid(torch.arange(P), torch.arange(P), torch.arange(P), indexing="ij")
    return scale * sum(torch.cos(2 * math.pi * k * (x + y - c) / P) for k in frequencies)


@pytest.mark.parametrize("p", [7, 8, 13])
def test_basis_is_orthonormal_for_odd_and_even_p(p):
    basis = fourier_basis(p)
    torch.testing.assert_close(basis @ basis.T, torch.eye(p), atol=1e-5, rtol=0)


def test_embedding_with_one_frequency_has_all_its_norm_there():
    embedding = torch.zeros(P, 6)
    embedding[:, 0] = 3 * wave(4)
    embedding[:, 1] = 2 * wave(4, phase=1.0)
    norms = frequency_norms(embedding)
    assert norms.shape == (P // 2 + 1,)
    assert norms[4] == pytest.approx(float(embedding.norm()), rel=1e-5)
    assert norms[[0, 1, 2, 3, 5, 6]].abs().max() < 1e-4


def test_key_frequencies_come_from_the_logits_as_many_as_hold_the_share():
    # three frequencies of unequal strength, plus a constant per class (a bias, not circuit)
    logits = circuit_logits([2]) + 0.8 * circuit_logits([5]) + 0.3 * circuit_logits([6]) + 4.0
    energy = logit_frequency_energy(logits)
    assert energy.shape == (P // 2 + 1,) and energy[0] == 0
    assert energy[[1, 3, 4]].max() < 1e-3 * energy[2]
    assert key_frequencies_explaining(energy, 0.5) == [2]
    assert key_frequencies_explaining(energy, 0.9) == [2, 5]
    assert key_frequencies_explaining(energy, 0.99) == [2, 5, 6]
    with pytest.raises(ValueError, match="share = 0 must lie in"):
        key_frequencies_explaining(energy, 0)


def test_restricted_loss_keeps_a_circuit_at_the_key_frequencies():
    logits = circuit_logits([2, 5])
    labels = modular_addition_labels(P).flatten()
    full = float(F.cross_entropy(logits.double().reshape(-1, P), labels))  # float64, as the paper
    # (float32 cross-entropy is 1.1e-4 off here; the projection of the float32 logits, 1e-6)
    assert restricted_loss(logits, [2, 5]) == pytest.approx(full, rel=1e-5)
    # keeping only one of the two frequencies loses half the margin: the loss goes up
    assert restricted_loss(logits, [2]) > full + 0.1
    # a wrong frequency keeps nothing but the per-class bias: uniform logits
    assert restricted_loss(logits, [3]) == pytest.approx(math.log(P), rel=1e-4)


def test_excluded_loss_removes_the_circuit_but_not_memorized_noise():
    train_mask = torch.rand(P, P, generator=torch.Generator().manual_seed(0)) < 0.5
    labels = modular_addition_labels(P)
    assert excluded_loss(circuit_logits([2, 5]), [2, 5], train_mask) == pytest.approx(
        math.log(P), rel=1e-4
    )
    # memorization: a lookup table of the training answers (zero elsewhere) spreads over all
    # frequencies, so removing two of them barely changes the training loss
    table = 10 * F.one_hot(labels, P).float() * train_mask[:, :, None]
    train_loss = float(F.cross_entropy(table[train_mask], labels[train_mask]))
    assert excluded_loss(table, [2, 5], train_mask) < train_loss + 0.05


def with_equals_class(logits: torch.Tensor, value: float) -> torch.Tensor:
    """The logits with one more class, the ``=`` token's, at ``value`` for every pair."""
    return torch.cat([logits, torch.full((P, P, 1), value)], dim=-1)


# a margin of 25 over 12 wrong classes: log(1 + 12 e^-25) = 1.66655326e-10 (float64 log1p);
# with the '=' class at 0 counted it would be log(1 + 13 e^-25) = 1.8054e-10, and float32
# cross-entropy rounds either to 0
MARGIN_LOSS = 1.66655326e-10


def test_losses_score_the_p_residues_only_in_float64():
    table = 25 * F.one_hot(modular_addition_labels(P), P).float()
    # the table depends on x + y only, so every frequency keeps all of it
    everything = list(range(1, P // 2 + 1))
    assert float(F.cross_entropy(table.reshape(-1, P), modular_addition_labels(P).flatten())) == 0
    assert restricted_loss(table, everything) == pytest.approx(MARGIN_LOSS, rel=1e-6)
    assert restricted_loss(with_equals_class(table, 0.0), everything) == pytest.approx(
        MARGIN_LOSS, rel=1e-6
    )
    train_mask = torch.rand(P, P, generator=torch.Generator().manual_seed(1)) < 0.5
    # an '=' logit above every answer would dominate the loss (~5) were it a class
    assert excluded_loss(with_equals_class(table, 30.0), [], train_mask) == pytest.approx(
        MARGIN_LOSS, rel=1e-6
    )


def test_frequency_energy_ignores_the_equals_class():
    logits = circuit_logits([2, 5])
    equals = 3.0 * torch.cos(2 * math.pi * 4 * (torch.arange(P)[:, None] + torch.arange(P)) / P)
    extended = torch.cat([logits, equals[:, :, None]], dim=-1)  # '=' logit at frequency 4
    torch.testing.assert_close(logit_frequency_energy(extended), logit_frequency_energy(logits))
    assert logit_frequency_energy(extended)[4] < 1e-6


def test_the_x_plus_y_share_is_not_the_share_of_the_logits():
    # the circuit at frequency 2 plus a term in x alone of equal size: all of the x + y
    # energy is at 2, but it holds only half of the logits' variance
    x = torch.arange(P)[:, None, None].float()
    c = torch.arange(P)[None, None, :].float()
    logits = circuit_logits([2]) + 8.0 * torch.cos(2 * math.pi * 3 * (x - c) / P).expand(P, P, P)
    assert key_frequencies_explaining(logit_frequency_energy(logits), 0.99) == [2]
    assert logit_variance_share(logits, [2]) == pytest.approx(0.5, abs=1e-6)
    assert logit_variance_share(circuit_logits([2, 5]), [2, 5]) == pytest.approx(1.0)
