"""A figure saved alone goes into a folder made for it; one drawing of a figure goes to both
the PNG file and TensorBoard; the grokking figures (spike and stability markers, attention
over training) draw what they are given."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from gptlab.plots.grokking import plot_accuracy_by_arm, plot_attention_evolution, plot_curves
from gptlab.plots.landscape import plot_landscape, plot_landscape_evolution
from gptlab.plots.output import save_and_log, save_figure


def test_save_figure_makes_the_folder_and_writes_the_figure_at_its_dpi(tmp_path):
    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "new" / "fig.png", dpi=50)
    assert imread(tmp_path / "new" / "fig.png").shape == (100, 150, 4)  # 2 x 3 in at 50 dpi
    save_figure(fig, tmp_path / "fig.png")  # the figures' usual resolution
    assert imread(tmp_path / "fig.png").shape == (220, 330, 4)


def test_png_and_tensorboard_image_have_the_figure_size(tmp_path):
    fig = Figure(figsize=(3, 2), layout="constrained")
    fig.subplots().plot([0, 1], [1, 0])
    writer = SummaryWriter(tmp_path / "tb")
    save_and_log(fig, tmp_path / "fig.png", writer, "demo", step=7, dpi=50)
    writer.close()
    assert imread(tmp_path / "fig.png").shape == (100, 150, 4)  # 2 x 3 inches at 50 dpi
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    (image,) = events.Images("demo")
    assert (image.step, image.height, image.width) == (7, 100, 150)


# --- grokking figures -----------------------------------------------------------------------


def curve_rows(n=12):
    return [
        {"epoch": 10 * (i + 1), "train_loss": 1.0 / (i + 1), "test_loss": 2.0 / (i + 1),
         "train_acc": min(1.0, 0.2 * i), "test_acc": min(1.0, 0.1 * i), "test_acc_unmirrored": None}
        for i in range(n)
    ]  # fmt: skip


def line_labelled(ax, label):
    return next(line for line in ax.get_lines() if line.get_label() == label)


def test_curves_keep_the_old_call_and_mark_spikes_and_the_stable_epoch():
    old = plot_curves(curve_rows(), 30, 60, title="run")
    assert all("spike" not in t.get_text() for ax in old.axes for t in ax.get_legend().texts)
    fig = plot_curves(curve_rows(), 30, 60, title="run", spike_epochs=[70, 100], stable_epoch=110)
    for ax in fig.axes:
        legend = [t.get_text() for t in ax.get_legend().texts]
        assert "generalized @ 60" in legend and "stable from 110" in legend
        assert "train-loss spike (2)" in legend  # one entry for all spikes
        spikes = [line for line in ax.get_lines() if line.get_color() == "tab:purple"]
        assert sorted(line.get_xdata()[0] for line in spikes) == [70, 100]
        stable, first = line_labelled(ax, "stable from 110"), line_labelled(ax, "generalized @ 60")
        assert (stable.get_color(), stable.get_ls()) != (first.get_color(), first.get_ls())


def attention_stack(epochs, n_layers=1, n_heads=2):
    rng = np.random.default_rng(0)
    return [rng.dirichlet(np.ones(3), size=(n_layers, n_heads, 3)) for _ in epochs]


def test_attention_evolution_draws_the_equals_row_per_head_on_one_scale():
    epochs = [10, 100, 1000]
    maps = attention_stack(epochs, n_layers=2, n_heads=2)
    titles = [f"{e}\ntest 0.{k}" for k, e in enumerate(epochs)]
    fig = plot_attention_evolution(maps, epochs, titles=titles)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4  # layers x heads
    for ax, (layer, head) in zip(panels, np.ndindex(2, 2), strict=True):
        (image,) = ax.images
        assert image.get_clim() == (0, 1)
        drawn = np.asarray(image.get_array())  # keys x epochs
        expected = np.stack([m[layer, head, 2] for m in maps], axis=1)
        np.testing.assert_allclose(drawn, expected)
        assert f"layer {layer} head {head}" in ax.get_ylabel()
        assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "="]
    assert [t.get_text() for t in panels[-1].get_xticklabels()] == titles
    assert panels[-1].get_xlabel() == "epoch"
    assert any("attention" in ax.get_ylabel() for ax in fig.axes if not ax.images)  # colour bar
    default = plot_attention_evolution(maps, epochs)
    bottom = [ax for ax in default.axes if ax.images][-1]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["10", "100", "1000"]
    with pytest.raises(ValueError, match="match"):
        plot_attention_evolution(maps[:2], epochs)


def test_example_figures_render_to_png(tmp_path):
    coords = np.linspace(-1, 1, 7)
    losses = np.geomspace(0.02, 7.3, 2 * 49).reshape(2, 7, 7)
    figures = {
        "landscape": plot_landscape(coords, losses[0], title="epoch 5"),
        "evolution": plot_landscape_evolution(coords, losses, [5, 50], titles=["a", "b"]),
        "curves": plot_curves(curve_rows(), 30, 60, spike_epochs=[70], stable_epoch=90),
        "attention": plot_attention_evolution(attention_stack([5, 50]), [5, 50]),
    }
    for name, fig in figures.items():
        fig.savefig(tmp_path / f"{name}.png", dpi=40)
        assert imread(tmp_path / f"{name}.png").shape[2] == 4


def test_accuracy_by_arm_draws_train_and_test_per_seed_against_step():
    def rows(rate):
        return [{"step": s, "train_acc": min(1, rate * s), "test_acc": rate * s / 2}
                for s in (10, 100, 1000)]  # fmt: skip

    fig = plot_accuracy_by_arm({"filter": [rows(1e-3), rows(2e-3)], "off": [rows(1e-4)]})
    (ax,) = fig.axes
    assert len(ax.lines) == 6  # (train, test) x 3 seeds
    test_lines = ax.lines[0::2]
    np.testing.assert_allclose(test_lines[1].get_ydata(), [0.01, 0.1, 1.0])
    assert list(test_lines[2].get_xdata()) == [10, 100, 1000]
    assert ax.lines[1].get_linestyle() == "--" and ax.get_xscale() == "log"
    assert test_lines[0].get_color() == test_lines[1].get_color() != test_lines[2].get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "filter, 2 seeds",
        "off, 1 seed",
    ]
    many = plot_accuracy_by_arm({f"arm {k}": [rows(1e-3)] for k in range(9)})
    assert len(many.axes[0].lines) == 18  # more arms than colours: none is dropped
