"""Markdown reports: the tables and verdicts the experiments write beside their figures.

Text in, text out: each builder takes the numbers an experiment computed and returns the
page, so what a report says is tested without running anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gptlab.analysis.statistics import Contrast, PairedComparison
from gptlab.config import flat_value

if TYPE_CHECKING:
    from gptlab.experiments.centering.config import CenterConfig


def verdict(
    paired: PairedComparison,
    holm_p: float,
    control: str = "baseline",
    diverged: tuple[int, int] = (0, 0),
    seeds: int = 0,
) -> str:
    """The verdict of ``treatment - control`` from its finished pairs; ``diverged``: how
    many of the ``seeds`` runs of (treatment, control) diverged. A diverged run is a missing
    outcome, not a loss like the others: when the side a verdict favours lost seeds, the
    finished pairs alone cannot call it better (or worse), so the verdict says not decided."""
    direction = "better" if paired.mean_difference < 0 else "worse"
    if paired.ci_excludes_zero and holm_p < 0.05:
        text = f"{direction} than {control} (95% CI excludes 0, Holm-corrected p < 0.05)."
    elif paired.ci_excludes_zero:
        text = (
            f"{direction} than {control} by the unadjusted 95% CI, but not significant after "
            "the Holm correction for the number of comparisons."
        )
    else:
        return f"not distinguishable from {control} at this budget (inside seed noise)."
    # "better" favours the treatment, "worse" the control: that side's diverged seeds count
    favoured, other = diverged if direction == "better" else diverged[::-1]
    arms = ("the treatment", control) if direction == "better" else (control, "the treatment")
    if favoured:
        return (
            f"not decided: {favoured} of {seeds} seeds of {arms[0]} diverged, and the "
            f"finished pairs alone say: {text}"
        )
    if other:
        return f"{text[:-1]} ({other} of {seeds} seeds of {arms[1]} diverged)."
    return text


def _contrast_cells(c: Contrast, base_mean: float) -> list[str]:
    p = c.paired
    ratio, low, high = c.relative_ratio
    return [
        f"{p.mean_difference:+.4f} [{p.ci_low:+.4f}, {p.ci_high:+.4f}]",
        f"{100 * p.mean_difference / base_mean:+.2f}%",
        f"{100 * (ratio - 1):+.2f}% [{100 * (low - 1):+.2f}, {100 * (high - 1):+.2f}]",
        f"{p.t_pvalue:.3g}",
        f"{c.holm_p:.3g}",
        f"{p.wilcoxon_pvalue:.3g}",
        f"{c.mde:.4f}",
        f"{c.mde_holm:.4f}",
    ]


CONTRAST_HEADER = (
    "Δ loss [95% CI] | Δ loss % | Δ perplexity % [95% CI] | t-test p | Holm p | Wilcoxon p | "
    "MDE (80% power) | MDE at Holm α/m"
)


# the config fields comparison.md states its budget with
BUDGET = ("n_layer", "n_head", "d_model", "block_size", "batch_size", "max_iters", "dropout", "lr")


def comparison_markdown(
    rows: list[dict[str, Any]], contrasts: list[Contrast], base: CenterConfig, seeds: list[int]
) -> str:
    """comparison.md: every variant against baseline, then every centered variant against
    its strength-0 control; the verdicts; what the seeds could and could not resolve."""
    means = {r["variant"]: r["mean"] for r in rows}
    b = {name: flat_value(base, name) for name in BUDGET}
    lines = [
        "# Centering variants vs baseline, and centering vs normalization alone",
        "",
        f"Budget: {b['n_layer']} layers, {b['n_head']} heads, d_model {b['d_model']}, "
        f"block {b['block_size']}, batch {b['batch_size']}, {b['max_iters']} iterations, "
        f"dropout {b['dropout']}, lr {b['lr']:g}; seeds {seeds} (the same for every variant). "
        "Final val loss = one full deterministic pass over the validation split; perplexity "
        "= exp(mean loss). Differences are treatment - control, paired by seed; negative = "
        "treatment better.",
        "",
        "## Every variant vs baseline",
        "",
        "| variant | centering | n | final val loss (mean ± std) | perplexity | "
        f"{CONTRAST_HEADER} | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_treatment = {c.treatment: c for c in contrasts if c.control == "baseline"}
    for r in rows:
        n = f"{r['n']}" + (f" (+{r['diverged']} diverged)" if r["diverged"] else "")
        cells = [r["variant"], r["centering"], n, f"{r['mean']:.4f} ± {r['std']:.4f}"]
        cells.append(f"{r['perplexity']:.3f}")
        contrast = by_treatment.get(r["variant"])
        cells += _contrast_cells(contrast, means["baseline"]) if contrast else ["—"] * 8
        cells.append(f"{r['tokens_per_sec']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    controlled = [c for c in contrasts if c.control != "baseline"]
    if controlled:
        lines += [
            "",
            "## Centering beyond normalization: each centered variant vs its control",
            "",
            "The control is the same placement at centering strength 0: the same unit length, "
            "learned temperature and output scale, without removing any center. A centered "
            "variant that beats baseline but not its control gains from the normalization, "
            "not from the centering.",
            "",
            f"| centered | control | {CONTRAST_HEADER} |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in controlled:
            cells = [c.treatment, c.control, *_contrast_cells(c, means[c.control])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + _verdict_lines(rows, contrasts, seeds))


def _verdict_lines(
    rows: list[dict[str, Any]], contrasts: list[Contrast], seeds: list[int]
) -> list[str]:
    """The verdicts section of comparison.md, and what the seeds could resolve."""
    n = min((c.paired.n for c in contrasts), default=len(seeds))
    diverged = {r["variant"]: r["diverged"] for r in rows}
    lines = ["", "## Verdicts", ""]
    lines += [
        f"- **{c.treatment}** vs {c.control}: "
        + verdict(
            c.paired, c.holm_p, c.control, (diverged[c.treatment], diverged[c.control]), len(seeds)
        )
        for c in contrasts
    ]
    return lines + [
        "",
        f"Holm's correction runs over all {len(contrasts)} comparisons of both tables. MDE = "
        "the smallest true difference a paired t-test (two-sided, α 0.05) would detect with "
        "80% power at this number of seeds, from the observed spread of the paired "
        "differences: a row whose |Δ| is below it is not evidence of no effect, only of too "
        f"few seeds. MDE at Holm α/m is the same at α 0.05 / {len(contrasts)}, the level "
        "Holm's correction surely tests at: the verdicts resolve only effects about that "
        "size, and the unadjusted MDE is optimistic. A verdict whose favoured side lost seeds "
        "to divergence is not decided (a diverged run is a missing outcome). "
        f"With n = {n} seeds the exact two-sided Wilcoxon p cannot go below "
        f"{2 / 2**n:.3g}; the t-test assumes roughly normal paired differences. tokens/s is "
        "the training-step throughput on a machine that may have been shared: a rough "
        "figure; see benchmarks/centering_throughput.py for overhead measurements.",
        "",
    ]


def _with_ci(stat: dict[str, float], digits: int) -> str:
    text = f"{stat['mean']:.{digits}f}"
    if stat["n"] > 1:
        text += f" [{stat['low']:.{digits}f}, {stat['high']:.{digits}f}]"
    return text


def geometry_markdown(
    summary: dict[str, dict[str, dict[str, dict[str, float]]]],
    seeds: list[int],
    passages: int,
    windows: int,
    top_k: int,
) -> str:
    """geometry.md: per variant and vector set, each measure's mean over seeds with its
    95% CI; residual stream and final embeddings first, then queries and keys."""
    columns = [
        ("mean_angle_deg", "mean pairwise angle (deg)", 1),
        ("effective_rank", "effective rank", 1),
        (f"top{top_k}_pc_share", f"top-{top_k} PC share", 3),
        ("mean_direction_share", "mean-direction share", 3),
    ]
    lines = [
        f"# Geometry of the trained models ({len(seeds)} seeds x {passages} validation "
        f"passages of {windows} windows)",
        "",
        "Each cell: mean over seeds [95% CI over seeds] of the model's own vectors; a seed's "
        "value is its mean over the passages. Effective rank, top-PC share and mean-direction "
        "share compare the models; the mean angle also moves by construction under "
        "centering. 'widening' is what the brief's operation (subtract the set's mean, "
        "normalize) would do to the angle of that set. Q/K: per head (head_size dims), "
        "averaged over heads; 'q-k angle' is the mean angle between a query and the keys it "
        "may attend to, what attention logits are a function of.",
        "",
    ]
    for title, keep, extra in (
        ("Residual stream and final embeddings", _is_residual, ("angle_widening", "widening", 2)),
        ("Queries and keys", lambda name: not _is_residual(name), ("qk_angle_deg", "q-k angle", 1)),
    ):
        cells = [*columns, extra]
        lines += [
            f"## {title}",
            "",
            "| variant | vectors | " + " | ".join(c[1] for c in cells) + " |",
            "|---|---|" + "---|" * len(cells),
        ]
        for variant, sets in summary.items():
            for name, measures in sets.items():
                if keep(name):
                    values = [
                        _with_ci(measures[key], digits) if key in measures else "—"
                        for key, _, digits in cells
                    ]
                    lines.append(f"| {variant} | {name} | " + " | ".join(values) + " |")
        lines.append("")
    return "\n".join(lines)


def _is_residual(name: str) -> bool:
    return not name.endswith((".q", ".k"))


def lr_grid_markdown(
    rows: list[dict[str, Any]], checks: list[dict[str, Any]], seeds: list[int], holdout: float
) -> str:
    """The learning-rate grid section of comparison.md: each arm's holdout loss per rate,
    its best rate, and whether each comparison keeps its sign at the arms' best rates."""
    lrs = sorted({lr for r in rows for lr in r["holdout"]})
    lines = [
        "## Learning-rate grid: does the ranking hold at each arm's best rate?",
        "",
        f"Each arm trained at lr {', '.join(f'{lr:g}' for lr in lrs)} on seeds {seeds}, with "
        f"the last {holdout:.0%} of the train split held out of training. The best rate is "
        "chosen on that holdout, never on val; 'val at best' is the mean full-pass val loss "
        "of the grid runs at that rate (inf: a seed diverged).",
        "",
        "| arm | " + " | ".join(f"holdout @ {lr:g}" for lr in lrs) + " | best lr | val at best |",
        "|---|" + "---|" * (len(lrs) + 2),
    ]
    for r in rows:
        cells = [f"{r['holdout'][lr]:.4f}" for lr in lrs]
        lines.append(
            f"| {r['variant']} | " + " | ".join(cells) + f" | {r['best_lr']:g} | {r['val']:.4f} |"
        )
    lines += [
        "",
        "| comparison | Δ at the shared lr (main table) | Δ at each arm's best lr | holds |",
        "|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['treatment']} − {c['control']} | {c['shared_lr']:+.4f} | {c['best_lr']:+.4f}"
            f" | {'yes' if c['holds'] else '**no**'} |"
        )
    held = sum(c["holds"] for c in checks)
    lines += ["", f"{held} of {len(checks)} comparisons keep their sign.", ""]
    return "\n".join(lines)
