"""``gptlab grok-sweep``: grokking runs over a grid of config values x seeds, in parallel,
resumable, summarized as ``sweep.csv`` and phase diagrams.

    gptlab grok-sweep --grid weight_decay=0,0.1,1 --grid train_fraction=0.2,0.3,0.5 \\
        --seeds 3 --max-epochs 2000 --preset grok --out runs/sweep-wd-frac

Every (grid point, seed) trains in its own run folder ``OUT/FIELD=VALUE,.../seed-K``. A run
whose folder holds ``summary.json`` is finished and never recomputed; one with only a
checkpoint is resumed, so re-running an interrupted sweep finishes only the missing work.
Axes with a single value are fixed settings (not part of folder names or plots).

Sweeps measure *when* grokking happens, so per-run pictures (loss landscapes, attention,
histograms) are off unless their ``*_every`` field is given as a grid axis.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro
from tqdm.auto import tqdm

from gptlab.analysis.stability import generalization_stability
from gptlab.analysis.statistics import proportion_ci
from gptlab.analysis.survival import censored_median_ci
from gptlab.config import ConfigError, flat_value, replace_flat
from gptlab.experiments.executor import default_workers, resumable, resume_command, run_all
from gptlab.experiments.grokking import (
    GENERALIZED,
    PRESETS,
    GrokConfig,
    check_config,
    run_grok,
)
from gptlab.experiments.grokking.grid import check_grid, parse_grid
from gptlab.experiments.options import (
    check_existing_run,
    check_out_dir,
    check_same_settings,
    parse_options,
)
from gptlab.train.lifecycle import result_or_divergence
from gptlab.train.run_folder import RunFolder, default_run_dir, read_json_object, write_json

QUIET = {
    "landscape_every": 0,
    "landscape_plot_every": 0,
    "histogram_every": 0,
    "attention_every": 0,
}
NAME_MAX = 255  # bytes in one file or folder name (ext4, xfs, btrfs, tmpfs)
SAME_RUNS = ("grid", "seeds", "max_epochs")  # sweep.json's keys that decide its runs
Runner = Callable[..., dict[str, Any]]  # run_grok's signature


@dataclass(frozen=True)
class Task:
    point: dict[str, Any]  # the values of the swept axes (more than one value each)
    seed: int
    config: GrokConfig
    run_dir: Path


def plan(
    base: GrokConfig, grid: dict[str, list[Any]], seeds: int, max_epochs: int, out: Path
) -> list[Task]:
    """Every (grid point, seed), each config checked (and its data split built) up front so
    that a bad value stops the sweep before any training."""
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds} must be >= 1")
    if max_epochs < 1:
        raise ConfigError(f"--max-epochs {max_epochs} must be >= 1")
    fixed = {**QUIET, **{k: v[0] for k, v in grid.items() if len(v) == 1}, "epochs": max_epochs}
    axes = {k: v for k, v in grid.items() if len(v) > 1}
    base = replace_flat(base, **fixed)
    tasks = []
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values, strict=True))
        folder = out / (",".join(f"{k}={v}" for k, v in point.items()) or "base")
        for seed in range(seeds):
            config = replace_flat(base, **point, seed=seed)
            tasks.append(Task(point, seed, config, folder / f"seed-{seed}"))
    check_folder_names(tasks)
    for task in tasks[::seeds]:  # one config per grid point; seeds cannot make it invalid
        check_config(task.config)
        task.config.task.build()
    return tasks


def check_folder_names(tasks: Sequence[Task]) -> None:
    """A folder name longer than the file system allows would fail only when its run
    starts, after the sweep's folder and other runs were written."""
    for task in tasks:
        for name in task.run_dir.parts:
            size = len(os.fsencode(name))
            if size > NAME_MAX:
                raise ConfigError(
                    f"run folder name {name[:40]}... is {size} bytes, over the {NAME_MAX} a "
                    "file system allows; use fewer or shorter --grid values or a shorter --out"
                )


def sweep_spec(
    grid: dict[str, list[Any]], seeds: int, max_epochs: int, threshold: float
) -> dict[str, Any]:
    """What sweep.json records: the runs (grid, seeds, budget) and how they are counted."""
    return {"grid": grid, "seeds": seeds, "max_epochs": max_epochs, "threshold": threshold}


def check_existing(tasks: Sequence[Task], out: Path, spec: dict[str, Any]) -> None:
    """Refuse to mix runs of another sweep into this one (same folder, other settings):
    another grid, seed count or budget in ``sweep.json``, or a run folder that holds another
    config. The threshold may change: it only recounts the same runs."""
    if (out / "sweep.json").is_file():
        saved = read_json_object(out / "sweep.json", "a sweep's settings")
        now = json.loads(json.dumps(spec))  # as JSON keeps it: floats stay floats
        then = {k: ordered(saved.get(k)) for k in SAME_RUNS}
        check_same_settings(out, "sweep", then, {k: ordered(now[k]) for k in SAME_RUNS})
    for task in tasks:
        check_existing_run(task.run_dir, task.config)


def ordered(value: Any) -> Any:
    """A grid's axes with their order, which names the run folders."""
    return list(value.items()) if isinstance(value, dict) else value


def execute(task: Task, runner: Runner = run_grok) -> dict[str, Any]:
    """Run, resume or skip one task; returns its summary. A finished or diverged run is a
    result and is kept; a stopped one, or one killed before its first checkpoint, resumes."""
    folder = RunFolder(task.run_dir)
    summary = folder.read_summary()
    if summary is not None and summary["status"] in ("finished", "diverged"):
        return summary
    resume = folder.config_path.exists()
    return result_or_divergence(runner, task.config, task.run_dir, resume=resume, progress=False)


def is_done(folder: RunFolder) -> bool:
    summary = folder.read_summary()
    return summary is not None and summary["status"] in ("finished", "diverged")


def run_tasks(
    tasks: Sequence[Task], workers: int, runner: Runner = run_grok, ray_address: str | None = None
) -> None:
    """Execute every unfinished task (see :func:`gptlab.experiments.executor.run_all`)."""
    todo = [t for t in tasks if not is_done(RunFolder(t.run_dir))]
    done = len(tasks) - len(todo)
    # closed on the way out too: a stop's one line must follow the bar, not precede it
    with tqdm(total=len(tasks), initial=done, desc="sweep", unit="run") as bar:
        for _ in run_all(functools.partial(execute, runner=runner), todo, workers, ray_address):
            bar.update(1)


def collect(
    tasks: Sequence[Task], grid: dict[str, list[Any]], threshold: float = GENERALIZED
) -> list[dict[str, Any]]:
    """One row per finished or diverged run: the grid values, the seed, the run's status
    and outcome. ``generalized_epoch`` is the first evaluation with test accuracy >=
    ``threshold``, as in the run's summary; ``stable_generalized_epoch`` the first from which
    it stays there to the end (a run that grokked and then broke down again has not
    generalized). Rows are read from the run folders on every call, so the CSVs of a sweep
    written when ``generalized_epoch`` named the stable epoch are rewritten with these names."""
    rows = []
    for task in tasks:
        folder = RunFolder(task.run_dir)
        summary = folder.read_summary()
        if summary is None:
            continue
        final = summary["final"] or {}
        stability = generalization_stability(folder.read_metrics(), "test_acc", threshold)
        rows.append(
            {
                **{name: flat_value(task.config, name) for name in grid},
                "seed": task.seed,
                "status": summary["status"],
                "memorized_epoch": summary["memorized_epoch"],
                "generalized_epoch": stability["generalized_epoch"],
                "stable_generalized_epoch": stability["stable_generalized_epoch"],
                "dips_after_generalizing": stability["dips_after_generalizing"],
                "final_train_acc": final.get("train_acc"),
                "final_test_acc": final.get("test_acc"),
                "epochs": summary["epochs_completed"],
                "wall_time_s": round(summary["wall_time_s"], 2),
                "run_dir": str(task.run_dir),
            }
        )
    return rows


def delay_ratios(runs: Iterable[dict[str, Any]]) -> list[float | None]:
    """Stable generalization / memorization epoch of runs that memorized (None: never
    generalized)."""
    return [
        None
        if r["stable_generalized_epoch"] is None
        else r["stable_generalized_epoch"] / r["memorized_epoch"]
        for r in runs
    ]


def summarize(
    rows: Sequence[dict[str, Any]], axes: Sequence[str], confidence: float = 0.95
) -> list[dict[str, Any]]:
    """Per grid point over seeds: share that generalized stably (exact CI), median epochs
    to memorize and to generalize stably (order-statistic CI; never = +inf, i.e. censored)
    and the median delay, stable generalization / memorization epoch (over runs that
    memorized). Diverged runs are counted, and kept out of every statistic."""
    points: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        points.setdefault(tuple(row[a] for a in axes), []).append(row)
    table = []
    for key, all_runs in points.items():
        runs = [r for r in all_runs if r["status"] == "finished"]
        if not runs:
            continue
        grokked = sum(r["stable_generalized_epoch"] is not None for r in runs)
        share_low, share_high = proportion_ci(grokked, len(runs), confidence)
        general = censored_median_ci([r["stable_generalized_epoch"] for r in runs], confidence)
        memorized = censored_median_ci([r["memorized_epoch"] for r in runs], confidence)
        delays = delay_ratios(r for r in runs if r["memorized_epoch"] is not None)
        table.append(
            {
                **dict(zip(axes, key, strict=True)),
                "runs": len(runs),
                "diverged": len(all_runs) - len(runs),
                "generalized": grokked,
                "share": grokked / len(runs),
                "share_low": share_low,
                "share_high": share_high,
                "median_stable_generalized_epoch": general.median,
                "stable_generalized_low": general.low,
                "stable_generalized_high": general.high,
                "ci_coverage": general.confidence,
                "median_memorized_epoch": memorized.median,
                "median_delay": censored_median_ci(delays).median if delays else float("nan"),
                "median_final_test_acc": float(np.median([r["final_test_acc"] for r in runs])),
                "median_wall_time_s": float(np.median([r["wall_time_s"] for r in runs])),
            }
        )
    return table


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def sweep(
    base: GrokConfig,
    grid: dict[str, list[Any]],
    seeds: int,
    max_epochs: int,
    out: Path,
    workers: int | None = None,
    runner: Runner = run_grok,
    ray_address: str | None = None,
    threshold: float = GENERALIZED,
    title: str = "",
) -> list[dict[str, Any]]:
    """Plan, run what is missing, and write ``sweep.csv``, ``summary.csv`` and the plots.
    Returns the per-point summary."""
    from gptlab.plots.sweep import plot_sweep  # matplotlib only where figures are drawn

    tasks = plan(base, grid, seeds, max_epochs, out)
    spec = sweep_spec(grid, seeds, max_epochs, threshold)
    check_existing(tasks, out, spec)
    out.mkdir(parents=True, exist_ok=True)  # only now: every check has passed
    write_json(out / "sweep.json", spec)
    run_tasks(tasks, workers or default_workers(), runner, ray_address)
    rows = collect(tasks, grid, threshold)
    write_csv(out / "sweep.csv", rows)
    axes = [k for k, v in grid.items() if len(v) > 1]
    table = summarize(rows, axes)
    write_csv(out / "summary.csv", table)
    if 1 <= len(axes) <= 2:
        title = f"{title or out} (generalized: test accuracy stays >= {threshold:g} to the end)"
        fig = plot_sweep(table, axes, max_epochs, title=title)
        fig.savefig(out / "phase_diagram.png", dpi=120)
    return table


def run_folder_name(task: Task) -> str:
    return str(task.run_dir)


PresetName = Literal[tuple(sorted(PRESETS))]  # the presets' names: choices --help lists


@dataclass
class SweepOptions:
    """``gptlab grok-sweep``'s options."""

    max_epochs: int
    """budget of every run"""
    grid: Annotated[
        tuple[str, ...], tyro.conf.UseAppendAction, tyro.conf.arg(metavar="FIELD=v1,v2,...")
    ] = ()
    """a GrokConfig field and its values, one --grid per axis (one value: fixed); none: preset"""
    seeds: int = 3
    """seeds 0..K-1 per grid point"""
    preset: PresetName = "grok"
    """the config the grid varies"""
    threshold: float = GENERALIZED
    """test accuracy that counts as generalized"""
    workers: int | None = None
    """default: one per core"""
    ray: Annotated[str | None, tyro.conf.arg(metavar="ADDRESS")] = None
    """run on a Ray cluster"""
    out: Path | None = None
    """default: runs/grok-sweep-..."""

    def check(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers {self.workers} must be >= 1")
        if not 0 < self.threshold <= 1:  # nan fails this too
            raise ConfigError(f"--threshold {self.threshold} must lie in (0, 1]")


def main(argv: list[str]) -> int:
    options = parse_options(
        argv,
        SweepOptions,
        "gptlab grok-sweep",
        "Grokking runs over a grid of GrokConfig values x seeds, in parallel.",
    )
    options.check()
    base = PRESETS[options.preset]
    grid = parse_grid(options.grid, base)
    check_grid(base, grid)
    out = options.out or default_run_dir("grok-sweep")
    check_out_dir(out)
    with resumable(resume_command("grok-sweep", argv, out), run_folder_name):
        table = sweep(
            base,
            grid,
            options.seeds,
            options.max_epochs,
            out,
            options.workers,
            ray_address=options.ray,
            threshold=options.threshold,
        )
    for row in table:
        print(
            ", ".join(f"{k}={row[k]}" for k in grid if k in row)
            + f": {row['generalized']}/{row['runs']} generalized,"
            f" median stable epoch {row['median_stable_generalized_epoch']:g}"
        )
    print(f"{out}/sweep.csv, {out}/summary.csv")
    return 0
