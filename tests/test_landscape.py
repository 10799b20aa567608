"""Loss landscape: filter-normalized directions, the loss grid around the parameters, and
its figures (data-driven scale, one orientation, shared scale across epochs)."""

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mpl_toolkits.mplot3d import Axes3D
from torch import nn

from gptlab.analysis.landscape import (
    filter_normalize,
    loss_surface,
    parameters_of,
    random_directions,
)
from gptlab.experiments.grokking import PRESETS, build_model
from gptlab.plots.landscape import loss_range, plot_landscape, plot_landscape_evolution


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
    data = config.task.build()
    torch.manual_seed(0)
    model = build_model(config)
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


# --- figures --------------------------------------------------------------------------------


def panel(fig, title):
    return next(ax for ax in fig.axes if ax.get_title() == title)


def rising_along_direction_1(resolution=9):
    """``losses[i, j]`` depends on direction 1 (i) only, from 0.05 to 5."""
    coords = np.linspace(-1, 1, resolution)
    return coords, np.tile(np.geomspace(0.05, 5, resolution)[:, None], (1, resolution))


def pixels(fig, ax):
    """RGB of the inner 80% of ``ax`` as drawn, rows top to bottom."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:, :, :3].astype(float)
    box = ax.get_window_extent()
    height = image.shape[0]
    x0, x1 = int(box.x0 + 0.1 * box.width), int(box.x1 - 0.1 * box.width)
    top, bottom = int(height - box.y1 + 0.1 * box.height), int(height - box.y0 - 0.1 * box.height)
    return image[top:bottom, x0:x1]


def test_colour_and_z_scale_come_from_the_data():
    coords, _ = rising_along_direction_1()
    losses = np.exp(np.random.default_rng(0).uniform(np.log(0.02), np.log(7.3), (9, 9)))
    fig = plot_landscape(coords, losses, title="t")
    mesh = panel(fig, "heat map").collections[0]
    assert (mesh.norm.vmin, mesh.norm.vmax) == (losses.min(), losses.max())
    assert np.allclose(panel(fig, "surface").get_zlim(), np.log10([losses.min(), losses.max()]))
    assert any(ax.get_ylabel() == "training loss (log scale)" for ax in fig.axes)  # colour bar
    given = plot_landscape(coords, losses, vmin=1e-3, vmax=10.0)
    assert panel(given, "heat map").collections[0].norm.vmin == 1e-3


def test_loss_range_of_flat_and_invalid_grids():
    assert loss_range(np.full((3, 3), 0.5)) == (0.25, 1.0)  # a log scale needs some width
    assert loss_range(np.array([0.0, 0.1, np.inf, 2.0])) == (0.1, 2.0)
    with pytest.raises(ValueError, match="vmin"):
        loss_range(np.ones(2), vmin=3.0, vmax=2.0)


def test_surface_and_heat_map_put_direction_1_on_x(monkeypatch):
    surfaces = []  # what plot_surface is given: (X, Y, Z), the public way to read it back
    draw = Axes3D.plot_surface
    monkeypatch.setattr(
        Axes3D, "plot_surface", lambda ax, *a, **k: surfaces.append(a) or draw(ax, *a, **k)
    )
    coords, losses = rising_along_direction_1()
    fig = plot_landscape(coords, losses)
    heat, surface = panel(fig, "heat map"), panel(fig, "surface")
    for ax in (heat, surface):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("direction 1", "direction 2")
    # the drawn heat map changes colour left to right and not bottom to top
    rgb = pixels(fig, heat)
    assert rgb.std(axis=1).mean() > 10 * rgb.std(axis=0).mean()
    # the plotted data: the value rises with x and is constant along y
    mesh = heat.collections[0]
    x = mesh.get_coordinates()[..., 0]
    assert_follows_x(x, np.asarray(mesh.get_array()).reshape(x.shape))
    # the surface: its height rises with x and is constant along y, the same way
    ((x, _, z),) = surfaces
    assert_follows_x(x, z)


def assert_follows_x(x, values):
    """``values`` on a meshgrid rise with ``x`` and do not change where ``x`` is the same."""
    if np.ptp(x[0]):  # x varies along axis 1: make rows index x
        x, values = x.T, values.T
    assert np.ptp(x, axis=1).max() == 0 and np.ptp(values, axis=1).max() == 0
    assert np.all(np.diff(values[np.argsort(x[:, 0]), 0]) > 0)


def test_evolution_panels_share_one_data_scale_and_have_labelled_axes():
    coords, base = rising_along_direction_1()
    epochs = [1, 10, 100, 1000]
    losses = np.stack([base * s for s in (4.0, 1.0, 0.1, 0.02)])
    titles = [f"epoch {e}\ntrain 1.00, test 0.{k}" for k, e in enumerate(epochs)]
    fig = plot_landscape_evolution(coords, losses, epochs, title="run", titles=titles)
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "direction 1"]
    assert [ax.get_title() for ax in panels] == titles
    assert panels[0].get_ylabel() == "direction 2"
    limits = {(ax.collections[0].norm.vmin, ax.collections[0].norm.vmax) for ax in panels}
    assert limits == {(losses.min(), losses.max())}
    assert all(len(ax.get_xticks()) and len(ax.get_yticks()) for ax in panels)
    assert any(ax.get_ylabel() == "training loss (log scale)" for ax in fig.axes)  # colour bar
    with pytest.raises(ValueError, match="titles"):
        plot_landscape_evolution(coords, losses, epochs, titles=titles[:2])


def test_evolution_scale_is_that_of_the_shown_panels_and_titles_default_to_the_epoch():
    coords, base = rising_along_direction_1()
    epochs = [1, 2, 3, 1000]
    losses = np.stack([base * s for s in (1.0, 100.0, 1.0, 0.5)])
    fig = plot_landscape_evolution(coords, losses, epochs, panels=2)  # epochs 1 and 1000
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "direction 1"]
    assert [ax.get_title() for ax in panels] == ["epoch 1", "epoch 1000"]
    assert panels[0].collections[0].norm.vmax == base.max()  # epoch 2's 100x is not shown
