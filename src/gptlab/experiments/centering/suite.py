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

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro

from gptlab.config import (
    ConfigError,
    check_finite,
    flat_names,
    flat_value,
    from_dict,
    replace_flat,
    to_dict,
)
from gptlab.experiments.centering.config import CenterConfig, check_config
from gptlab.experiments.centering.data import load_data
from gptlab.experiments.centering.lr_grid import (
    HOLDOUT_FRACTION,
    best_rates,
    grid_configs,
    grid_dir,
    ranking_checks,
)
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.centering.suite_report import check_figures, write_reports
from gptlab.experiments.centering.variants import VARIANTS, VariantName
from gptlab.experiments.executor import resumable, resume_command, run_all
from gptlab.experiments.options import (
    check_existing_run,
    check_out_dir,
    check_same_settings,
    parse_options,
)
from gptlab.reports import lr_grid_markdown
from gptlab.train.lifecycle import result_or_divergence
from gptlab.train.reproducibility import pick_device
from gptlab.train.run_folder import RunFolder, read_json_object, write_json

PROG = "gptlab center-suite"
DEFAULT_VARIANTS = tuple(v for v in VARIANTS if v != "custom")
Task = tuple[CenterConfig, Path, bool]  # a run's config, its folder, whether to show progress


def run_dir_for(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / f"{variant}-seed{seed}"


def plan_runs(base: CenterConfig, variants: list[str], seeds: list[int]) -> list[CenterConfig]:
    """One config per (variant, seed), all validated before anything trains, and so is
    every figure the suite will draw for these variants."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    repeated = sorted({v for v in variants if variants.count(v) > 1})
    if repeated:  # its runs would count twice in every statistic, or race for one folder
        raise ConfigError(f"--variants: {repeated} given more than once; name each variant once")
    if "baseline" not in variants:
        raise ConfigError("the suite compares against 'baseline'; include it in --variants")
    check_figures(variants)
    configs = [replace_flat(base, variant=v, seed=s) for s in seeds for v in variants]
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
            lrs = flat_value(seen[run_dir], "lr"), flat_value(config, "lr")
            raise ConfigError(
                f"--lr-grid {lrs[0]!r} and {lrs[1]!r} would share the folder "
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
        then = settings({"base": {}} | saved)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path}: {error}") from None
    check_same_settings(out, "suite", then, settings(plan))


def settings(plan: dict[str, Any]) -> dict[str, Any]:
    """A suite plan as one flat dict (every config field by its flat name, seeds, variants,
    lr_grid), as JSON holds it (tuples become lists): comparable with the saved one, which
    may be from before the config had sections (``from_dict`` upgrades it)."""
    plan = json.loads(json.dumps(plan))
    base = from_dict(CenterConfig, plan.pop("base"))
    return json.loads(json.dumps({n: flat_value(base, n) for n in flat_names(base)})) | plan


def execute(task: Task) -> dict[str, Any]:
    """One run of the suite, resumed if it started; top-level so worker processes and Ray
    can import it."""
    config, run_dir, progress = task
    resume = RunFolder(run_dir).config_path.exists()
    return result_or_divergence(run_center, config, run_dir, resume=resume, progress=progress)


def run_folder_name(task: Task) -> str:
    return str(task[1])


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
    shown = progress and workers == 1
    tasks = [
        (c, run_dir_for(out, flat_value(c, "variant"), flat_value(c, "seed")), shown)
        for c in configs
    ]
    tasks += [(c, grid_dir(out, c), shown) for c in grid]
    check_distinct_folders(tasks)
    check_same_suite(out, plan)
    for config, run_dir, _ in tasks:
        check_existing_run(run_dir, config)
    write_json(out / "suite.json", plan)  # only now: every check has passed
    done = {task[1]: summary for task, summary in run_all(execute, tasks, workers, ray_address)}
    every = [done[d] | {"run_dir": str(d), "lr": flat_value(c, "lr")} for c, d, _ in tasks]
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


LR_GRID = (
    "also train every variant at each of these learning rates on the first --lr-grid-seeds "
    "seeds, pick each one's best on a held-out slice of train, and report whether the "
    "ranking holds"
)
PresetName = Literal[tuple(sorted(PRESETS))]  # type: ignore[valid-type]  # --preset's choices
# CenterConfig options the suite sets per run: given once, they would be every run's
SET_PER_RUN = {
    "--variant": "the suite sets --variant and --seed itself; use --variants/--seeds",
    "--seed": "the suite sets --variant and --seed itself; use --variants/--seeds",
    "--centering-strength": "--centering-strength would override every variant's strength, "
    "the strength-0 controls included; each variant sets its own (see --variants)",
    "--center": "--center would override every variant's placements, baseline's included; "
    "each variant sets its own (see --variants)",
}


@dataclass
class SuiteOptions:
    """``gptlab center-suite``'s options: its own, then the shared run config's fields."""

    preset: PresetName = "cpu"
    """the config every variant shares"""
    seeds: int = 5
    """number of seeds K (seeds first..first+K-1)"""
    first_seed: int = 0
    """seeds first..first+K-1"""
    variants: tuple[VariantName, ...] = DEFAULT_VARIANTS
    """variants to compare"""
    out: Path | None = None
    """output folder (None: runs/center-suite-PRESET)"""
    # a flag without a value (the suite's only one), as before the options were a dataclass
    quiet: tyro.conf.UseCounterAction[int] = 0
    """no progress bars"""
    workers: int = 1
    """runs in parallel processes"""
    ray: Annotated[str | None, tyro.conf.arg(metavar="ADDRESS")] = None
    """run on a Ray cluster"""
    lr_grid: Annotated[tuple[float, ...] | None, tyro.conf.arg(metavar="LR", help=LR_GRID)] = None
    lr_grid_seeds: int = 2
    """seeds per grid point"""
    config: CenterConfig = field(default_factory=lambda: PRESETS["cpu"])
    """every run's config (--preset's, these options change it)"""

    def check(self) -> None:
        if self.seeds < 2:
            raise ConfigError(f"--seeds {self.seeds}: a paired comparison needs at least 2 seeds")
        if self.first_seed < 0:
            raise ConfigError(f"--first-seed {self.first_seed} must be >= 0")
        if self.workers < 1:
            raise ConfigError(f"--workers {self.workers} must be >= 1")
        if self.lr_grid == ():
            raise ConfigError("--lr-grid needs at least 2 distinct learning rates")
        if not 1 <= self.lr_grid_seeds <= self.seeds:
            raise ConfigError(f"--lr-grid-seeds {self.lr_grid_seeds} must lie in [1, --seeds]")


def parse_suite_options(argv: list[str]) -> SuiteOptions:
    """The suite's options, its config starting from --preset's; checked, the device too."""
    given = [a.split("=")[0] for a in argv]
    refused = next((SET_PER_RUN[a] for a in given if a in SET_PER_RUN), None)
    if refused:
        raise ConfigError(refused)
    # a first pass finds the preset; --help waits for the second, which shows its defaults
    plain = [a for a in argv if a not in ("-h", "--help")]
    preset = parse_options(plain, SuiteOptions, PROG, __doc__).preset
    default = SuiteOptions(preset=preset, config=PRESETS[preset])
    options = parse_options(argv, SuiteOptions, PROG, __doc__, default=default)
    options.check()
    check_finite(options.config)
    pick_device(flat_value(options.config, "device"))  # before the suite folder is written
    return options


def main(argv: list[str]) -> int:
    options = parse_suite_options(argv)
    out = options.out or Path("runs") / f"center-suite-{options.preset}"
    check_out_dir(out)
    seeds = list(range(options.first_seed, options.first_seed + options.seeds))
    lr_grid = None if options.lr_grid is None else list(options.lr_grid)
    with resumable(resume_command("center-suite", argv, out), run_folder_name):
        run_suite(
            options.config,
            seeds,
            list(options.variants),
            out,
            not options.quiet,
            options.workers,
            options.ray,
            lr_grid,
            options.lr_grid_seeds,
        )
    print((out / "comparison.md").read_text())
    print(f"-> {out}")
    return 0
