"""Markdown reports: what the tables and verdicts say, on constructed numbers."""

import math

from gptlab.analysis.statistics import paired_comparison, paired_contrasts
from gptlab.experiments.centering.presets import PRESETS
from gptlab.reports import comparison_markdown, geometry_markdown, verdict


def test_verdicts_follow_the_ci_and_the_holm_correction():
    better = paired_comparison([1.0, 1.1, 0.9, 1.05], [1.5, 1.55, 1.45, 1.5])
    assert verdict(better, 0.01).startswith("better than baseline")
    assert verdict(better, 0.01, "qk_normalized").startswith("better than qk_normalized")
    assert "not significant after the Holm" in verdict(better, 0.2)
    noise = paired_comparison([1.0, 1.2, 0.9, 1.1], [1.1, 1.0, 1.0, 1.2])
    assert verdict(noise, 0.9).startswith("not distinguishable")


def test_a_verdict_whose_favoured_side_lost_seeds_to_divergence_is_not_decided():
    better = paired_comparison([1.0, 1.1, 0.9, 1.05], [1.5, 1.55, 1.45, 1.5])
    text = verdict(better, 0.01, "baseline", diverged=(1, 0), seeds=5)
    assert text.startswith("not decided: 1 of 5 seeds of the treatment diverged")
    # the control's lost seeds do not weaken "better": said, and still better
    text = verdict(better, 0.01, "baseline", diverged=(0, 2), seeds=6)
    assert text.startswith("better than baseline") and "(2 of 6 seeds of the treatment" not in text
    assert text.endswith("(2 of 6 seeds of baseline diverged).")
    worse = paired_comparison([1.5, 1.55, 1.45, 1.5], [1.0, 1.1, 0.9, 1.05])
    assert verdict(worse, 0.01, "baseline", (1, 0), 5).startswith("worse than baseline")
    assert verdict(worse, 0.01, "baseline", (0, 1), 5).startswith("not decided: 1 of 5 seeds")


def row(variant, n=3, diverged=0, mean=1.5, std=0.01):
    fields = {"variant": variant, "centering": variant.split("_")[0], "n": n, "std": std}
    return fields | {"diverged": diverged, "mean": mean, "perplexity": math.exp(mean),
                     "tokens_per_sec": 100.0}  # fmt: skip


def test_comparison_table_counts_diverged_runs_apart():
    rows = [row("baseline"), row("qk_centered", n=2, diverged=1, mean=math.nan, std=math.nan)]
    text = comparison_markdown(rows, [], PRESETS["smoke"], [0, 1, 2])
    assert "| qk_centered | qk | 2 (+1 diverged) |" in text
    assert "| baseline | baseline | 3 | 1.5000 ± 0.0100 | 4.482 |" in text
    values = {"baseline": {0: 1.5, 1: 1.52, 2: 1.49}, "qk_centered": {0: 1.3, 1: 1.33}}
    tested = paired_contrasts(values, [("qk_centered", "baseline", "vs baseline")])
    rows[1] |= {"mean": 1.315, "std": 0.02}
    text = comparison_markdown(rows, tested, PRESETS["smoke"], [0, 1, 2])
    assert "- **qk_centered** vs baseline: not decided: 1 of 3 seeds of the treatment" in text


def test_comparison_pairs_centered_variants_with_their_controls():
    values = {
        "baseline": {0: 1.50, 1: 1.52, 2: 1.49},
        "qk_normalized": {0: 1.40, 1: 1.43, 2: 1.39},
        "qk_centered": {0: 1.38, 1: 1.42, 2: 1.36},
    }
    pairs = [("qk_normalized", "baseline", "vs baseline"),
             ("qk_centered", "baseline", "vs baseline"),
             ("qk_centered", "qk_normalized", "beyond")]  # fmt: skip
    tested = paired_contrasts(values, pairs)
    rows = [row(v, mean=sum(x.values()) / 3) for v, x in values.items()]
    text = comparison_markdown(rows, tested, PRESETS["smoke"], [0, 1, 2])
    assert "## Centering beyond normalization" in text
    beyond = next(line for line in text.splitlines() if line.startswith("| qk_centered | qk_norm"))
    assert "-0.0200 [" in beyond  # mean of -0.02, -0.01, -0.03
    assert f"{100 * (math.exp(-0.02) - 1):+.2f}% [" in beyond  # the perplexity change
    assert f"| {tested[2].mde:.4f} | {tested[2].mde_holm:.4f} |" in beyond
    assert tested[2].mde_holm > tested[2].mde and "MDE at Holm α/m" in text
    assert "over all 3 comparisons" in text and "MDE" in text
    assert "- **qk_centered** vs qk_normalized: " in text


def test_geometry_table_gives_ci_over_seeds_and_splits_residual_from_qk():
    stat = {"mean": 5.0, "low": 4.0, "high": 6.0, "n": 3}
    sets = {
        "final": {"mean_angle_deg": stat, "effective_rank": stat, "top2_pc_share": stat,
                  "mean_direction_share": stat, "angle_widening": stat},
        "layer0.q": {"mean_angle_deg": stat, "effective_rank": stat, "top2_pc_share": stat,
                     "mean_direction_share": stat, "qk_angle_deg": stat},
    }  # fmt: skip
    text = geometry_markdown({"baseline": sets}, seeds=[0, 1, 2], passages=4, windows=8, top_k=2)
    assert "(3 seeds x 4 validation passages of 8 windows)" in text and "top-2 PC share" in text
    residual, qk = text.split("## Queries and keys")
    assert "| baseline | final | 5.0 [4.0, 6.0] |" in residual and "layer0.q" not in residual
    assert "| baseline | layer0.q | 5.0 [4.0, 6.0] |" in qk
