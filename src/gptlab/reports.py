"""Markdown reports: the tables and verdicts the experiments write beside their figures.

Text in, text out: each builder takes the numbers an experiment computed and returns the
page, so what a report says is tested without running anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gptlab.analysis.statistics import PairedComparison

if TYPE_CHECKING:
    from gptlab.experiments.centering.run import CenterConfig


def verdict(paired: PairedComparison, holm_p: float) -> str:
    direction = "better" if paired.mean_difference < 0 else "worse"
    if paired.ci_excludes_zero and holm_p < 0.05:
        return f"{direction} than baseline (95% CI excludes 0, Holm-corrected p < 0.05)."
    if paired.ci_excludes_zero:
        return (
            f"{direction} by the unadjusted 95% CI, but not significant after the Holm "
            "correction for the number of variants tested."
        )
    return "not distinguishable from baseline at this budget (inside seed noise)."


def comparison_markdown(rows: list[dict[str, Any]], base: CenterConfig, seeds: list[int]) -> str:
    lines = [
        "# Centering variants vs baseline",
        "",
        f"Budget: {base.n_layer} layers, {base.n_head} heads, d_model {base.d_model}, "
        f"block {base.block_size}, batch {base.batch_size}, {base.max_iters} iterations, "
        f"dropout {base.dropout}; seeds {seeds} (the same for every variant). Final val loss "
        "= one full deterministic pass over the validation split. Differences are "
        "variant - baseline, paired by seed; negative = better than baseline.",
        "",
        "| variant | centering | n | final val loss (mean ± std) | vs baseline | "
        "paired diff [95% CI] | t-test p | Holm p | Wilcoxon p | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for r in rows:
        n = f"{r['n']}" + (f" (+{r['diverged']} diverged)" if r["diverged"] else "")
        cells = [r["variant"], r["centering"], n, f"{r['mean']:.4f} ± {r['std']:.4f}"]
        if "paired" in r:
            p = r["paired"]
            cells += [
                f"{r['vs_baseline_pct']:+.2f}%",
                f"{p.mean_difference:+.4f} [{p.ci_low:+.4f}, {p.ci_high:+.4f}]",
                f"{p.t_pvalue:.3g}",
                f"{r['holm_p']:.3g}",
                f"{p.wilcoxon_pvalue:.3g}",
            ]
            verdicts.append(f"- **{r['variant']}**: {verdict(p, r['holm_p'])}")
        else:
            cells += ["—"] * 5
        cells.append(f"{r['tokens_per_sec']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    n = rows[0]["n"]
    lines += [
        "",
        *verdicts,
        "",
        f"With n = {n} seeds the exact two-sided Wilcoxon p cannot go below {2 / 2**n:.3g}; "
        "the t-test assumes roughly normal paired differences. tokens/s is the training-step "
        "throughput of each run on a machine that may have been shared: a rough figure; see "
        "benchmarks/centering_throughput.py for overhead measurements.",
        "",
    ]
    return "\n".join(lines)


def geometry_markdown(
    per_layer: dict[str, dict[str, dict]], seed: int, windows: int, top_k: int
) -> str:
    key = f"top{top_k}_pc_share"
    lines = [
        f"# Geometry of the trained models (seed {seed}, {windows} validation windows)",
        "",
        "Before = the model's own vectors at that point (residual stream after each block; "
        "final = the vectors entering the LM head). After = the seed's operation applied to "
        "that set (subtract its mean, normalize). The angle widening comes from the "
        "operation by construction; effective rank, top-PC share and mean-direction share "
        "compare the *models* (columns 'before').",
        "",
        "| variant | layer | mean angle before → after (deg) | widening | eff. rank before → after"
        f" | top-{top_k} PC share before → after | mean-direction share before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, layers in per_layer.items():
        for layer, g in layers.items():
            b, a = g["before"], g["after"]
            lines.append(
                f"| {variant} | {layer} | {b['mean_angle_deg']:.1f} → {a['mean_angle_deg']:.1f}"
                f" | {g['angle_widening']:.2f}x"
                f" | {b['effective_rank']:.1f} → {a['effective_rank']:.1f} (of {g['dim']})"
                f" | {b[key]:.3f} → {a[key]:.3f}"
                f" | {b['mean_direction_share']:.3f} → {a['mean_direction_share']:.3f} |"
            )
    return "\n".join(lines) + "\n"
