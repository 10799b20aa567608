"""Markdown reports: what the tables and verdicts say, on constructed numbers."""

import math

from gptlab.analysis.statistics import paired_comparison
from gptlab.experiments.centering.run import PRESETS
from gptlab.reports import comparison_markdown, geometry_markdown, verdict


def test_verdicts_follow_the_ci_and_the_holm_correction():
    better = paired_comparison([1.0, 1.1, 0.9, 1.05], [1.5, 1.55, 1.45, 1.5])
    assert verdict(better, 0.01).startswith("better than baseline")
    assert "not significant after the Holm" in verdict(better, 0.2)
    noise = paired_comparison([1.0, 1.2, 0.9, 1.1], [1.1, 1.0, 1.0, 1.2])
    assert verdict(noise, 0.9).startswith("not distinguishable")


def test_comparison_table_counts_diverged_runs_apart():
    base = {"variant": "baseline", "centering": "none", "n": 3, "diverged": 0, "mean": 1.5}
    rows = [
        base | {"std": 0.01, "vs_baseline_pct": 0.0, "tokens_per_sec": 100.0},
        {"variant": "qk_centered", "centering": "qk", "n": 2, "diverged": 1, "mean": math.nan,
         "std": math.nan, "vs_baseline_pct": math.nan, "tokens_per_sec": 90.0},
    ]  # fmt: skip
    text = comparison_markdown(rows, PRESETS["smoke"], [0, 1, 2])
    assert "| qk_centered | qk | 2 (+1 diverged) |" in text
    assert "| baseline | none | 3 | 1.5000 ± 0.0100 |" in text


def test_geometry_table_names_the_windows_and_the_top_k():
    side = {"mean_angle_deg": 60.0, "effective_rank": 5.0, "top2_pc_share": 0.5}
    side |= {"mean_direction_share": 0.3}
    layers = {"final": {"before": side, "after": side, "angle_widening": 1.5, "dim": 16}}
    text = geometry_markdown({"baseline": layers}, seed=0, windows=8, top_k=2)
    assert "(seed 0, 8 validation windows)" in text and "top-2 PC share" in text
    assert "| baseline | final | 60.0 → 60.0 | 1.50x |" in text
