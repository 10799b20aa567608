"""Does a grokking configuration generalize, and stay generalized? Seeds x variants.

Each variant is a set of GrokConfig overrides on a preset; its seeds train as one batched
model (``--seeds K --batched``: the same numbers as K separate runs) with per-run pictures
off, and the table gives per variant: seeds that reached stable generalization (test
accuracy >= 0.99 from some evaluation to the end, also on the pairs whose mirror is not in
training), the median stable epoch, dips after first generalizing, train-loss spikes, the
share of evaluations after generalizing at >= 0.99, the worst final test accuracy, the
median stable epoch counted in optimizer steps, and wall time per seed. Used to find what
causes the loss spikes and to pick the presets.

    python benchmarks/grok_stability.py --preset grok --seeds 10 \\
        --variant base --variant eps1e-6:adam_eps=1e-6 --variant clip:grad_clip=1
    python benchmarks/grok_stability.py --preset grok --seeds 5 --variant p59:p=59
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import typing
from pathlib import Path

from gptlab.config import ConfigError, replace_flat
from gptlab.experiments.grokking import PRESETS, GrokConfig, run_seeds, steps_per_epoch
from gptlab.experiments.grokking.grid import field_types, parse_value
from gptlab.experiments.grokking.sweep import QUIET
from gptlab.experiments.options import check_out_dir


def parse_variant(spec: str, base: GrokConfig) -> tuple[str, dict[str, typing.Any]]:
    """``NAME:field=value,field=value`` (or a bare ``NAME``: the preset itself); each field
    is a flat name of ``base`` (``adam_eps``, ``p``: whatever section holds it)."""
    name, _, body = spec.partition(":")
    hints = field_types(base)
    changes = {}
    for item in filter(None, body.split(",")):
        field, _, text = item.partition("=")
        if field not in hints:
            raise ConfigError(f"no GrokConfig field {field!r}")
        if hints[field] == tuple[float, float]:
            changes[field] = tuple(float(v) for v in text.split("/"))
        else:
            changes[field] = parse_value(text, hints[field], field)
    return name, changes


def measure(
    config: GrokConfig, seeds: int, root: Path
) -> tuple[dict[str, typing.Any], list[dict[str, typing.Any]]]:
    """Train ``seeds`` seeds of ``config`` as one batched model: the table row, the summaries."""
    started = time.perf_counter()
    summaries = run_seeds(config, seeds, root, batched=True, progress=False)
    return describe(config, summaries, time.perf_counter() - started), summaries


def describe(
    config: GrokConfig, summaries: list[dict[str, typing.Any]], wall: float
) -> dict[str, typing.Any]:
    """One table row for ``summaries``: the seeds of ``config``, trained in ``wall`` s."""
    seeds = len(summaries)
    stable = [s["stable_generalized_epoch"] for s in summaries]
    both = [
        s["stable_generalized_epoch"] is not None
        and (s["stable_generalized_epoch_unmirrored"] is not None or s["final"] is None)
        for s in summaries
    ]
    reached = [e for e in stable if e is not None]
    per_epoch = steps_per_epoch(config.optim, len(config.task.build().train_targets))
    shares = [s["share_at_threshold_after_generalizing"] for s in summaries]
    return {
        "stable": f"{sum(both)}/{seeds}",
        "median stable epoch": statistics.median(reached) if reached else None,
        "max stable epoch": max(reached) if reached else None,
        "median stable step": statistics.median(reached) * per_epoch if reached else None,
        "dips": sum(s["dips_after_generalizing"] for s in summaries),
        "spikes": sum(len(s["spike_epochs"]) for s in summaries),
        "min share after": round(min(x for x in shares if x is not None), 3)
        if any(x is not None for x in shares)
        else None,
        "worst final test acc": round(min(s["final"]["test_acc"] for s in summaries), 4),
        "s per seed": round(wall / seeds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="grok")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:FIELD=V,...")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    args = parser.parse_args()
    if args.keep is not None:
        try:
            check_out_dir(args.keep, "--keep")
        except ValueError as error:
            parser.error(str(error))
    base = replace_flat(PRESETS[args.preset], **QUIET, checkpoint_every=10**9)
    if args.epochs:
        base = replace_flat(base, epochs=args.epochs)
    variants = []  # every one read before any trains: a typo in the last fails at once
    for spec in args.variant or ["base"]:
        try:
            variants.append(parse_variant(spec, base))
        except ValueError as error:  # a ConfigError, or a bad number in betas
            parser.error(f"--variant {spec}: {error}")
    print(f"preset {args.preset}, {args.seeds} seeds, {base.optim.epochs} epochs, batched\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, changes in variants:
            config = replace_flat(base, **changes)
            root = (args.keep or Path(tmp)) / name
            row = {"variant": name, **measure(config, args.seeds, root)[0]}
            rows.append(row)
            print(" | ".join(f"{k}: {v}" for k, v in row.items()), flush=True)
    print("\n| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
