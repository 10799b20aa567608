"""The centering figures: each writes a valid PNG, and its panels, titles and legends say what
they show, on small constructed inputs with the edge cases of real suites (one seed, a
diverged seed, NaN, a panel without data)."""

from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread

from gptlab.plots import centering
from gptlab.plots.centering import (
    NO_DATA,
    plot_centering_stats,
    plot_comparison,
    plot_distributions,
    plot_effects,
    plot_geometry,
)


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the plot functions save, kept for inspection after they are written."""
    figures: list[Figure] = []
    save = centering._save

    def spy(fig: Figure, path: Path | str) -> None:
        figures.append(fig)
        save(fig, path)

    monkeypatch.setattr(centering, "_save", spy)
    return figures


def assert_png(path: Path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300


def legend_labels(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def texts(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.texts]


def curve(n: int, seed: int, level: float) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    iters = list(range(0, 10 * n, 10))
    decay = level + 2 * np.exp(-np.arange(n) / 5)
    return {
        "iter": iters,
        "train_loss": list(decay + 0.01 * rng.random(n)),
        "val_loss": list(decay + 0.05 + 0.01 * rng.random(n)),
    }


def test_comparison_columns_per_group_zoomed_with_one_style_per_variant(tmp_path, saved):
    curves = {
        "baseline": [curve(20, 0, 1.5)],  # one seed: a zero band
        "qk_normalized": [curve(20, 1, 1.5), curve(20, 2, 1.5)],
        "qk_centered": [curve(20, 3, 1.4), curve(8, 4, 1.4)],  # the second seed diverged
        "final_centered": [curve(20, 5, 1.45)],
    }
    finals = {"baseline": [1.5], "qk_normalized": [1.5, 1.51], "qk_centered": [1.41]}
    groups = {
        "Q/K": ["baseline", "qk_normalized", "qk_centered", "not_run"],
        "final embeddings": ["baseline", "final_centered"],
    }
    plot_comparison(curves, finals, groups, tmp_path / "out" / "centering_comparison.png")

    assert_png(tmp_path / "out" / "centering_comparison.png")
    (fig,) = saved
    train_qk, train_final, val_qk, _, finals_qk, finals_final = fig.axes
    assert "2nd half" in train_qk.get_title() and val_qk.get_title().startswith("Q/K\nval")
    assert legend_labels(train_qk) == [
        "baseline (1/1 seeds)",
        "qk_normalized (2/2 seeds)",
        "qk_centered (1/2 seeds)",
    ]
    assert legend_labels(train_final) == ["baseline (1/1 seeds)", "final_centered (1/1 seeds)"]
    baseline, control, centered = train_qk.get_lines()
    assert to_rgba(baseline.get_color()) == to_rgba("black")
    assert control.get_linestyle() == "--" and centered.get_linestyle() == "-"
    assert centered.get_color() == val_qk.get_lines()[2].get_color()
    assert centered.get_color() != train_final.get_lines()[1].get_color()
    assert min(centered.get_xdata()) >= 95  # second half of 0..190
    ticks = [t.get_text() for t in finals_final.get_xticklabels()]
    assert ticks == ["baseline\n(n=1)", "final_centered\n(n=0)"]  # no final: no dots
    assert finals_qk.get_title() == "Q/K\nfinal full-pass val loss per run (bar = mean)"


def test_comparison_one_group_one_seed(tmp_path, saved):
    curves = {"baseline": [curve(10, 0, 1.5)], "qk_centered": [curve(10, 1, 1.4)]}
    path = tmp_path / "comparison.png"
    plot_comparison(curves, {}, {"Q/K": ["baseline", "qk_centered"]}, path)
    assert_png(path)
    assert len(saved[0].axes) == 3


def contrast(label: str, family: str, *values: float) -> dict[str, object]:
    return {"label": label, "family": family} | dict(
        zip(("mean", "low", "high", "holm_p", "mde"), values, strict=True)
    )


def test_effects_one_panel_per_family_marks_significance(tmp_path, saved):
    nan = np.nan
    contrasts = [
        contrast("qk_centered − baseline", "vs baseline", -0.03, -0.05, -0.01, 0.01, 0.02),
        contrast("final_centered − baseline", "vs baseline", 0.01, -0.02, 0.04, 0.6, 0.03),
        contrast("qk_centered − qk_normalized", "beyond normalization", -0.01, nan, nan, nan, nan),
    ]
    plot_effects(contrasts, tmp_path / "centering_effects.png")

    assert_png(tmp_path / "centering_effects.png")
    vs_baseline, beyond = saved[0].axes
    assert vs_baseline.get_title() == "vs baseline"
    assert beyond.get_title() == "beyond normalization"
    labels = [t.get_text() for t in vs_baseline.get_yticklabels()]
    assert labels == ["qk_centered − baseline", "final_centered − baseline"]
    assert texts(vs_baseline) == ["Holm p = 0.01", "Holm p = 0.6"]
    assert texts(beyond) == ["Holm p: n/a"]
    means = [line for line in vs_baseline.get_lines() if line.get_marker() == "o"]
    assert [to_rgba(m.get_markerfacecolor()) == to_rgba("white") for m in means] == [False, True]
    assert "negative = treatment better" in beyond.get_xlabel()


def stats_rows(n: int, seed: int, centered: bool) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = {"iter": 10.0 * i, "attention_entropy/layer0": 2 + rng.random()}
        row["attention_entropy/layer1"] = 1.5 + rng.random()
        if centered:
            row |= {
                "center_ratio/blocks.0.attn.q_centering": 0.5 * rng.random(),
                "center_ratio/blocks.0.attn.k_centering": 0.4 * rng.random(),
                "center_ratio/blocks.1.centering": 0.3,
                "center_ratio/final_centering": 0.2,
                "temperature/layer0/head0": 4 + i,
                "temperature/layer0/head1": 5 + i,
            }
        rows.append(row)
    del rows[1]["attention_entropy/layer1"]  # a key missing in one row: NaN
    return rows


def test_centering_stats_panels_and_empty_panel(tmp_path, saved):
    stats = {
        "baseline": [stats_rows(6, 0, False)],
        "qk_centered": [stats_rows(6, 1, True), stats_rows(6, 2, True)],
        "never_logged": [],
    }
    plot_centering_stats(stats, tmp_path / "centering_stats.png")

    assert_png(tmp_path / "centering_stats.png")
    ratio, temperature, strength, entropy = saved[0].axes
    assert legend_labels(ratio) == [
        "qk_centered L0 q",
        "qk_centered L0 k",
        "qk_centered L1 out",
        "qk_centered final",
    ]
    assert legend_labels(temperature) == ["qk_centered L0"]
    assert np.allclose(temperature.get_lines()[0].get_ydata(), 4.5 + np.arange(6))
    assert strength.get_legend() is None and texts(strength) == [NO_DATA]
    assert legend_labels(entropy) == ["baseline", "qk_centered"]
    assert all(ax.get_xlabel().startswith("iteration") for ax in saved[0].axes)


def test_distributions_wrap_panels_and_skip_non_finite(tmp_path, saved):
    rng = np.random.default_rng(0)
    distributions = {
        f"layer {i}": {"baseline": rng.uniform(0, 180, 200), "qk_centered": rng.normal(90, 5, 200)}
        for i in range(5)
    }
    distributions["layer 0"]["baseline"][:3] = np.nan
    distributions["empty"] = {"baseline": np.array([np.nan]), "qk_centered": np.array([])}
    path = tmp_path / "qk_angles.png"
    plot_distributions(distributions, path, "angle between q and k (degrees)", (0, 180), "Q/K")

    assert_png(path)
    fig = saved[0]
    assert fig.get_suptitle() == "Q/K"
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(fig.axes) == 8 and len(panels) == 6  # rows of at most 4
    baseline, centered = legend_labels(panels[0])
    assert baseline.startswith("baseline (mean ")
    assert 85 < float(centered.removeprefix("qk_centered (mean ").rstrip(")")) < 95
    assert texts(panels[-1]) == ["no finite values"]
    assert panels[0].get_xlabel() == "angle between q and k (degrees)"


def test_geometry_dodges_variants_over_their_own_sets(tmp_path, saved):
    def cell(mean: float, spread: float) -> dict[str, float]:
        return {"mean": mean, "low": mean - spread, "high": mean + spread}

    summary = {
        "baseline": {
            s: {"rank": cell(10, 1), "share": cell(0.5, 0.1)} for s in ("block0", "final")
        },
        "qk_centered": {  # one seed: no CI
            s: {"rank": cell(12, np.nan), "share": cell(0.4, np.nan)}
            for s in ("block0", "block1", "final")
        },
    }
    measures = [("rank", "effective rank (dimensions)"), ("share", "top-3 PC variance share")]
    plot_geometry(summary, measures, tmp_path / "centering_test_results.png", "geometry")

    assert_png(tmp_path / "centering_test_results.png")
    rank, share = saved[0].axes
    assert [rank.get_title(), share.get_title()] == [title for _, title in measures]
    assert [t.get_text() for t in rank.get_xticklabels()] == ["block0", "final", "block1"]
    baseline, centered = (container.lines[0] for container in rank.containers)
    assert list(baseline.get_xdata()) == pytest.approx([-0.2, 0.8])
    assert list(centered.get_xdata()) == pytest.approx([0.2, 1.2, 2.2])
    assert legend_labels(rank) == ["baseline", "qk_centered"]
