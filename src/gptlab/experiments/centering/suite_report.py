"""What ``gptlab center-suite`` writes once its runs are done: results.csv, comparison.md
(paired contrasts, Holm-corrected), geometry.json/.md and six figures.

The figures' columns and the module kinds of the statistics figure come from the registry
of placements (:mod:`gptlab.experiments.centering.variants`); ``check_figures`` asks it for
them before the suite trains, so a placement that lacks something a figure needs stops the
suite at once, not after its last run.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gptlab.analysis.statistics import Contrast, paired_contrasts, summarize
from gptlab.config import ConfigError
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.centering.geometry import PASSAGES, TOP_K, SuiteGeometry, suite_geometry
from gptlab.experiments.centering.variants import PLACEMENTS, control_of, placements, title_of
from gptlab.plots.centering import (
    plot_centering_stats,
    plot_comparison,
    plot_distributions,
    plot_effects,
    plot_geometry,
)
from gptlab.plots.output import save_figure
from gptlab.reports import comparison_markdown, geometry_markdown
from gptlab.train.run_folder import RunFolder, write_json

GEOMETRY_MEASURES = [
    ("effective_rank", "effective rank"),
    ("mean_direction_share", "mean-direction share"),
    (f"top{TOP_K}_pc_share", f"top-{TOP_K} PC variance share"),
    ("mean_angle_deg", "mean pairwise angle (deg)"),
]
DISTRIBUTION_FIGURES = (  # file, distributions whose key ends so, x label, x range, title
    (
        "qk_angles.png",
        "angle",
        "angle between a query and a key it may attend to (deg)",
        (0.0, 180.0),
        "Query-key angles per layer (causal pairs, pooled over heads and seeds)",
    ),
    (
        "similarity.png",
        "cosine",
        "cosine similarity of two vectors",
        (-1.0, 1.0),
        "Pairwise cosine similarity of the model's vectors (pooled over seeds)",
    ),
)
VS_BASELINE, BEYOND = "vs baseline", "centering beyond normalization"


def check_figures(variants: list[str]) -> None:
    """What the figures take from the registry, for these variants: a ConfigError naming
    what is missing, before the first run rather than after the last."""
    plot_groups(variants)
    module_kinds()


def plot_groups(variants: list[str]) -> dict[str, list[str]]:
    """Figure columns: per placement, baseline, its strength-0 control and the variants that
    center there, under the placement's title (``Placement.title``); variants whose control
    the suite did not run go together in 'other'. A ConfigError for a column without a
    title, or two placements under one title (their columns would merge)."""
    groups: dict[str, list[str]] = {}
    for control in variants:
        members = [v for v in variants if control_of(v) == control]
        if not members:
            continue
        where = placements(control)
        title = title_of(where)
        untitled = [p for p in where if not PLACEMENTS[p].title]
        if untitled or not title:
            raise ConfigError(
                f"variants {[control, *members]}: placement {' + '.join(untitled or where)} "
                "has no figure title (Placement.title in experiments/centering/variants.py)"
            )
        if title in groups:
            raise ConfigError(
                f"{control} and {groups[title][1]} center at different placements with one "
                f"figure title {title!r}; give each placement its own Placement.title"
            )
        groups[title] = ["baseline", control, *members]
    others = [v for v in variants if v != "baseline" and not any(v in g for g in groups.values())]
    if others or not groups:
        groups["other"] = ["baseline", *others]
    return groups


def module_kinds() -> dict[str, str]:
    """Each centering site of the registry -> the pattern of its modules' names
    (``Placement.module_patterns``): the kinds the statistics figure groups modules by. A
    ConfigError for a site without a pattern, or a pattern that is not a regular
    expression."""
    kinds: dict[str, str] = {}
    for placement in PLACEMENTS.values():
        try:
            patterns = placement.module_patterns
            for pattern in patterns.values():
                re.compile(pattern)
        except (KeyError, re.error) as error:
            raise ConfigError(
                f"placement {placement.name!r}: no module pattern for its sites "
                f"{placement.sites} ({type(error).__name__}: {error})"
            ) from None
        kinds |= patterns
    return kinds


def comparison_rows(results: list[dict[str, Any]], variants: list[str]) -> list[dict[str, Any]]:
    """Per variant: runs, diverged runs, mean/std of the final val loss, its perplexity and
    throughput. Runs that diverged are counted and kept out of every statistic."""
    if not finished_runs(results, "baseline"):
        raise ConfigError("every baseline run diverged: there is nothing to compare against")
    rows = []
    for variant in variants:
        losses = [r["final_val_loss"] for r in finished_runs(results, variant)]
        every = [r for r in results if r["variant"] == variant]
        loss = summarize(losses) if losses else None
        rows.append(
            {
                "variant": variant,
                "centering": every[0]["centering"],
                "n": len(losses),
                "diverged": len(every) - len(losses),
                "mean": loss.mean if loss else math.nan,
                "std": loss.std if loss else math.nan,
                "perplexity": math.exp(loss.mean) if loss else math.nan,
                "tokens_per_sec": float(np.mean([r["tokens_per_sec"] for r in every])),
            }
        )
    return rows


def contrasts(results: list[dict[str, Any]], variants: list[str]) -> list[Contrast]:
    """Every variant against baseline, and every centered variant against its strength-0
    control when the suite ran it ("centering beyond normalization"), all paired by seed and
    Holm-corrected together."""
    values = {
        v: {r["seed"]: r["final_val_loss"] for r in finished_runs(results, v)} for v in variants
    }
    pairs = [(v, "baseline", VS_BASELINE) for v in variants if v != "baseline"]
    pairs += [(v, control_of(v), BEYOND) for v in variants if control_of(v) in variants]
    return paired_contrasts(values, pairs)


def finished_runs(results: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    return [r for r in results if r["variant"] == variant and r["status"] == "finished"]


def write_results_csv(results: list[dict[str, Any]], path: Path) -> None:
    fields = ["variant", "seed", "status", "final_val_loss", "tokens_per_sec", "train_time_s"]
    fields += ["wall_time_s", "iters", "centering", "run_dir"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)


def curve(run_dir: Path) -> dict[str, list[float]]:
    rows = RunFolder(run_dir).read_metrics()
    return {key: [r[key] for r in rows] for key in ("iter", "train_loss", "val_loss")}


def write_reports(
    out: Path, base: CenterConfig, seeds: list[int], variants: list[str], results: list[dict]
) -> list[Contrast]:
    """results.csv, comparison.md, geometry.md/json, and the six figures; the contrasts
    comparison.md reports."""
    write_results_csv(results, out / "results.csv")
    tested = contrasts(results, variants)
    rows = comparison_rows(results, variants)
    (out / "comparison.md").write_text(comparison_markdown(rows, tested, base, seeds))
    finished = {v: [Path(r["run_dir"]) for r in finished_runs(results, v)] for v in variants}
    geometry = suite_geometry({v: d for v, d in finished.items() if d})
    write_json(out / "geometry.json", geometry.summary)
    (out / "geometry.md").write_text(
        geometry_markdown(geometry.summary, seeds, PASSAGES, geometry.windows, TOP_K)
    )
    for name, figure in figures(results, variants, finished, tested, geometry):
        save_figure(figure, out / name)
    return tested


def figures(
    results: list[dict[str, Any]],
    variants: list[str],
    finished: dict[str, list[Path]],
    tested: list[Contrast],
    geometry: SuiteGeometry,
) -> Iterator[tuple[str, Figure]]:
    """The suite's six figures by file name, drawn one at a time; ``finished``: each
    variant's finished run folders."""
    groups = plot_groups(variants)
    yield (
        "centering_comparison.png",
        plot_comparison(
            {v: [curve(d) for d in dirs] for v, dirs in finished.items()},
            {v: [r["final_val_loss"] for r in finished_runs(results, v)] for v in variants},
            groups,
        ),
    )
    yield "centering_effects.png", plot_effects([effect_entry(c) for c in tested])
    metrics = {v: [RunFolder(d).read_metrics() for d in dirs] for v, dirs in finished.items()}
    yield "centering_stats.png", plot_centering_stats(metrics, module_kinds())
    for name, ending, xlabel, value_range, title in DISTRIBUTION_FIGURES:
        shown = {k: v for k, v in geometry.distributions.items() if k.endswith(ending)}
        yield name, plot_distributions(shown, xlabel, value_range, title, groups)
    title = f"Geometry of the trained models: mean over seeds, 95% CI ({PASSAGES} val passages)"
    yield (
        "centering_test_results.png",
        plot_geometry(geometry.summary, GEOMETRY_MEASURES, title, groups),
    )


def effect_entry(c: Contrast) -> dict[str, Any]:
    p = c.paired
    return {
        "label": f"{c.treatment} − {c.control}",
        "family": c.family,
        "mean": p.mean_difference,
        "low": p.ci_low,
        "high": p.ci_high,
        "holm_p": c.holm_p,
        "mde": c.mde,
        "mde_holm": c.mde_holm,
    }
