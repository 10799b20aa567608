"""Regenerate every figure the README and docs/ show, from the small experiments behind them.

    python docs/make_figures.py            # the real small experiments (a few CPU minutes)
    python docs/make_figures.py --quick    # every experiment cut to seconds (what the tests run)

Each experiment goes through gptlab's public functions (``gptlab.api.grok``, the sweep, the
centering suite, ``run_seeds``), the same code paths as the ``gptlab`` commands printed
beside each figure. The PNGs land in ``--out`` (default docs/figures), each under 200 KB: a
figure over the limit is re-encoded with a 256-colour palette, and one still over it stops
the script with an error. For every figure the script prints the command that produced it,
how long that took, and the machine, so the docs can quote them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_BYTES = 200_000
FIGURES = (
    "grok_curves.png",
    "grok_landscape_evolution.png",
    "grok_attention_evolution.png",
    "parity_curves.png",
    "sweep_phase_diagram.png",
    "centering_comparison.png",
    "batched_seeds.png",
    "run_lifecycle.png",
    "scaling.png",
)
DEFAULT_OUT = Path(__file__).resolve().parent / "figures"


def cli_flags(base: Any, config: Any) -> str:
    """The ``--field value`` options that turn ``base`` into ``config``: flat names, as the
    command line takes them, whatever section a field lives in."""
    from gptlab.config import flat_names, flat_value

    flags = []
    for name in flat_names(config):
        value = flat_value(config, name)
        if value != flat_value(base, name):
            text = " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
            flags.append(f"--{name.replace('_', '-')} {text}")
    return " ".join(flags)


def machine() -> str:
    threads = __import__("torch").get_num_threads()
    cpu = platform.processor() or platform.machine()
    return (
        f"{datetime.date.today()}, {platform.system()} {cpu}, {os.cpu_count()} cores, "
        f"torch {__import__('torch').__version__}, {threads} thread(s)"
    )


def grok_figures(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """One run of the ``grok`` preset: its curves, landscape evolution, attention evolution."""
    from gptlab.api import grok
    from gptlab.config import replace_flat
    from gptlab.experiments.grokking import PRESETS, summary_line

    preset = PRESETS["grok"]
    config = preset
    if quick:
        config = replace_flat(
            preset,
            epochs=60,
            eval_every=10,
            landscape_every=30,
            landscape_plot_every=30,
            landscape_resolution=5,
            landscape_examples=32,
            attention_every=30,
            histogram_every=0,
            checkpoint_every=60,
        )
    run = grok(config, out=runs / "grok", progress=False)
    print(f"  {summary_line(run.path, run.summary)}")
    command = f"gptlab grok --preset grok {cli_flags(preset, config)}".strip()
    copies = {
        "grok_curves.png": "curves.png",
        "grok_landscape_evolution.png": "landscape_evolution.png",
        "grok_attention_evolution.png": "attention_evolution.png",
    }
    for name, source in copies.items():
        shutil.copyfile(run.path / "plots" / source, out / name)
    return [(name, f"{command}  ->  plots/{source}") for name, source in copies.items()]


def parity_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """One run of the ``parity`` preset (sparse parity): its curves."""
    from gptlab.api import grok
    from gptlab.config import replace_flat
    from gptlab.experiments.grokking import PRESETS, summary_line

    preset = PRESETS["parity"]
    # seed 1: seed 0 is the one of five that ends without generalizing (docs/grokking.md)
    config = replace_flat(preset, seed=1, split_seed=1)
    if quick:
        config = replace_flat(config, epochs=20, t_max=20, eval_every=5)
    run = grok(config, out=runs / "parity", progress=False)
    print(f"  {summary_line(run.path, run.summary)}")
    command = f"gptlab grok --preset parity {cli_flags(preset, config)}".strip()
    shutil.copyfile(run.path / "plots" / "curves.png", out / "parity_curves.png")
    return [("parity_curves.png", f"{command}  ->  plots/curves.png")]


def sweep_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """A 2x2 phase diagram of the ``smoke`` preset: weight decay x training fraction."""
    from gptlab.experiments.grokking import PRESETS
    from gptlab.experiments.grokking.sweep import sweep

    grid = {"weight_decay": [0.1, 1.0], "train_fraction": [0.5, 0.9]}
    seeds, max_epochs = (1, 20) if quick else (2, 1500)
    table = sweep(
        PRESETS["smoke"],
        grid,
        seeds,
        max_epochs,
        runs / "sweep",
        workers=1,
        title="smoke preset: add mod 23",
    )
    for row in table:
        point = ", ".join(f"{axis} {row[axis]:g}" for axis in grid)
        median = row["median_stable_generalized_epoch"]
        never = "never" if median == float("inf") else None
        print(
            f"  {point}: stably generalized {row['generalized']}/{row['runs']}, median stable "
            f"epoch {never or median}, median memorized epoch "
            f"{row['median_memorized_epoch']}, median final test acc "
            f"{row['median_final_test_acc']:.3f}, median wall {row['median_wall_time_s']:.1f} s"
        )
    shutil.copyfile(runs / "sweep" / "phase_diagram.png", out / "sweep_phase_diagram.png")
    axes = " ".join(f"--grid {k}={','.join(f'{v:g}' for v in vs)}" for k, vs in grid.items())
    command = (
        f"gptlab grok-sweep --preset smoke {axes} --seeds {seeds} "
        f"--max-epochs {max_epochs} --workers 1  ->  phase_diagram.png"
    )
    return [("sweep_phase_diagram.png", command)]


def centering_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """A tiny centering suite: baseline, qk_normalized (its control) and qk_centered, 2
    seeds, the ``smoke`` GPT."""
    from gptlab.config import replace_flat
    from gptlab.experiments.centering.presets import PRESETS
    from gptlab.experiments.centering.suite import run_suite

    preset = PRESETS["smoke"]
    iters = dict(max_iters=6, eval_every=3) if quick else dict(max_iters=1000, eval_every=50)
    config = replace_flat(preset, data_file=data_file, **iters)
    variants, seeds = ["baseline", "qk_normalized", "qk_centered"], [0, 1]
    results = run_suite(config, seeds, variants, runs / "suite", progress=False)
    for r in results:
        print(f"  {Path(r['run_dir']).name}: final_val_loss {r['final_val_loss']:.4f}")
    shutil.copyfile(runs / "suite" / "centering_comparison.png", out / "centering_comparison.png")
    flags = cli_flags(preset, replace_flat(config, data_file=""))
    command = (
        f"gptlab center-suite --preset smoke --seeds 2 --variants {' '.join(variants)} {flags}"
        "  ->  centering_comparison.png"
    )
    return [("centering_comparison.png", command)]


def batched_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """Milliseconds per epoch of one seed, K seeds one after another and K seeds as one
    batched model, for the ``smoke`` preset with a full batch and with batches of 16."""
    import numpy as np
    from matplotlib.figure import Figure

    from gptlab.config import replace_flat
    from gptlab.experiments.grokking import PRESETS, run_seeds, steps_per_epoch

    preset, k = PRESETS["smoke"], 2 if quick else 4
    steps = steps_per_epoch(
        replace_flat(preset, batch_size=16).optim, len(preset.task.build().train_targets)
    )
    quiet = dict(landscape_every=0, landscape_plot_every=0, histogram_every=0, attention_every=0)
    cases = {
        "full batch\n(1 step per epoch)": replace_flat(
            preset, epochs=5 if quick else 300, eval_every=5 if quick else 50, **quiet
        ),
        f"batch 16\n({steps} steps per epoch)": replace_flat(
            preset,
            batch_size=16,
            epochs=3 if quick else 40,
            eval_every=3 if quick else 10,
            **quiet,
        ),
    }
    labels = ["1 seed", f"{k} seeds, one after another", f"{k} seeds, --batched"]
    timings, commands = {}, []
    for n, (case, config) in enumerate(cases.items()):
        folder = runs / f"batched-{n}"
        one = run_seeds(config, 1, folder / "one", batched=False, progress=False)
        seq = run_seeds(config, k, folder / "seq", batched=False, progress=False)
        bat = run_seeds(config, k, folder / "bat", batched=True, progress=False)
        ms = [
            1000 * sum(s["wall_time_s"] for s in group) / config.optim.epochs
            for group in (one, seq, bat[:1])
        ]
        timings[case] = ms
        flags = cli_flags(preset, config)
        commands.append(
            f"gptlab grok --preset smoke {flags} --seeds {k} [--batched]"
            f"  (ms/epoch: "
            + ", ".join(f"{label} {t:.1f}" for label, t in zip(labels, ms, strict=True))
            + ")"
        )
        print(f"  {case.splitlines()[0]}: " + ", ".join(f"{t:.1f} ms" for t in ms))
    fig = Figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    x = np.arange(len(cases))
    width = 0.26
    for i, label in enumerate(labels):
        values = [timings[case][i] for case in cases]
        bars = ax.bar(x + (i - 1) * width, values, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, list(cases))
    ax.set_ylabel("wall time per epoch (ms),\nevaluations included")
    ax.set_title(f"smoke preset, {k} seeds: one by one or as one batched model", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.margins(y=0.15)
    fig.text(0.01, 0.01, machine(), fontsize=6, color="grey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out / "batched_seeds.png", dpi=100)
    return [("batched_seeds.png", " ; ".join(commands))]


def lifecycle_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """The run lifecycle of ``gptlab.train.lifecycle.run_experiment``, boxes and arrows."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig = Figure(figsize=(9.5, 4.4))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 19)
    ax.set_ylim(0, 8.8)
    ax.axis("off")
    green, amber, red, blue = "#e3f1de", "#fdf1d6", "#f8dcdc", "#dbe9f6"
    boxes = {  # (x, y, width, height), colour, text
        "start": (
            (0.2, 3.9, 3.8, 2.0),
            blue,
            "start or --resume\nlock DIR/.lock;\nfresh: write config.json;\n"
            "resume: check config,\ncut metrics.jsonl, load",
        ),
        "train": ((5.0, 4.3, 3.2, 1.2), green, "train one unit\n(epoch or iteration)"),
        "monitor": ((9.3, 4.3, 3.8, 1.2), green, "monitors: metrics.jsonl,\nTensorBoard, pictures"),
        "checkpoint": ((14.2, 4.3, 4.5, 1.2), amber, "checkpoint.pt (atomic)\nif due or stopping"),
        "diverged": ((4.6, 0.3, 4.0, 1.7), red, "diverged\nsummary.json\nstatus: diverged\nexit 3"),
        "stopped": (
            (9.5, 0.3, 4.0, 1.7),
            amber,
            "stopped (SIGINT/SIGTERM)\nsummary.json\nstatus: stopped, exit 130\n'resume with: ...'",
        ),
        "finished": (
            (14.4, 0.3, 4.3, 1.7),
            green,
            "finished\nplots/, then summary.json\nstatus: finished\nTensorBoard hparams",
        ),
    }
    for (x, y, w, h), colour, text in boxes.values():
        ax.add_patch(
            FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", fc=colour, ec="#555555", lw=1)
        )
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)

    def at(key: str, fx: float, fy: float) -> tuple[float, float]:
        x, y, w, h = boxes[key][0]
        return x + fx * w, y + fy * h

    def arrow(a, b, text="", colour="#333333", rad=0.0, where=(0.0, 0.0)):
        ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                arrowstyle="-|>",
                mutation_scale=12,
                lw=1.3,
                color=colour,
                connectionstyle=f"arc3,rad={rad}",
            )
        )
        if text:
            ax.text(
                (a[0] + b[0]) / 2 + where[0],
                (a[1] + b[1]) / 2 + where[1],
                text,
                fontsize=8,
                ha="center",
                va="center",
                color=colour,
            )

    arrow(at("start", 1, 0.5), at("train", 0, 0.5))
    arrow(at("train", 1, 0.5), at("monitor", 0, 0.5))
    arrow(at("monitor", 1, 0.5), at("checkpoint", 0, 0.5))
    arrow(at("checkpoint", 0.5, 1), at("train", 0.5, 1), "next unit", rad=0.25, where=(0, 1.55))
    arrow(
        at("train", 0.5, 0),
        at("diverged", 0.5, 1),
        "gradient norm\nnot finite",
        "#b03030",
        where=(-1.1, 0),
    )
    arrow(
        at("checkpoint", 0.2, 0),
        at("stopped", 0.6, 1),
        "stop requested",
        "#a06a00",
        where=(-1.2, 0.1),
    )
    arrow(
        at("checkpoint", 0.7, 0),
        at("finished", 0.6, 1),
        "all units\ndone",
        "#2b7a2b",
        where=(-0.8, 0),
    )
    ax.text(
        0.2,
        8.4,
        "gptlab.train.lifecycle.run_experiment: one loop for grok, batched seeds "
        "and center (so for every sweep and suite)",
        fontsize=9,
        weight="bold",
    )
    fig.savefig(out / "run_lifecycle.png", dpi=100)
    return [("run_lifecycle.png", "drawn by docs/make_figures.py (lifecycle_figure)")]


def scaling_figure(out: Path, runs: Path, quick: bool, data_file: str) -> list[tuple[str, str]]:
    """Seconds per step against size, beside the FLOP count (benchmarks/scaling.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import scaling

    rows = []
    for (lab, axis), values in scaling.SIZES.items():
        sizes = values[:2] if quick else values
        rows += scaling.measure(lab, axis, sizes, 1 if quick else 5, memory=False)
    scaling.figure(rows, scaling.exponents(rows)).savefig(out / "scaling.png", dpi=100)
    for fit in scaling.exponents(rows):
        print(f"  {fit['lab']} {fit['axis']}: time exponent {fit['time exponent']:.2f}, "
              f"FLOP exponent {fit['FLOP exponent']:.2f}")  # fmt: skip
    return [("scaling.png", "python benchmarks/scaling.py --figure docs/figures/scaling.png")]


STEPS = {
    "grok": grok_figures,
    "parity": parity_figure,
    "sweep": sweep_figure,
    "centering": centering_figure,
    "batched": batched_figure,
    "lifecycle": lifecycle_figure,
    "scaling": scaling_figure,
}


def shrink(path: Path) -> int:
    """The PNG's size in bytes; one over MAX_BYTES is re-encoded with a 256-colour palette,
    and one still over it is an error."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
        size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path} is {size / 1000:.0f} KB, over the {MAX_BYTES // 1000} KB limit")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every experiment cut to seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument(
        "--runs",
        type=Path,
        help="keep the run folders here (default: a temporary folder, removed at the end)",
    )
    # torch's own default, as `gptlab grok` uses it: when a run groks depends on float rounding,
    # which depends on the thread count, so the README's figure must be the main job's run
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (default 0: torch's default)"
    )
    parser.add_argument(
        "--data-file",
        default="",
        help="text for the centering runs "
        "(default: Tiny Shakespeare, found as gptlab center finds it)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(STEPS),
        default=list(STEPS),
        help="regenerate only these figures' experiments",
    )
    args = parser.parse_args(argv)
    if args.threads < 0:
        parser.error(f"--threads {args.threads} must be >= 0 (0 = torch's default)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    temporary = args.runs is None
    runs = Path(tempfile.mkdtemp(prefix="gptlab-figures-")) if temporary else args.runs
    runs.mkdir(parents=True, exist_ok=True)
    print(f"figures -> {args.out} ({'quick' if args.quick else 'full'}); measured on {machine()}")
    try:
        for step in (STEPS[name] for name in args.only):
            print(f"{step.__name__}: {step.__doc__.splitlines()[0]}")
            started = time.perf_counter()
            made = step(args.out, runs, args.quick, args.data_file)
            seconds = time.perf_counter() - started
            for name, command in made:
                size = shrink(args.out / name)
                print(
                    f"  {name}: {size / 1000:.0f} KB; {seconds:.0f} s for this step\n    {command}"
                )
    finally:
        if temporary:
            shutil.rmtree(runs, ignore_errors=True)
    missing = [name for name in FIGURES if not (args.out / name).exists()]
    if missing and set(args.only) == set(STEPS):
        raise SystemExit(f"figures not written: {missing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
