"""Every experiment of the plan, in order (finished runs and measures are reused), its
verdicts, and ``claims.md``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gptlab.analysis.survival import kaplan_meier
from gptlab.config import flat_value, replace_flat
from gptlab.experiments.grokking import GrokConfig
from gptlab.experiments.grokking import sweep as grok_sweep
from gptlab.experiments.grokking.claims.decide import (
    claim_init_scale,
    claim_large_models,
    claim_less_data_longer_delay,
    claim_less_data_sooner,
    claim_small_models,
    claim_weight_decay,
    decide,
)
from gptlab.experiments.grokking.claims.plan import ClaimsPlan
from gptlab.experiments.grokking.claims.report import (
    check_readme,
    report_markdown,
    table_markdown,
    update_readme,
)
from gptlab.experiments.grokking.claims.rows import (
    UNMIRRORED,
    Row,
    at,
    grok_epochs,
    point_text,
    with_unmirrored,
)
from gptlab.experiments.grokking.claims.sharpness import claim_sharpness, measure_sharpness


def run_sweep(
    plan: ClaimsPlan,
    base: GrokConfig,
    folder: Path,
    grid: dict[str, list[Any]],
    seeds: int,
    workers: int | None,
    suffix: str = "",
) -> list[Row]:
    """One sweep (finished runs are reused), its runs' rows (with their epochs on the
    unmirrored test pairs) and its curves figure (of those epochs if ``suffix``)."""
    grok_sweep.sweep(
        base,
        grid,
        seeds,
        plan.max_epochs,
        folder,
        workers,
        threshold=plan.threshold,
        title=folder.name,
    )
    tasks = grok_sweep.plan(base, grid, seeds, plan.max_epochs, folder)
    rows = with_unmirrored(grok_sweep.collect(tasks, grid, plan.threshold), plan.threshold)
    axes = [k for k, v in grid.items() if len(v) > 1]
    if axes:
        draw_curves(rows, axes, plan.max_epochs, folder, suffix)
    return rows


def draw_curves(
    rows: Sequence[Row], axes: Sequence[str], budget: int, folder: Path, suffix: str = ""
) -> None:
    from gptlab.plots.sweep import plot_generalization_curves

    points = sorted({tuple(r[a] for a in axes) for r in rows})
    curves = {}
    for point in points:
        runs = at(rows, **dict(zip(axes, point, strict=True)))
        if runs:
            label = ", ".join(f"{a} {v:g}" for a, v in zip(axes, point, strict=True))
            curves[label] = kaplan_meier(grok_epochs(runs, suffix), budget)
    title = folder.name + (" (test pairs whose mirror is not in training)" if suffix else "")
    figure = plot_generalization_curves(curves, budget, title=title)
    figure.savefig(folder / "generalization_curves.png", dpi=110)


def sharpness_runs(plan: ClaimsPlan, swept: Any) -> tuple[list[Row], dict[str, list[Row]]]:
    """Claim 4's runs: the base with snapshots, its wd-0 control and its same-wd control."""
    base, seeds = plan.base, plan.sharpness_seeds
    groks = swept(
        "claim4-sharpness/groks",
        {},
        replace_flat(base, snapshot_every=plan.snapshot_every),
        seeds,
    )
    wd0 = replace_flat(base, weight_decay=0.0, snapshot_every=plan.control_snapshot_every)
    same_wd = replace_flat(
        base, train_fraction=plan.same_wd_fraction, snapshot_every=plan.snapshot_every
    )
    return groks, {
        "control": swept("claim4-sharpness/control", {}, wd0, seeds, plan.control_epochs),
        "same-wd-control": swept("claim4-sharpness/same-wd-control", {}, same_wd, seeds),
    }


def run_claims(
    plan: ClaimsPlan, out: Path, workers: int | None = None, readme: Path | None = None
) -> str:
    """Every experiment (finished runs and measures are reused), then ``out/claims.md``;
    returns its text."""
    plan.check()
    if readme is not None:  # now, not after the runs
        check_readme(readme)
    base, budget = plan.base, plan.max_epochs
    base_wd = flat_value(base, "weight_decay")
    every_run: list[Row] = []

    def swept(name, grid, config=base, seeds=plan.seeds, epochs=budget, suffix="") -> list[Row]:
        arm = dataclasses.replace(plan, max_epochs=epochs)
        rows = run_sweep(arm, config, out / name, grid, seeds, workers, suffix)
        every_run.extend(rows)
        return rows

    rows = swept("claim1-weight-decay", {"weight_decay": plan.weight_decays})
    decisions = [claim_weight_decay(rows, base_wd, budget)]
    rows = swept("claim2-model-size", {"d_model": plan.d_models})
    decisions += [
        claim_small_models(rows, base, budget),
        claim_large_models(rows, flat_value(base, "d_model"), budget),
    ]
    grid = {"train_fraction": plan.train_fractions}
    rows = swept("claim3-train-fraction", grid, suffix=UNMIRRORED)
    decisions += [claim_less_data_sooner(rows, budget), claim_less_data_longer_delay(rows, budget)]
    groks, controls = sharpness_runs(plan, swept)
    measured = measure_sharpness(plan, out / "claim4-sharpness", groks, controls)
    control_text = point_text(at(controls["same-wd-control"]), "runs", budget)
    decisions.append(claim_sharpness(measured, control_text))
    grid = {"init_scale": plan.init_scales, "weight_decay": plan.phase_weight_decays}
    rows = swept("claim5-init-scale", grid)
    decisions.append(claim_init_scale(rows, base_wd, budget))
    decide(decisions, plan.alpha)
    diverged = sum(r["status"] == "diverged" for r in every_run)
    text = report_markdown(plan, decisions, diverged, len(every_run))
    (out / "claims.md").write_text(text)
    if readme is not None:
        update_readme(readme, table_markdown(decisions, plan.alpha))
    return text
