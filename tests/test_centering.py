"""VectorCentering: the math of each mode, norms, gradients, the momentum buffer."""

import math

import pytest
import torch

from gptlab.experiments.centering.variants import PLACEMENTS
from gptlab.nn import CenteringConfig, Transformer, TransformerConfig, VectorCentering
from gptlab.nn.centering import PrefixCenterNormalize, strict_prefix_mean


def centering(mode="simple", shape=(8,), output_norm=1.0, **fields) -> VectorCentering:
    return VectorCentering(shape, CenteringConfig(mode=mode, **fields), output_norm)


def test_strict_prefix_mean_is_the_mean_of_earlier_positions_only():
    x = torch.randn(2, 5, 3)
    expected = torch.stack([torch.zeros(2, 3)] + [x[:, :t].mean(dim=1) for t in range(1, 5)], dim=1)
    torch.testing.assert_close(strict_prefix_mean(x), expected)


def test_simple_mode_removes_the_prefix_mean_then_normalizes():
    x = torch.randn(3, 6, 8) + 5.0  # a large shared offset: strong anisotropy
    out = centering("simple")(x)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3, 6))
    centered = x - strict_prefix_mean(x)
    expected = centered / centered.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_a_center_equal_to_the_set_mean_leaves_zero_mean():
    x = torch.randn(4, 7, 8) + 3.0
    module = centering("learnable_center")
    with torch.no_grad():
        module.center.copy_(x.mean(dim=(0, 1)))
    centered = x - module.current_center(x)
    torch.testing.assert_close(centered.mean(dim=(0, 1)), torch.zeros(8), atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["simple", "adaptive", "learnable_center", "momentum"])
def test_strength_zero_is_pure_renormalization(mode):
    module = centering(mode, output_norm=4.0, strength=0.0)
    with torch.no_grad():
        if mode == "learnable_center":
            module.center.normal_()
        x = torch.randn(2, 5, 8)
        module.train()(x)  # gives the momentum center a value
        out = module.eval()(x)
    torch.testing.assert_close(out, 4.0 * x / x.norm(dim=-1, keepdim=True), atol=1e-5, rtol=1e-5)


def test_output_length_is_the_requested_norm_per_last_dimension():
    out = centering("simple", shape=(2, 4), output_norm=math.sqrt(16))(torch.randn(3, 5, 2, 4))
    torch.testing.assert_close(out.norm(dim=-1), torch.full((3, 5, 2), 4.0))


@pytest.mark.parametrize(
    "mode, learned",
    [
        ("simple", []),
        ("adaptive", ["strength"]),
        ("learnable_center", ["center"]),
        ("momentum", []),
    ],
)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_learnable_parameter_of_every_mode_gets_a_gradient(mode, learned, placement):
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=11,
        block_size=8,
        n_layer=2,
        n_head=2,
        n_embd=16,
        centering=CenteringConfig(PLACEMENTS[placement].sites, mode),
    )
    model = Transformer(config)
    idx = torch.randint(0, 11, (3, 8))
    model(idx, idx)[1].backward()
    names = [n for n, _ in model.named_parameters() if n.split(".")[-1] in learned]
    temperature = {"q", "k"} & set(PLACEMENTS[placement].sites)
    if temperature:
        names += [n for n, _ in model.named_parameters() if n.endswith("log_temperature")]
    assert len(names) >= (1 if learned or temperature else 0)
    for name, p in model.named_parameters():
        if name in names:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_qk_temperature_starts_at_sqrt_head_size():
    config = TransformerConfig(
        vocab_size=11, block_size=8, n_head=2, n_embd=32, centering=CenteringConfig(("q", "k"))
    )
    attention = Transformer(config).blocks[0].attn
    torch.testing.assert_close(attention.log_temperature.exp(), torch.full((2, 1, 1), 4.0))


def test_momentum_center_is_used_before_it_is_updated_and_frozen_in_eval():
    module = centering("momentum", momentum=0.9)
    a, b = torch.randn(2, 3, 8) + 1.0, torch.randn(2, 3, 8) - 1.0
    out_a = module.train()(a)
    # no center before the first batch: a batch never centers itself
    torch.testing.assert_close(out_a, a / a.norm(dim=-1, keepdim=True))
    # after one update the bias-corrected EMA equals that batch's mean
    torch.testing.assert_close(module.current_center(b), a.mean(dim=(0, 1)))
    module.train()(b)
    ema = (0.9 * 0.1 * a.mean(dim=(0, 1)) + 0.1 * b.mean(dim=(0, 1))) / (1 - 0.9**2)
    torch.testing.assert_close(module.current_center(b), ema)
    before = module.running_center.clone()
    module.eval()(torch.randn(4, 3, 8))
    torch.testing.assert_close(module.running_center, before)  # eval never updates
    assert module.num_updates.item() == 2


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(mode="median"), "centering mode 'median'"),
        (dict(strength=1.5), "strength 1.5"),
        (dict(momentum=1.0), "momentum 1.0"),
        (dict(eps=0.0), "eps 0.0"),
    ],
)
def test_bad_centering_config_is_named(fields, message):
    with pytest.raises(ValueError, match=message):
        CenteringConfig(**fields)


@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (3, 6, 7)], ids=["qk-shaped", "residual-shaped"])
@pytest.mark.parametrize("learned_strength", [False, True], ids=["simple", "adaptive"])
def test_the_written_out_backward_of_prefix_centering_matches_finite_differences(
    shape, learned_strength
):
    x = torch.randn(*shape, dtype=torch.double, requires_grad=True)
    strength = torch.tensor(0.7, dtype=torch.double, requires_grad=learned_strength)
    assert torch.autograd.gradcheck(
        lambda x, s: PrefixCenterNormalize.apply(x, s, 2.0, 1e-6), (x, strength)
    )


def test_prefix_centering_equals_the_plain_formula_in_bfloat16_too():
    x = torch.randn(2, 40, 8) + 3.0
    centered = x - strict_prefix_mean(x)
    expected = centered / centered.norm(dim=-1, keepdim=True)
    out = centering("simple")(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=2e-2, rtol=2e-2)
