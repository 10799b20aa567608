"""``gptlab center-suite``: every centering variant x the same seeds, compared honestly.

    gptlab center-suite --preset cpu --workers 2
    gptlab center-suite --preset cpu --variants baseline qk_normalized qk_centered --seeds 8
    gptlab center-suite --preset cpu --lr-grid 3e-4 1e-3 3e-3 --lr-grid-seeds 2

Each run gets its own folder under OUT/runs/ (finished runs are skipped, interrupted ones
resumed; the grid's under OUT/lr-grid/). Then: results.csv (one row per run),
comparison.md (every variant vs baseline and every centered variant vs its strength-0
control, paired by seed: CI, perplexity change, t-test, Holm, Wilcoxon, minimum detectable
effect), geometry.json/.md (residual stream, final embeddings, Q and K per layer, over all
seeds with CIs) and six figures. Options other than the ones below are CenterConfig fields
(``--max-iters 500``, ``--device cuda``, ...).

How long: a run of the cpu preset (2000 iterations) took 104-208 s (median 120 s) on one
core of the 2-core CPU VM, and all 13 variants x 5 seeds with --workers 2 took 76 min plus
5 min of reports and geometry (2026-12-01; docs/centering.md).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.analysis.statistics import Contrast, paired_contrasts, summarize
from gptlab.config import from_dict, to_dict
from gptlab.experiments.centering.geometry import PASSAGES, TOP_K, suite_geometry
from gptlab.experiments.centering.lr_grid import (
    HOLDOUT_FRACTION,
    best_rates,
    grid_configs,
    grid_dir,
    ranking_checks,
)
from gptlab.experiments.centering.run import (
    PRESETS,
    VARIANTS,
    CenterConfig,
    check_config,
    control_of,
    load_data,
    placements,
    run_center,
)
from gptlab.experiments.executor import resumable, resume_command, run_all
from gptlab.experiments.options import (
    check_existing_run,
    check_out_dir,
    check_same_settings,
    command_parser,
    parse_config,
)
from gptlab.plots.centering import (
    plot_centering_stats,
    plot_comparison,
    plot_distributions,
    plot_effects,
    plot_geometry,
)
from gptlab.plots.output import save_figure
from gptlab.reports import comparison_markdown, geometry_markdown, lr_grid_markdown
from gptlab.train.lifecycle import result_or_divergence
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder, read_json_object, write_json

DEFAULT_VARIANTS = [v for v in VARIANTS if v != "custom"]
PLACEMENT_TITLES = {
    ("qk",): "Q/K",
    ("block",): "block outputs",
    ("final",): "final embeddings",
    ("qk", "final"): "Q/K + final",
}
GEOMETRY_MEASURES = [
    ("effective_rank", "effective rank"),
    ("mean_direction_share", "mean-direction share"),
    (f"top{TOP_K}_pc_share", f"top-{TOP_K} PC variance share"),
    ("mean_angle_deg", "mean pairwise angle (deg)"),
]
VS_BASELINE, BEYOND = "vs baseline", "centering beyond normalization"
Task = tuple[CenterConfig, Path, bool]  # a run's config, its folder, whether to show progress


def run_dir_for(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / f"{variant}-seed{seed}"


def plan_runs(base: CenterConfig, variants: list[str], seeds: list[int]) -> list[CenterConfig]:
    """One config per (variant, seed), all validated before anything trains."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    repeated = sorted({v for v in variants if variants.count(v) > 1})
    if repeated:  # its runs would count twice in every statistic, or race for one folder
        raise ValueError(f"--variants: {repeated} given more than once; name each variant once")
    if "baseline" not in variants:
        raise ValueError("the suite compares against 'baseline'; include it in --variants")
    configs = [dataclasses.replace(base, variant=v, seed=s) for s in seeds for v in variants]
    for config in configs:
        check_config(config)
    load_data(base)  # the data exists and is longer than block_size
    return configs


def check_distinct_folders(tasks: list[Task]) -> None:
    """Two runs in one folder would race for it; only the learning-rate grid's folder names,
    which keep 6 significant digits of the rate, can coincide."""
    seen: dict[Path, CenterConfig] = {}
    for config, run_dir, _ in tasks:
        if run_dir in seen:
            raise ValueError(
                f"--lr-grid {seen[run_dir].lr!r} and {config.lr!r} would share the folder "
                f"{run_dir}; give rates that differ in their first 6 significant digits"
            )
        seen[run_dir] = config


def check_same_suite(out: Path, plan: dict[str, Any]) -> None:
    """A suite's folder takes only its own runs: a rerun with other settings is refused
    before suite.json or any run is touched."""
    path = out / "suite.json"
    if not path.is_file():
        return
    saved = read_json_object(path, "a suite's settings")
    try:  # a config field added since the suite ran takes its default
        saved["base"] = to_dict(from_dict(CenterConfig, saved.get("base", {})))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    check_same_settings(out, "suite", settings(saved), settings(plan))


def settings(plan: dict[str, Any]) -> dict[str, Any]:
    """A suite plan as one flat dict (config fields, seeds, variants, lr_grid), as JSON holds
    it (tuples become lists): comparable with the saved one."""
    plan = json.loads(json.dumps(plan))
    return plan.pop("base") | plan


def execute(task: Task) -> dict[str, Any]:
    """One run of the suite, resumed if it started; top-level so worker processes and Ray
    can import it."""
    config, run_dir, progress = task
    resume = RunFolder(run_dir).config_path.exists()
    return result_or_divergence(run_center, config, run_dir, resume=resume, progress=progress)


def run_folder_name(task: Task) -> str:
    return str(task[1])


def comparison_rows(results: list[dict[str, Any]], variants: list[str]) -> list[dict[str, Any]]:
    """Per variant: runs, diverged runs, mean/std of the final val loss, its perplexity and
    throughput. Runs that diverged are counted and kept out of every statistic."""
    if not finished_runs(results, "baseline"):
        raise ValueError("every baseline run diverged: there is nothing to compare against")
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


def plot_groups(variants: list[str]) -> dict[str, list[str]]:
    """Figure columns: per placement, baseline, its strength-0 control and the variants that
    center there; variants whose control the suite did not run go together in 'other'."""
    groups = {}
    for control in variants:
        members = [v for v in variants if control_of(v) == control]
        if members:
            groups[PLACEMENT_TITLES[placements(control)]] = ["baseline", control, *members]
    others = [v for v in variants if v != "baseline" and not any(v in g for g in groups.values())]
    if others or not groups:
        groups["other"] = ["baseline", *others]
    return groups


def write_reports(
    out: Path, base: CenterConfig, seeds: list[int], variants: list[str], results: list[dict]
) -> list[Contrast]:
    """results.csv, comparison.md, geometry.md/json, and the six figures; the contrasts
    comparison.md reports."""
    write_results_csv(results, out / "results.csv")
    tested = contrasts(results, variants)
    (out / "comparison.md").write_text(
        comparison_markdown(comparison_rows(results, variants), tested, base, seeds)
    )
    finished = {v: [Path(r["run_dir"]) for r in finished_runs(results, v)] for v in variants}
    groups = plot_groups(variants)
    comparison = plot_comparison(
        {v: [curve(d) for d in dirs] for v, dirs in finished.items()},
        {v: [r["final_val_loss"] for r in finished_runs(results, v)] for v in variants},
        groups,
    )
    save_figure(comparison, out / "centering_comparison.png")
    save_figure(plot_effects([effect_entry(c) for c in tested]), out / "centering_effects.png")
    stats = plot_centering_stats(
        {v: [RunFolder(d).read_metrics() for d in dirs] for v, dirs in finished.items()}
    )
    save_figure(stats, out / "centering_stats.png")
    geometry = suite_geometry({v: d for v, d in finished.items() if d})
    summary, distributions = geometry.summary, geometry.distributions
    write_json(out / "geometry.json", summary)
    (out / "geometry.md").write_text(
        geometry_markdown(summary, seeds, PASSAGES, geometry.windows, TOP_K)
    )
    angles = plot_distributions(
        {k: v for k, v in distributions.items() if k.endswith("angle")},
        "angle between a query and a key it may attend to (deg)",
        (0.0, 180.0),
        "Query-key angles per layer (causal pairs, pooled over heads and seeds)",
        groups,
    )
    save_figure(angles, out / "qk_angles.png")
    similarity = plot_distributions(
        {k: v for k, v in distributions.items() if k.endswith("cosine")},
        "cosine similarity of two vectors",
        (-1.0, 1.0),
        "Pairwise cosine similarity of the model's vectors (pooled over seeds)",
        groups,
    )
    save_figure(similarity, out / "similarity.png")
    geometry_figure = plot_geometry(
        summary,
        GEOMETRY_MEASURES,
        f"Geometry of the trained models: mean over seeds, 95% CI ({PASSAGES} val passages)",
        groups,
    )
    save_figure(geometry_figure, out / "centering_test_results.png")
    return tested


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


def run_suite(
    base: CenterConfig,
    seeds: list[int],
    variants: list[str],
    out: Path,
    progress: bool = True,
    workers: int = 1,
    ray_address: str | None = None,
    lr_grid: list[float] | None = None,
    lr_grid_seeds: int = 2,
) -> list[dict[str, Any]]:
    """Every (variant, seed) run, and with ``lr_grid`` every (variant, lr, first
    ``lr_grid_seeds`` seeds) run of the grid, one after another or on ``workers`` local
    processes or a Ray cluster (``executor.run_all``); the main results in plan order."""
    configs = plan_runs(base, variants, seeds)
    grid_seeds = seeds[:lr_grid_seeds]
    grid = grid_configs(base, variants, lr_grid, grid_seeds) if lr_grid else []
    plan = {"base": to_dict(base), "seeds": seeds, "variants": variants, "lr_grid": lr_grid}
    tasks = [(c, run_dir_for(out, c.variant, c.seed), progress and workers == 1) for c in configs]
    tasks += [(c, grid_dir(out, c), progress and workers == 1) for c in grid]
    check_distinct_folders(tasks)
    check_same_suite(out, plan)
    for config, run_dir, _ in tasks:
        check_existing_run(run_dir, config)
    write_json(out / "suite.json", plan)  # only now: every check has passed
    done = {task[1]: summary for task, summary in run_all(execute, tasks, workers, ray_address)}
    every = [done[d] | {"run_dir": str(d), "lr": c.lr} for c, d, _ in tasks]
    results, grid_results = every[: len(configs)], every[len(configs) :]
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the main process reports
        return results
    tested = write_reports(out, base, seeds, variants, results)
    if grid:
        rows = best_rates(grid_results, variants)
        checks = ranking_checks(rows, tested)
        with open(out / "comparison.md", "a") as f:
            f.write("\n" + lr_grid_markdown(rows, checks, grid_seeds, HOLDOUT_FRACTION))
    return results


def main(argv: list[str]) -> int:
    parser = command_parser("gptlab center-suite", __doc__)
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="cpu", help="the config every variant shares"
    )
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds K (0..K-1)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first..first+K-1")
    parser.add_argument(
        "--variants", nargs="+", default=DEFAULT_VARIANTS, help="variants to compare"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/center-suite-PRESET)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--ray", default=None, metavar="ADDRESS", help="run on a Ray cluster")
    parser.add_argument(
        "--lr-grid",
        nargs="+",
        type=float,
        default=None,
        metavar="LR",
        help="also train every variant at each of these learning rates on the first "
        "--lr-grid-seeds seeds, pick each one's best on a held-out slice of train, and "
        "report whether the ranking holds",
    )
    parser.add_argument("--lr-grid-seeds", type=int, default=2, help="seeds per grid point")
    args, rest = parser.parse_known_args(argv)
    if any(a.split("=")[0] in ("--variant", "--seed") for a in rest):
        raise ValueError("the suite sets --variant and --seed itself; use --variants/--seeds")
    if any(a.split("=")[0] == "--centering-strength" for a in rest):
        raise ValueError(
            "--centering-strength would override every variant's strength, the strength-0 "
            "controls included; each variant sets its own (see --variants)"
        )
    if args.seeds < 2:
        raise ValueError(f"--seeds {args.seeds}: a paired comparison needs at least 2 seeds")
    if args.first_seed < 0:
        raise ValueError(f"--first-seed {args.first_seed} must be >= 0")
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} must be >= 1")
    if not 1 <= args.lr_grid_seeds <= args.seeds:
        raise ValueError(f"--lr-grid-seeds {args.lr_grid_seeds} must lie in [1, --seeds]")
    base = parse_config(rest, CenterConfig, PRESETS[args.preset], "gptlab center-suite")
    pick_device(base.device)  # before the suite folder is written, not in every run
    out = args.out or Path("runs") / f"center-suite-{args.preset}"
    check_out_dir(out)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    with resumable(resume_command("center-suite", argv, out), run_folder_name):
        run_suite(
            base,
            seeds,
            args.variants,
            out,
            not args.quiet,
            args.workers,
            args.ray,
            args.lr_grid,
            args.lr_grid_seeds,
        )
    print((out / "comparison.md").read_text())
    print(f"-> {out}")
    return 0
