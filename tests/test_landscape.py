"""Loss landscape: filter-normalized directions and the loss grid around the parameters."""

import numpy as np
import torch
from torch import nn

from gptlab.analysis.landscape import (
    filter_normalize,
    loss_surface,
    parameters_of,
    random_directions,
)
from gptlab.experiments.grok import PRESETS, build_data, build_model


class Regression(nn.Module):
    """``(inputs, targets) -> (prediction, mean squared error)``, like the transformer."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, inputs, targets):
        out = self.linear(inputs)
        return out, ((out - targets) ** 2).mean()


def test_filter_normalization_matches_each_row_norm_and_zeroes_1d_parameters():
    params = {"w": torch.randn(4, 5) * 3, "e": torch.randn(2, 3, 3), "b": torch.randn(4)}
    (d,) = random_directions(params, seed=0, count=1)
    n = filter_normalize(d, params)
    assert torch.allclose(n["w"].norm(dim=1), params["w"].norm(dim=1))
    assert torch.allclose(n["e"].flatten(1).norm(dim=1), params["e"].flatten(1).norm(dim=1))
    assert torch.equal(n["b"], torch.zeros(4))


def test_directions_are_fixed_by_the_seed():
    params = {"w": torch.zeros(3, 3)}
    a, b = random_directions(params, seed=5), random_directions(params, seed=5)
    assert all(torch.equal(x["w"], y["w"]) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0]["w"], a[1]["w"])


def test_surface_is_centred_on_the_current_loss_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = Regression().train()
    x, y = torch.randn(16, 3), torch.randn(16, 2)
    before = {k: v.clone() for k, v in parameters_of(model).items()}
    params = parameters_of(model)
    coords, grid = loss_surface(model, params, random_directions(params, 1), x, y, 0.5, 5)
    assert np.allclose(coords, [-0.5, -0.25, 0, 0.25, 0.5]) and grid.shape == (5, 5)
    assert np.isclose(grid[2, 2], model(x, y)[1].item())
    assert grid.min() < grid.max()  # the directions move the weight matrix
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in parameters_of(model).items())


def test_surface_point_is_the_loss_at_the_shifted_parameters():
    torch.manual_seed(1)
    model = Regression()
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    params = parameters_of(model)
    directions = random_directions(params, 2)
    coords, grid = loss_surface(model, params, directions, x, y, 1.0, 3)
    d1, d2 = (filter_normalize(d, params) for d in directions)
    w = params["linear.weight"] + 1.0 * d1["linear.weight"] - 1.0 * d2["linear.weight"]
    expected = (((x @ w.T + params["linear.bias"]) - y) ** 2).mean()
    assert np.isclose(grid[2, 0], expected.item(), rtol=1e-5)


def test_points_per_call_does_not_change_the_transformer_surface():
    config = PRESETS["smoke"]
    data = build_data(config)
    torch.manual_seed(0)
    model = build_model(config, data.vocab_size)
    params = parameters_of(model)
    directions = random_directions(params, 0)
    x, y = data.train_inputs[:16], data.train_targets[:16]
    _, one_by_one = loss_surface(model, params, directions, x, y, 1.0, 4, points_per_call=1)
    _, in_fives = loss_surface(model, params, directions, x, y, 1.0, 4, points_per_call=5)
    np.testing.assert_allclose(in_fives, one_by_one, rtol=1e-5)
    # the middle of an even grid is not a grid point; a corner is checked directly instead
    d1, d2 = (filter_normalize(d, params) for d in directions)
    corner = {n: p - d1[n] - d2[n] for n, p in params.items()}
    expected = torch.func.functional_call(model.eval(), corner, (x, y))[1].item()
    assert np.isclose(one_by_one[0, 0], expected, rtol=1e-5)
