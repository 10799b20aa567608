"""``gptlab center-suite``: every centering variant x the same seeds, compared honestly.

    gptlab center-suite --preset cpu --seeds 3 --out runs/suite
    gptlab center-suite --preset cpu --seeds 3 --variants baseline momentum_centered --max-iters 500

Each run gets its own folder under OUT/runs/ (finished runs are skipped, interrupted ones
resumed). Then: results.csv (one row per run), comparison.md (mean +- std, % vs baseline,
95% CI of the paired difference, paired t-test p with Holm correction, Wilcoxon p,
tokens/s), centering_comparison.png, and the geometry of the trained models
(geometry.json, geometry.md, centering_test_results.png). Options other than the ones
below are CenterConfig fields (``--max-iters 500``, ``--device cuda``, ...).

How long: each run of the cpu preset (2000 iterations) takes about 2.5 min on a 2-core
CPU, so --seeds 3 over the 6 default variants is about 45 min (extrapolated from 200
iterations on 2026-12-01; see docs/centering.md); --workers N runs N at a time.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gptlab.analysis.geometry import before_after_centering, layer_vectors, pairwise_angles_degrees
from gptlab.analysis.statistics import holm, paired_comparison, summarize
from gptlab.config import from_dict, to_dict
from gptlab.experiments.centering.run import (
    PRESETS,
    VARIANTS,
    CenterConfig,
    check_config,
    load_data,
    load_run,
    run_center,
)
from gptlab.experiments.executor import run_all
from gptlab.experiments.options import check_out_dir, command_parser, parse_config
from gptlab.plots.centering import plot_comparison, plot_geometry
from gptlab.reports import comparison_markdown, geometry_markdown
from gptlab.train.lifecycle import result_or_divergence
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder, write_json

DEFAULT_VARIANTS = [v for v in VARIANTS if v != "custom"]
GEOMETRY_WINDOWS = 16  # validation windows traced per model for the geometry report
GEOMETRY_VECTORS = 1024  # vectors per layer (pairwise measures are quadratic in this)
TOP_K = 3


def run_dir_for(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / f"{variant}-seed{seed}"


def plan_runs(base: CenterConfig, variants: list[str], seeds: list[int]) -> list[CenterConfig]:
    """One config per (variant, seed), all validated before anything trains."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    if "baseline" not in variants:
        raise ValueError("the suite compares against 'baseline'; include it in --variants")
    configs = [dataclasses.replace(base, variant=v, seed=s) for s in seeds for v in variants]
    for config in configs:
        check_config(config)
    load_data(base)  # the data exists and is longer than block_size
    return configs


def run_or_resume(config: CenterConfig, run_dir: Path, progress: bool) -> dict[str, Any]:
    folder = RunFolder(run_dir)
    if folder.config_path.exists():
        stored = from_dict(CenterConfig, folder.read_config())
        if stored != config:
            raise ValueError(
                f"{run_dir} holds a run with another config; use another --out or delete it"
            )
    resume = folder.config_path.exists()
    return result_or_divergence(run_center, config, run_dir, resume=resume, progress=progress)


def execute(task: tuple[CenterConfig, Path, bool]) -> dict[str, Any]:
    """One run of the suite; top-level so worker processes and Ray can import it."""
    return run_or_resume(*task)


def comparison_rows(results: list[dict[str, Any]], variants: list[str]) -> list[dict[str, Any]]:
    """Per variant: mean/std of final val loss, paired difference to baseline, tests. Runs
    that diverged are counted and kept out of every statistic."""
    by_variant = {v: {r["seed"]: r for r in finished_runs(results, v)} for v in variants}
    baseline = by_variant["baseline"]
    if len(baseline) < 1:
        raise ValueError("every baseline run diverged: there is nothing to compare against")
    base_mean = summarize([r["final_val_loss"] for r in baseline.values()]).mean
    rows = []
    for variant in variants:
        runs = by_variant[variant]
        every = [r for r in results if r["variant"] == variant]
        loss = summarize([r["final_val_loss"] for r in runs.values()]) if runs else None
        row = {
            "variant": variant,
            "centering": every[0]["centering"],
            "n": len(runs),
            "diverged": len(every) - len(runs),
            "mean": loss.mean if loss else math.nan,
            "std": loss.std if loss else math.nan,
            "vs_baseline_pct": 100 * (loss.mean - base_mean) / base_mean if loss else math.nan,
            "tokens_per_sec": float(np.mean([r["tokens_per_sec"] for r in every])),
        }
        seeds = sorted(set(runs) & set(baseline))
        if variant != "baseline" and len(seeds) >= 2:
            paired = paired_comparison(
                [runs[s]["final_val_loss"] for s in seeds],
                [baseline[s]["final_val_loss"] for s in seeds],
            )
            row |= {"paired": paired}
        rows.append(row)
    tested = [r for r in rows if "paired" in r]
    for row, adjusted in zip(tested, holm([r["paired"].t_pvalue for r in tested]), strict=True):
        row["holm_p"] = adjusted
    return rows


def finished_runs(results: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    return [r for r in results if r["variant"] == variant and r["status"] == "finished"]


def write_results_csv(results: list[dict[str, Any]], path: Path) -> None:
    fields = ["variant", "seed", "status", "final_val_loss", "tokens_per_sec", "train_time_s"]
    fields += ["wall_time_s", "iters", "centering", "run_dir"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)


def val_curve(run_dir: Path) -> tuple[list[int], list[float]]:
    rows = RunFolder(run_dir).read_metrics()
    return [r["iter"] for r in rows], [r["val_loss"] for r in rows]


@torch.no_grad()
def geometry_report(out: Path, variants: list[str], seed: int) -> dict[str, Any]:
    """Per model (``seed`` of every variant) and layer: the measures of
    :func:`before_after_centering` on the model's vectors for fixed validation windows."""
    per_layer, angles = {}, {}
    for variant in variants:
        model, _, config = load_run(run_dir_for(out, variant, seed))
        data = load_data(config)
        x, _ = next(data.full_pass("val", config.block_size, GEOMETRY_WINDOWS))
        vectors = layer_vectors(model.trace(x), GEOMETRY_VECTORS)
        per_layer[variant] = {k: before_after_centering(v, TOP_K) for k, v in vectors.items()}
        # the residual stream entering the final LayerNorm: where the models differ most
        last = f"block{config.n_layer - 1}"
        angles[f"{variant}: {last} residual"] = (
            pairwise_angles_degrees(vectors[last]).numpy(),
            pairwise_angles_degrees(vectors[last] - vectors[last].mean(0)).numpy(),
        )
    plot_geometry(angles, per_layer, out / "centering_test_results.png", TOP_K)
    return per_layer


def run_suite(
    base: CenterConfig,
    seeds: list[int],
    variants: list[str],
    out: Path,
    progress: bool = True,
    workers: int = 1,
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Every (variant, seed) run, one after another or on ``workers`` local processes or a
    Ray cluster (``executor.run_all``); results come back in plan order."""
    configs = plan_runs(base, variants, seeds)
    write_json(out / "suite.json", {"base": to_dict(base), "seeds": seeds, "variants": variants})
    tasks = [(c, run_dir_for(out, c.variant, c.seed), progress and workers == 1) for c in configs]
    done = {task[1]: summary for task, summary in run_all(execute, tasks, workers, ray_address)}
    results = [done[run_dir] | {"run_dir": str(run_dir)} for _, run_dir, _ in tasks]
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the main process reports
        return results
    write_results_csv(results, out / "results.csv")
    rows = comparison_rows(results, variants)
    (out / "comparison.md").write_text(comparison_markdown(rows, base, seeds))
    plot_comparison(
        {v: [val_curve(run_dir_for(out, v, s)) for s in seeds] for v in variants},
        {v: [r["final_val_loss"] for r in finished_runs(results, v)] for v in variants},
        out / "centering_comparison.png",
    )
    per_layer = geometry_report(out, variants, seeds[0])
    write_json(out / "geometry.json", per_layer)
    (out / "geometry.md").write_text(
        geometry_markdown(per_layer, seeds[0], GEOMETRY_WINDOWS, TOP_K)
    )
    return results


def main(argv: list[str]) -> int:
    parser = command_parser("gptlab center-suite", __doc__)
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="cpu", help="the config every variant shares"
    )
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds K (0..K-1)")
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
    args, rest = parser.parse_known_args(argv)
    if any(a.split("=")[0] in ("--variant", "--seed") for a in rest):
        raise ValueError("the suite sets --variant and --seed itself; use --variants/--seeds")
    if args.seeds < 2:
        raise ValueError(f"--seeds {args.seeds}: a paired comparison needs at least 2 seeds")
    if args.first_seed < 0:
        raise ValueError(f"--first-seed {args.first_seed} must be >= 0")
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} must be >= 1")
    base = parse_config(rest, CenterConfig, PRESETS[args.preset], "gptlab center-suite")
    pick_device(base.device)  # before the suite folder is written, not in every run
    out = args.out or Path("runs") / f"center-suite-{args.preset}"
    check_out_dir(out)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    run_suite(base, seeds, args.variants, out, not args.quiet, args.workers, args.ray)
    print((out / "comparison.md").read_text())
    print(f"-> {out}")
    return 0
