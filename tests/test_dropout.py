"""The fast CPU dropout: right keep rate, unbiased, reproducible, per-model under vmap."""

import pytest
import torch
from torch.func import vmap

from gptlab.nn.dropout import Dropout, dropout, keep_mask


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_keep_rate_is_one_minus_p(p):
    torch.manual_seed(0)
    x = torch.empty(64, 1000, 37)  # a last dimension not divisible by 4
    kept = keep_mask(x, p).float().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.002)  # 2.4M draws: sd < 3e-4


def test_every_position_of_the_last_dimension_is_random():
    # the four 16-bit quarters of a 64-bit word must all be uniform draws
    torch.manual_seed(0)
    per_position = keep_mask(torch.empty(20000, 8), 0.5).float().mean(0)
    torch.testing.assert_close(per_position, torch.full((8,), 0.5), atol=0.02, rtol=0)


def test_dropout_is_unbiased_and_zeroes_or_scales():
    torch.manual_seed(0)
    y = dropout(torch.ones(100_000), 0.2, True)
    assert torch.unique(y).tolist() == [0.0, pytest.approx(32768 / (32768 - 6554))]
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_identity_in_eval_or_at_p_zero_and_reproducible_from_the_seed():
    x = torch.randn(4, 5)
    assert dropout(x, 0.3, False) is x
    assert dropout(x, 0.0, True) is x
    torch.manual_seed(3)
    a = dropout(x, 0.3, True)
    torch.manual_seed(3)
    torch.testing.assert_close(dropout(x, 0.3, True), a)


def test_gradient_flows_through_the_kept_elements_only():
    x = torch.randn(50, 40, requires_grad=True)
    y = dropout(x, 0.5, True)
    y.sum().backward()
    kept = y != 0
    torch.testing.assert_close(x.grad[kept], torch.full_like(x.grad[kept], 2.0))
    assert torch.all(x.grad[~kept] == 0)


def test_models_under_vmap_draw_different_masks():
    x = torch.ones(2, 100, 64)
    out = vmap(lambda t: dropout(t, 0.5, True), randomness="different")(x)
    assert not torch.equal(out[0] == 0, out[1] == 0)


def test_module_refuses_p_outside_zero_one():
    with pytest.raises(ValueError, match="dropout p = 1.0"):
        Dropout(1.0)


def test_a_transposed_input_gets_a_mask_of_its_own_shape():
    x = torch.ones(64, 50).t()  # last dimension not contiguous
    y = dropout(x, 0.3, True)
    assert y.shape == (50, 64)
    scaled = torch.tensor(32768 / (32768 - 9830))  # the survivors' float32 scale
    assert torch.all((y == 0) | (y == scaled))
