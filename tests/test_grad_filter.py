"""Grokfast EMA gradient filter: known values, identity at lamb = 0, checkpoint round trip,
stacked models, and input validation."""

import math

import pytest
import torch

from gptlab.train.grad_filter import EmaGradFilter


def param_with(grad):
    p = torch.nn.Parameter(torch.zeros_like(grad))
    p.grad = grad.clone()
    return p


def test_two_steps_match_the_formula():
    g1, g2 = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.5])
    p = param_with(g1)
    f = EmaGradFilter([p], alpha=0.9, lamb=2.0)
    f.apply()  # ema = g1, grad = g1 + 2 g1
    torch.testing.assert_close(p.grad, torch.tensor([3.0, -6.0]))
    p.grad = g2.clone()
    f.apply()  # ema = 0.9 g1 + 0.1 g2 = [1.2, -1.75]; grad = g2 + 2 ema
    torch.testing.assert_close(f.ema[0], torch.tensor([1.2, -1.75]))
    torch.testing.assert_close(p.grad, torch.tensor([5.4, -3.0]))


def test_alpha_zero_makes_the_ema_the_current_gradient():
    p = param_with(torch.tensor([1.0]))
    f = EmaGradFilter([p], alpha=0.0, lamb=1.0)
    f.apply()
    p.grad = torch.tensor([4.0])
    f.apply()
    torch.testing.assert_close(p.grad, torch.tensor([8.0]))


def test_lamb_zero_leaves_gradients_unchanged():
    torch.manual_seed(0)
    p = param_with(torch.randn(3, 4))
    f = EmaGradFilter([p], alpha=0.98, lamb=0.0)
    for _ in range(3):
        g = torch.randn(3, 4)
        p.grad = g.clone()
        f.apply()
        assert torch.equal(p.grad, g)


def test_parameters_without_gradient_are_skipped_until_they_get_one():
    a, b = param_with(torch.ones(2)), torch.nn.Parameter(torch.zeros(2))
    f = EmaGradFilter(iter([a, b]), alpha=0.5, lamb=1.0)  # a generator works too
    f.apply()
    assert b.grad is None and set(f.ema) == {0}
    b.grad = torch.tensor([2.0, 2.0])
    f.apply()
    torch.testing.assert_close(b.grad, torch.tensor([4.0, 4.0]))  # first grad of b: doubled


def run(f, params, grads):
    out = []
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = g.clone()
        f.apply()
        out.append([p.grad.clone() for p in params])
    return out


def test_state_round_trip_continues_identically(tmp_path):
    torch.manual_seed(1)
    grads = [[torch.randn(2, 3), torch.randn(5)] for _ in range(5)]
    params = [param_with(g) for g in grads[0]]
    f = EmaGradFilter(params, alpha=0.9, lamb=3.0)
    run(f, params, grads[:3])
    torch.save(f.state_dict(), tmp_path / "filter.pt")
    state = torch.load(tmp_path / "filter.pt", weights_only=True)

    fresh_params = [param_with(g) for g in grads[0]]
    resumed = EmaGradFilter(fresh_params, alpha=0.5, lamb=0.0)  # hyperparameters come back too
    resumed.load_state_dict(state)
    assert (resumed.alpha, resumed.lamb) == (0.9, 3.0)
    expected = run(f, params, grads[3:])
    got = run(resumed, fresh_params, grads[3:])
    for e, g in zip(expected, got, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(e, g, strict=True))


def test_state_dict_is_a_copy():
    p = param_with(torch.ones(2))
    f = EmaGradFilter([p], alpha=0.5, lamb=1.0)
    f.apply()
    state = f.state_dict()
    f.apply()
    torch.testing.assert_close(state["ema"][0], torch.ones(2))


def test_loading_a_state_of_other_parameters_fails():
    f = EmaGradFilter([param_with(torch.ones(3))], alpha=0.5, lamb=1.0)
    with pytest.raises(ValueError, match="shape"):
        f.load_state_dict({"alpha": 0.5, "lamb": 1.0, "ema": {0: torch.ones(4)}})
    with pytest.raises(ValueError, match="alpha"):
        f.load_state_dict({"alpha": 1.0, "lamb": 1.0, "ema": {}})


def test_stacked_parameter_is_filtered_like_each_model_alone():
    torch.manual_seed(2)
    k = 4
    grads = [torch.randn(k, 3, 5) for _ in range(4)]
    stacked = param_with(grads[0])
    together = run(EmaGradFilter([stacked], 0.8, 2.5), [stacked], [[g] for g in grads])
    for model in range(k):
        alone = param_with(grads[0][model])
        separate = run(EmaGradFilter([alone], 0.8, 2.5), [alone], [[g[model]] for g in grads])
        for t, s in zip(together, separate, strict=True):
            torch.testing.assert_close(t[0][model], s[0], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("alpha", "lamb", "named"),
    [(1.0, 1.0, "1.0"), (-0.1, 1.0, "-0.1"), (math.nan, 1.0, "nan"),
     (0.5, -1.0, "-1.0"), (0.5, math.inf, "inf")],
)  # fmt: skip
def test_invalid_hyperparameters_are_named(alpha, lamb, named):
    with pytest.raises(ValueError, match=named):
        EmaGradFilter([], alpha=alpha, lamb=lamb)


def test_under_adam_a_steady_gradient_makes_the_filter_a_weaker_l2_term():
    """The confound benchmarks/grokfast_speedup.py controls for: Adam adds its L2 term after
    the filter and is blind to the gradient's scale, so with a constant data gradient the
    filter (lambda) is exactly L2 / (1 + lambda) without it."""
    data_gradient = torch.tensor([0.3, -1.0, 0.02])

    def trajectory(lamb: float, weight_decay: float) -> torch.Tensor:
        w = torch.nn.Parameter(torch.tensor([2.0, -1.5, 0.7]))
        optimizer = torch.optim.Adam([w], lr=0.05, weight_decay=weight_decay, eps=1e-12)
        ema = EmaGradFilter([w], alpha=0.9, lamb=lamb)
        for _ in range(50):
            w.grad = data_gradient.clone()
            ema.apply()
            optimizer.step()
        return w.detach()

    filtered = trajectory(lamb=5.0, weight_decay=0.3)
    torch.testing.assert_close(filtered, trajectory(lamb=0.0, weight_decay=0.3 / 6))
    assert not torch.allclose(filtered, trajectory(lamb=0.0, weight_decay=0.3))
