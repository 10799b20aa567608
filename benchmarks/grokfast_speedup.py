"""Does Grokfast's EMA filter make the `fast` preset grok sooner? Side by side, one run.

Four arms of the `fast` preset, each ``--seeds`` seeds trained as one batched model with
per-run pictures off:

- **filter**: the preset as shipped (Grokfast's EMA filter on, Adam with L2 0.005);
- **off**: the same preset with only the filter off;
- **off, no decay**: the filter off and no weight decay, Grokfast's own baseline;
- **off, L2 / (1 + lambda)**: the filter off and the L2 coefficient divided by 1 + lambda,
  the control for what the filter does to the L2 term under Adam (see ``baselines``).

The baselines get ``--ratio`` times the optimizer steps that the slowest filtered seed
needed to generalize stably (test accuracy >= 0.99 from there to the end). A baseline seed
that is not stable by then is censored at its budget, so a median speedup printed as ">= R"
means at least half the baseline seeds were still not stable after R times the filtered
median. Last, one single `gptlab grok --preset fast` run with its default monitoring gives
the wall time to stable generalization, the figure a user waits for. ``--figure PNG`` draws
every seed's accuracy against optimizer step, one colour per arm.

    python benchmarks/grokfast_speedup.py --seeds 5 --figure docs/figures/grokfast_speedup.png
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import typing
from pathlib import Path

from grok_stability import measure

from gptlab.config import replace_flat
from gptlab.experiments.grokking import PRESETS, GrokConfig, run_seeds, steps_per_epoch
from gptlab.experiments.grokking.sweep import QUIET
from gptlab.experiments.options import check_out_dir
from gptlab.plots.grokking import plot_accuracy_by_arm
from gptlab.train.run_folder import RunFolder


def arm(config: GrokConfig, seeds: int, root: Path) -> tuple[dict, list[int | None]]:
    """Train ``seeds`` seeds; return the table row and each seed's stable step (or None)."""
    row, summaries = measure(config, seeds, root)
    per_epoch = steps_per_epoch(config.optim, len(config.task.build().train_targets))
    epochs = [s["stable_generalized_epoch"] for s in summaries]
    return row, [e * per_epoch if e is not None else None for e in epochs]


def baselines(shipped: GrokConfig) -> dict[str, dict[str, typing.Any]]:
    """The filter-off arms. Under Adam the filter's only lasting effects are the direction
    it smooths and the size of the data gradient next to the L2 term, which Adam adds after
    the filter: a steady gradient grows (1 + lambda)-fold against it. The last arm keeps the
    filter off and divides the L2 coefficient by (1 + lambda) instead."""
    weaker = shipped.optim.weight_decay / (1 + shipped.optim.grad_filter_lambda)
    return {
        "off": {"grad_filter": "none"},
        "off, no decay": {"grad_filter": "none", "weight_decay": 0.0},
        f"off, L2 {weaker:.2g}": {"grad_filter": "none", "weight_decay": weaker},
    }


def folder_name(arm_name: str) -> str:
    return "".join(c if c.isalnum() or c == "." else "-" for c in arm_name)


def median_steps(steps: list[int | None], budget: int) -> tuple[float, bool]:
    """The median stable step with unstable seeds counted as the budget, and whether that
    median is only a lower bound (it falls on a censored seed)."""
    values = sorted(s if s is not None else budget for s in steps)
    median = statistics.median(values)
    censored = sum(s is None for s in steps)
    return median, censored > 0 and median >= budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ratio", type=float, default=5.0, help="baseline budget / filtered")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    parser.add_argument("--figure", type=Path, default=None, help="draw the arms into this PNG")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds} must be >= 1")
    if not (math.isfinite(args.ratio) and args.ratio >= 1):
        parser.error(f"--ratio {args.ratio} must be a finite number >= 1")
    if args.keep is not None:
        try:
            check_out_dir(args.keep, "--keep")
        except ValueError as error:
            parser.error(str(error))
    preset = PRESETS["fast"]
    shipped = replace_flat(preset, **QUIET, checkpoint_every=10**9)
    per_epoch = steps_per_epoch(shipped.optim, len(shipped.task.build().train_targets))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        row, filtered = arm(shipped, args.seeds, root / "filter")
        rows = [{"arm": "filter", **row}]
        if None in filtered:
            raise SystemExit(f"the filtered preset was not stable in every seed: {filtered}")
        budget_epochs = int(args.ratio * max(filtered) / per_epoch) + 1
        budget = budget_epochs * per_epoch
        filtered_median = statistics.median(filtered)
        speedups = {}
        for name, changes in baselines(shipped).items():
            config = replace_flat(shipped, epochs=budget_epochs, **changes)
            row, steps = arm(config, args.seeds, root / folder_name(name))
            rows.append({"arm": name, **row})
            median, lower_bound = median_steps(steps, budget)
            speedups[name] = (median / filtered_median, lower_bound)
        single = run_seeds(preset, 1, root / "single", batched=False, progress=False)[0]
        if args.figure:
            arms = {
                row["arm"]: [
                    RunFolder(d).read_metrics()
                    for d in sorted((root / folder_name(row["arm"])).glob("seed-*"))
                ]
                for row in rows
            }
            task = preset.task  # the fast preset's: modular arithmetic
            title = f"`fast` preset (p {task.p}, {task.operation}): "
            title += "Grokfast's EMA filter on and off"
            plot_accuracy_by_arm(arms, title).savefig(args.figure, dpi=100)
    print(f"`fast` preset, {args.seeds} seeds per arm; baselines run {budget} steps")
    print(f"({args.ratio:g}x the slowest filtered seed's {max(filtered)})\n")
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    print(f"\nfiltered median stable step: {filtered_median:g}")
    for name, (speedup, lower_bound) in speedups.items():
        print(f"speedup over '{name}': {'>= ' if lower_bound else ''}{speedup:.1f}x")
    stable = (
        f"stable from epoch {single['stable_generalized_epoch']} after "
        f"{single['stable_generalized_time_s']:.1f} s"
        if single["stable_generalized_epoch"] is not None
        else "never stable"
    )
    print(
        f"one `gptlab grok --preset fast` run, default monitoring: {stable}; "
        f"{single['wall_time_s']:.1f} s in all, final test acc {single['final']['test_acc']:.4f}"
    )


if __name__ == "__main__":
    main()
