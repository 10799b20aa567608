"""``claims.md``: the verdict table, the results per row, and the README's copy of the
table between its grok-claims markers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gptlab.config import ConfigError, flat_value
from gptlab.experiments.grokking.claims.decide import Decision
from gptlab.experiments.grokking.claims.plan import ClaimsPlan
from gptlab.experiments.grokking.claims.rows import pfmt


def table_markdown(decisions: Sequence[Decision], alpha: float) -> str:
    """The verdict table (the part the README copies), without the figure column."""
    lines = [
        "| claim | test (claimed direction) | one-sided p | two-sided p | Holm p | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for d in decisions:
        lines.append(
            f"| {d.claim} | {d.test} | {pfmt(d.p_claimed)} | {pfmt(d.p_two_sided)} | "
            f"{pfmt(d.holm_p)} | **{d.verdict}** |"
        )
    lines.append(
        f"\nsupported / contradicted: Holm p < {alpha:g} in the claimed / opposite direction; "
        "inconclusive otherwise; not decided / not testable: the design cannot give a verdict "
        "(the row says why). Holm runs over the two-sided p of the rows with a test, 3a and 3b "
        "(the same arms) counting as one."
    )
    return "\n".join(lines)


# the base config's fields that claims.md names
BASE_FIELDS = ("operation", "p", "train_fraction", "d_model", "d_ff", "n_heads", "layer_norm")
BASE_FIELDS += ("lr", "scheduler", "eta_min", "weight_decay", "batch_size")


def report_markdown(
    plan: ClaimsPlan, decisions: Sequence[Decision], diverged: int, runs: int
) -> str:
    base = {name: flat_value(plan.base, name) for name in BASE_FIELDS}
    lines = [
        "# The brief's claims about grokking, decided",
        "",
        f"Base: `{base['operation']}` mod {base['p']}, train_fraction {base['train_fraction']}, "
        f"d_model {base['d_model']}, d_ff {base['d_ff']}, {base['n_heads']} heads, "
        f"LayerNorm {base['layer_norm']}, lr {base['lr']:g} ({base['scheduler']} to "
        f"{base['eta_min']:g}), weight decay {base['weight_decay']:g}, "
        f"batch {base['batch_size'] or 'full'}, "
        f"{plan.max_epochs} epochs; {plan.seeds} seeds per point "
        f"({plan.sharpness_seeds} for claim 4).",
        "",
        f"Generalized = ends with test accuracy >= {plan.threshold:g} from some evaluation "
        "(the stable epoch) to the end. Times = the first epoch at the threshold of such runs "
        "(the stable epoch is set by the lr schedule); never = censored at the budget. Shares "
        "with exact 95% CIs, medians with order-statistic CIs; delay = that first epoch / the "
        f"memorization epoch. {diverged} of {runs} runs diverged; each is counted as a run "
        "that did not generalize.",
        "",
        "## Verdicts",
        "",
        table_markdown(decisions, plan.alpha),
        "",
        "## Results",
        "",
        "| claim | experiment | result | figure |",
        "|---|---|---|---|",
    ]
    for d in decisions:
        lines.append(f"| {d.claim} | {d.experiment} | {d.result} | ![]({d.figure}) |")
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- grok-claims table: begin (written by gptlab grok-claims --readme) -->"


README_END = "<!-- grok-claims table: end -->"


def check_readme(path: Path) -> str:
    """The README's text, if it holds each grok-claims marker once, begin before end: checked
    before the runs and again when the table is written (the file may change meanwhile)."""
    if not path.is_file():
        raise ConfigError(f"--readme {path}: no such file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"--readme {path}: not UTF-8 text") from None
    begins, ends = text.count(README_BEGIN), text.count(README_END)
    if not begins and not ends:
        raise ConfigError(
            f"--readme {path}: no grok-claims markers ({README_BEGIN} ... {README_END})"
        )
    if begins != 1 or ends != 1:
        raise ConfigError(
            f"--readme {path}: each grok-claims marker must appear once, found the begin "
            f"marker {begins} and the end marker {ends} times"
        )
    if text.index(README_END) < text.index(README_BEGIN):
        raise ConfigError(f"--readme {path}: the grok-claims end marker comes before the begin one")
    return text


def update_readme(path: Path, table: str) -> None:
    """Replace the text between the README's grok-claims markers by ``table``."""
    before, rest = check_readme(path).split(README_BEGIN)
    _, after = rest.split(README_END)
    path.write_text(f"{before}{README_BEGIN}\n{table}\n{README_END}{after}")
