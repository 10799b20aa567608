"""Centering statistics over training: names, known values on constructed models, no side
effects on the model they measure."""

import math

import pytest
import torch

from gptlab.analysis.centering_stats import attention_entropy, centering_statistics
from gptlab.nn import CenteringConfig, Transformer, TransformerConfig


def model(*sites, n_layer=2, n_head=2, **centering) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=11, block_size=8, n_layer=n_layer, n_head=n_head, n_embd=8,
        centering=CenteringConfig(sites, **centering),
    )  # fmt: skip
    return Transformer(config)


def tokens(batch=3, length=8) -> torch.Tensor:
    return torch.randint(0, 11, (batch, length), generator=torch.Generator().manual_seed(1))


def test_every_centering_module_temperature_and_layer_is_named():
    stats = centering_statistics(model("q", "k", "final", mode="adaptive"), tokens())
    for layer in (0, 1):
        for kind in ("q", "k"):
            assert f"center_ratio/blocks.{layer}.attn.{kind}_centering" in stats
            assert stats[f"strength/blocks.{layer}.attn.{kind}_centering"] == 1.0  # at init
        for head in (0, 1):
            assert stats[f"temperature/layer{layer}/head{head}"] == pytest.approx(2.0)  # sqrt(4)
        assert f"attention_entropy/layer{layer}" in stats
    assert "center_ratio/final_centering" in stats
    baseline = centering_statistics(model(), tokens())
    assert set(baseline) == {"attention_entropy/layer0", "attention_entropy/layer1"}


def test_center_ratio_is_strength_times_center_over_vector_norm():
    m = model("final", mode="learnable_center", strength=0.5)
    center = torch.arange(8.0)
    m.final_centering.center.data.copy_(center)
    stats = centering_statistics(m, tokens())
    vector_norms = m.trace(tokens()).centering_inputs["final_centering"][:, 1:].norm(dim=-1)
    expected = (0.5 * center.norm() / vector_norms).mean().item()
    assert stats["center_ratio/final_centering"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("centering", [dict(strength=0.0), dict(mode="momentum")])
def test_a_control_or_an_unfed_momentum_center_removes_nothing(centering):
    stats = centering_statistics(model("q", "k", **centering), tokens())
    ratios = [v for k, v in stats.items() if k.startswith("center_ratio/")]
    assert len(ratios) == 4 and all(r == 0.0 for r in ratios)


def test_measuring_leaves_mode_and_momentum_state_alone():
    m = model("final", mode="momentum").train()
    m(tokens())  # one training forward: the running center moves
    before = {k: v.clone() for k, v in m.state_dict().items()}
    centering_statistics(m, tokens())
    assert m.training
    for key, value in m.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_attention_entropy_of_uniform_causal_rows_is_the_mean_log_of_their_length():
    T = 5
    weights = torch.tril(torch.ones(T, T))
    weights = (weights / weights.sum(-1, keepdim=True)).expand(2, 3, T, T)
    expected = sum(math.log(t + 1) for t in range(T)) / T
    assert attention_entropy(weights) == pytest.approx(expected)
    one_hot = torch.eye(T).expand(1, 1, T, T)
    assert attention_entropy(one_hot) == pytest.approx(0.0, abs=1e-6)
