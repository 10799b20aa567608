"""An optional learning-rate grid per arm of a centering suite: does the ranking hold when
every arm trains at its own best learning rate?

The suite compares every arm at nanoGPT's one learning rate, which measures how fast each
trains at that rate more than what each can reach. The grid trains each arm at a few rates
on a few seeds with the end of the train split held out; each arm's best rate is chosen on
that holdout (never on val), and the arms are then compared on val at their best rates.
The min_lr of the cosine schedule keeps its ratio to lr.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from gptlab.analysis.statistics import Contrast
from gptlab.config import ConfigError, replace_flat
from gptlab.experiments.centering.config import CenterConfig, check_config

HOLDOUT_FRACTION = 0.1  # of the train split, held out of every grid run


def grid_configs(
    base: CenterConfig, variants: list[str], lrs: list[float], seeds: list[int]
) -> list[CenterConfig]:
    if len(set(lrs)) != len(lrs) or len(lrs) < 2:
        raise ConfigError(f"--lr-grid {lrs}: give at least 2 distinct learning rates")
    configs = [
        replace_flat(
            base,
            variant=variant,
            seed=seed,
            lr=lr,
            min_lr=lr * base.optim.min_lr / base.optim.lr,
            holdout_fraction=HOLDOUT_FRACTION,
        )
        for lr in lrs
        for seed in seeds
        for variant in variants
    ]
    for config in configs:
        check_config(config)
    return configs


def grid_dir(out: Path, config: CenterConfig) -> Path:
    variant, lr, seed = config.centering.variant, config.optim.lr, config.runtime.seed
    return out / "lr-grid" / f"{variant}-lr{lr:g}-seed{seed}"


def best_rates(results: list[dict[str, Any]], variants: list[str]) -> list[dict[str, Any]]:
    """Per arm: mean holdout loss at each lr over the finished seeds, the best lr by that,
    and the mean val loss at the best lr. A rate where any seed diverged counts as +inf."""
    rows = []
    for variant in variants:
        mine = [r for r in results if r["variant"] == variant]
        holdout: dict[float, float] = {}
        val: dict[float, float] = {}
        for lr in sorted({r["lr"] for r in mine}):
            runs = [r for r in mine if r["lr"] == lr]
            if all(r["status"] == "finished" for r in runs):
                holdout[lr] = float(np.mean([r["final_holdout_loss"] for r in runs]))
                val[lr] = float(np.mean([r["final_val_loss"] for r in runs]))
            else:
                holdout[lr], val[lr] = math.inf, math.inf
        best = min(holdout, key=holdout.get)
        rows.append({"variant": variant, "holdout": holdout, "best_lr": best, "val": val[best]})
    return rows


def ranking_checks(rows: list[dict[str, Any]], contrasts: list[Contrast]) -> list[dict[str, Any]]:
    """For every contrast of the main table: its sign at the shared lr and at each arm's
    best lr (mean val loss of the grid runs), and whether it holds."""
    val_at_best = {r["variant"]: r["val"] for r in rows}
    checks = []
    for c in contrasts:
        if c.treatment not in val_at_best or c.control not in val_at_best:
            continue
        at_best = val_at_best[c.treatment] - val_at_best[c.control]
        shared = c.paired.mean_difference
        checks.append(
            {
                "treatment": c.treatment,
                "control": c.control,
                "shared_lr": shared,
                "best_lr": at_best,
                "holds": math.isfinite(at_best) and (at_best < 0) == (shared < 0),
            }
        )
    return checks
