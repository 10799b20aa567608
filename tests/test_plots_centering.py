"""The centering figures: each is a Figure that saves as a valid PNG, and its panels, titles
and legends say what they show, on small constructed inputs with the edge cases of real
suites (one seed, a diverged seed, NaN, a panel without data)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from gptlab.plots.centering import (
    plot_centering_stats,
    plot_comparison,
    plot_distributions,
    plot_effects,
    plot_geometry,
)
from gptlab.plots.centering.style import NO_DATA
from gptlab.plots.output import save_figure


def assert_png(fig: Figure, path: Path) -> None:
    """``fig`` saves as a PNG of a readable size."""
    save_figure(fig, path)
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300


def legend_labels(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def suptitle_box(fig: Figure, renderer: RendererBase) -> Bbox:
    (suptitle,) = [t for t in fig.findobj(Text) if t.get_text() == fig.get_suptitle()]
    return suptitle.get_window_extent(renderer)


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


def test_comparison_columns_per_group_zoomed_with_one_style_per_variant(tmp_path):
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
    fig = plot_comparison(curves, finals, groups)

    assert_png(fig, tmp_path / "out" / "centering_comparison.png")  # the folder is created
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


def test_comparison_one_group_one_seed(tmp_path):
    curves = {"baseline": [curve(10, 0, 1.5)], "qk_centered": [curve(10, 1, 1.4)]}
    fig = plot_comparison(curves, {}, {"Q/K": ["baseline", "qk_centered"]})
    assert_png(fig, tmp_path / "comparison.png")
    assert len(fig.axes) == 3


def contrast(label: str, family: str, *values: float) -> dict[str, object]:
    return {"label": label, "family": family} | dict(
        zip(("mean", "low", "high", "holm_p", "mde"), values, strict=True)
    )


def test_effects_one_panel_per_family_marks_significance(tmp_path):
    nan = np.nan
    contrasts = [
        contrast("qk_centered − baseline", "vs baseline", -0.03, -0.05, -0.01, 0.01, 0.02),
        contrast("final_centered − baseline", "vs baseline", 0.01, -0.02, 0.04, 0.6, 0.03),
        contrast("qk_centered − qk_normalized", "beyond normalization", -0.01, nan, nan, nan, nan),
    ]
    fig = plot_effects(contrasts)

    assert_png(fig, tmp_path / "centering_effects.png")
    vs_baseline, beyond = fig.axes
    assert vs_baseline.get_title() == "vs baseline"
    assert beyond.get_title() == "beyond normalization"
    labels = [t.get_text() for t in vs_baseline.get_yticklabels()]
    assert labels == ["qk_centered − baseline", "final_centered − baseline"]
    assert texts(vs_baseline) == ["Holm p = 0.01", "Holm p = 0.6"]
    assert texts(beyond) == ["Holm p: n/a"]
    means = [line for line in vs_baseline.get_lines() if line.get_marker() == "o"]
    assert [to_rgba(m.get_markerfacecolor()) == to_rgba("white") for m in means] == [False, True]
    assert "negative = treatment better" in beyond.get_xlabel()


def stats_rows(n: int, seed: int, strength: float | None) -> list[dict[str, float]]:
    """Metric rows of one run; ``strength`` None: no centering; 0: a strength-0 control."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = {"iter": 10.0 * i, "attention_entropy/layer0": 2 + rng.random()}
        row["attention_entropy/layer1"] = 1.5 + rng.random()
        if strength is not None:
            ratios = {  # q: 0.5 and 0.3 over layers (mean 0.4 over layers and seeds 1, 2)
                "blocks.0.attn.q_centering": 0.4 + 0.2 * (seed % 2),
                "blocks.0.attn.k_centering": 0.4 * rng.random(),
                "blocks.1.attn.q_centering": 0.3,
                "blocks.1.centering": 0.3,
                "final_centering": 0.2,
            }
            row |= {f"center_ratio/{module}": strength * r for module, r in ratios.items()}
            row |= {"temperature/layer0/head0": 4 + i, "temperature/layer0/head1": 5 + i}
        rows.append(row)
    del rows[1]["attention_entropy/layer1"]  # a key missing in one row: NaN
    return rows


# kind -> the names of its centering modules (the suite takes them from the registry)
MODULE_KINDS = {
    "q": r"blocks\.\d+\.attn\.q_centering",
    "k": r"blocks\.\d+\.attn\.k_centering",
    "block": r"blocks\.\d+\.centering",
    "final": r"final_centering",
}


def band_range(band: Collection) -> tuple[float, float]:
    y = band.get_paths()[0].vertices[:, 1]
    return y.min(), y.max()


def line(ax: Axes, label: str) -> Line2D:
    (drawn,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return drawn


def test_centering_stats_panels_and_empty_panel(tmp_path):
    stats = {
        "baseline": [stats_rows(6, 0, None)],
        "qk_centered": [stats_rows(6, 1, 1.0), stats_rows(6, 2, 1.0)],
        "qk_normalized": [stats_rows(6, 3, 0.0)],
        "never_logged": [],
    }
    fig = plot_centering_stats(stats, MODULE_KINDS)

    assert_png(fig, tmp_path / "centering_stats.png")
    ratio, temperature, strength, entropy = fig.axes
    kinds = ["q", "k", "block", "final"]  # one line per variant x kind, not per module
    assert legend_labels(ratio) == [
        f"{v} {kind}" for v in ("qk_centered", "qk_normalized") for kind in kinds
    ]
    assert np.allclose(line(ratio, "qk_centered q").get_ydata(), 0.4)  # over layers, seeds
    assert band_range(ratio.collections[0]) == pytest.approx((0.3, 0.5))  # min-max over layers
    control = line(ratio, "qk_normalized q")  # strength-0 control: kept at 0, dashed
    assert np.all(control.get_ydata() == 0) and control.get_linestyle() == "--"
    assert legend_labels(temperature) == ["qk_centered L0", "qk_normalized L0"]
    assert np.allclose(temperature.get_lines()[0].get_ydata(), 4.5 + np.arange(6))
    assert strength.get_legend() is None and texts(strength) == [NO_DATA]
    assert legend_labels(entropy) == ["baseline", "qk_centered", "qk_normalized"]
    assert all(ax.get_xlabel().startswith("iteration") for ax in fig.axes)


def test_centering_stats_adaptive_strength_per_module_kind():
    def adaptive(seed: int) -> list[dict[str, float]]:
        rows = stats_rows(4, seed, 1.0)
        for row in rows:
            row |= {
                "strength/blocks.0.attn.q_centering": 0.9,
                "strength/blocks.1.attn.q_centering": 0.7,
            }
        return rows

    fig = plot_centering_stats({"qk_adaptive": [adaptive(0), adaptive(1)]}, MODULE_KINDS)
    strength = fig.axes[2]
    assert legend_labels(strength) == ["qk_adaptive q"]
    assert np.allclose(strength.get_lines()[0].get_ydata(), 0.8)
    (band,) = strength.collections
    assert band_range(band) == pytest.approx((0.7, 0.9))


def test_centering_stats_legends_outside_the_panels_and_clear_of_the_suptitle():
    many = {f"qk_variant{i}": [stats_rows(5, i, 1.0)] for i in range(12)}  # crowded legends
    fig = plot_centering_stats({"baseline": [stats_rows(5, 0, None)]} | many, MODULE_KINDS)

    renderer = FigureCanvasAgg(fig).get_renderer()
    suptitle = suptitle_box(fig, renderer)
    panels = [ax.get_window_extent(renderer) for ax in fig.axes]
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    legends = [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
    assert len(legends) == 3  # (c) has no data
    for legend in legends:
        assert not any(legend.overlaps(box) for box in panels + titles + [suptitle])
    assert not any(suptitle.overlaps(box) for box in panels + titles)
    assert all(0 <= legend.x0 and legend.x1 <= fig.bbox.x1 for legend in legends)  # on the page


def angle_distributions(panels: int) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        f"layer {i}": {
            "baseline": rng.uniform(0, 180, 200),
            "qk_centered": rng.normal(90, 5, 200),
            "final_centered": rng.normal(60, 5, 200),
        }
        for i in range(panels)
    }


def test_distributions_wrap_panels_and_skip_non_finite(tmp_path):
    distributions = angle_distributions(5)
    distributions["layer 0"]["baseline"][:3] = np.nan
    distributions["empty"] = {"baseline": np.array([np.nan]), "qk_centered": np.array([])}
    fig = plot_distributions(distributions, "angle between q and k (degrees)", (0, 180), "Q/K")

    assert_png(fig, tmp_path / "qk_angles.png")
    assert fig.get_suptitle() == "Q/K"
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(fig.axes) == 8 and len(panels) == 6  # rows of at most 4
    baseline, centered, _ = legend_labels(panels[0])
    assert baseline.startswith("baseline (mean ")
    assert 85 < float(centered.removeprefix("qk_centered (mean ").rstrip(")")) < 95
    assert texts(panels[-1]) == ["no finite values"]
    assert panels[0].get_xlabel() == "angle between q and k (degrees)"
    assert panels[0].get_yscale() == "log" and "log scale" in panels[0].get_ylabel()


def test_distributions_one_row_per_group_with_its_variants(tmp_path):
    groups = {
        "Q/K": ["baseline", "qk_normalized", "qk_centered"],  # qk_normalized: not in the data
        "final embeddings": ["baseline", "final_centered"],
        "block outputs": ["baseline", "block_centered"],
        "Q/K + final": ["baseline", "full_centered"],
    }
    fig = plot_distributions(angle_distributions(2), "angle (deg)", (0, 180), "angles", groups)

    assert_png(fig, tmp_path / "qk_angles.png")
    assert len(fig.axes) == 8  # 4 groups x 2 panels
    qk0, qk1, final0, _, block0, *_ = fig.axes
    assert [qk0.get_title(), qk1.get_title()] == ["Q/K: layer 0", "Q/K: layer 1"]
    assert final0.get_title() == "final embeddings: layer 0"
    assert [label.split(" (")[0] for label in legend_labels(qk1)] == ["baseline", "qk_centered"]
    assert [label.split(" (")[0] for label in legend_labels(block0)] == ["baseline"]
    baseline_qk, centered = qk0.patches
    baseline_final, final = final0.patches
    assert to_rgba(baseline_qk.get_edgecolor()) == to_rgba(baseline_final.get_edgecolor())
    assert to_rgba(centered.get_edgecolor()) != to_rgba(final.get_edgecolor())
    renderer = FigureCanvasAgg(fig).get_renderer()  # tall: the suptitle above the titles
    suptitle = suptitle_box(fig, renderer)
    assert not any(suptitle.overlaps(ax.get_tightbbox(renderer)) for ax in fig.axes)


def cell(mean: float, spread: float) -> dict[str, float]:
    return {"mean": mean, "low": mean - spread, "high": mean + spread}


def geometry_summary() -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    def sets(names: tuple[str, ...], spread: float) -> dict[str, dict[str, dict[str, float]]]:
        return {s: {"rank": cell(10, spread), "share": cell(0.5, spread / 10)} for s in names}

    return {
        "baseline": sets(("block0", "layer0.q", "final", "layer0.k"), 1),
        "qk_centered": sets(("block0", "block1", "final", "layer0.q"), np.nan),  # one seed
        "final_centered": sets(("block0", "final"), 2),
    }


MEASURES = [("rank", "effective rank (dimensions)"), ("share", "top-3 PC variance share")]


def test_geometry_residual_and_qk_sets_apart_variants_dodged(tmp_path):
    summary = {v: sets for v, sets in geometry_summary().items() if v != "final_centered"}
    fig = plot_geometry(summary, MEASURES, "geometry")

    assert_png(fig, tmp_path / "centering_test_results.png")
    rank, share = fig.axes
    assert [rank.get_title(), share.get_title()] == [title for _, title in MEASURES]
    ticks = [(t.get_position()[0], t.get_text()) for t in rank.get_xticklabels()]
    residual = [(0, "block0"), (1, "final"), (2, "block1")]
    assert ticks == [*residual, (4, "layer0.q"), (5, "layer0.k")]  # a gap at 3
    assert [rule.get_xdata()[0] for rule in rank.lines if rule.get_linestyle() == ":"] == [3]
    assert texts(rank) == ["residual", "queries & keys"]
    residual_base, qk_base, residual_centered, qk_centered = (c.lines[0] for c in rank.containers)
    assert list(residual_base.get_xdata()) == pytest.approx([-0.2, 0.8])  # no line across parts
    assert list(qk_base.get_xdata()) == pytest.approx([3.8, 4.8])
    assert list(residual_centered.get_xdata()) == pytest.approx([0.2, 1.2, 2.2])
    assert list(qk_centered.get_xdata()) == pytest.approx([4.2])
    assert rank.get_legend() is None and legend_labels(share) == ["baseline", "qk_centered"]


def test_geometry_one_row_per_group(tmp_path):
    groups = {"Q/K": ["baseline", "qk_centered"], "final": ["baseline", "final_centered", "gone"]}
    fig = plot_geometry(geometry_summary(), MEASURES, "geometry", groups)

    assert_png(fig, tmp_path / "centering_test_results.png")
    qk_rank, qk_share, final_rank, final_share = fig.axes
    assert [qk_rank.get_title(), final_share.get_title()] == [
        "Q/K: effective rank (dimensions)",
        "final: top-3 PC variance share",
    ]
    assert legend_labels(qk_share) == ["baseline", "qk_centered"]  # one legend per row
    assert legend_labels(final_share) == ["baseline", "final_centered"]
    assert qk_rank.get_legend() is None and final_rank.get_legend() is None
    residual_base, _, residual_final = (c.lines[0] for c in final_rank.containers)
    assert list(residual_base.get_xdata()) == pytest.approx([-0.2, 0.8])  # 2 variants dodged
    assert list(residual_final.get_xdata()) == pytest.approx([0.2, 1.2])
    final_colors = {to_rgba(c.lines[0].get_color()) for c in final_rank.containers}
    assert final_colors.isdisjoint({to_rgba(qk_rank.containers[-1].lines[0].get_color())})
    assert [t.get_text() for t in final_rank.get_xticklabels()][-2:] == ["layer0.q", "layer0.k"]


def test_the_figures_leave_the_backend_and_pyplot_alone():
    """Importing the figures chooses no backend and starts no pyplot state: the caller's
    backend (here svg, from the environment) stays, whatever it is."""
    script = (
        "import sys, matplotlib, gptlab.plots.centering, gptlab.plots.output;"
        "print(matplotlib.rcParams['backend'], 'matplotlib.pyplot' in sys.modules)"
    )
    env = os.environ | {"MPLBACKEND": "svg"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["svg", "False"], done.stderr
