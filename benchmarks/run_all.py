"""The benchmark suite: speed figures and their targets, as ratios that hold on any machine.

    python benchmarks/run_all.py                 # everything (about 30 minutes on 2 CPU cores)
    python benchmarks/run_all.py --quick         # smaller shapes and budgets (a few minutes)
    python benchmarks/run_all.py --only gpt grok --json results.json

Sections:
- gpt: training tokens/s at the ``brief`` and ``cpu`` shapes, and model-FLOPs utilization
  against a matmul peak measured in the same process; the dropout-0.2 / dropout-0 step ratio;
- centering: overhead of each variant in % of a full training step;
  both GPT sections time eager steps and compiled ones (``torch.compile``, as
  ``gptlab center --compile True`` trains); ``--compile off`` or ``on`` picks one;
- grok: steps/s, the ``grok`` preset's time to generalize, 8 batched seeds vs one run
  (``grok`` and ``brief`` presets);
- landscape: grid points/s and the landscape's share of a ``brief`` grokking run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import torch
from centering_throughput import interleaved_seconds, training_step
from common import matmul_peak_flops, print_table, time_call

from gptlab.analysis.flops import training_flops_per_token
from gptlab.analysis.landscape import loss_surface, parameters_of, random_directions
from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.centering.config import model_config
from gptlab.experiments.centering.presets import PRESETS as CENTER_PRESETS
from gptlab.experiments.centering.variants import VARIANTS
from gptlab.train.reproducibility import pick_device

TARGETS = {  # name: (bound, "max" | "min")
    "gpt_mfu_brief_shape": (0.75, "min"),
    "dropout_step_ratio": (1.1, "max"),
    "dropout_step_ratio_compiled": (1.1, "max"),
    "centering_overhead_pct_max": (3.0, "max"),
    "centering_overhead_pct_max_compiled": (3.0, "max"),
    "grok_generalize_s": (60.0, "max"),
    "landscape_share_brief_run": (0.10, "max"),
    "batched_8_seeds_time_ratio": (2.0, "max"),
}
VOCAB = 65


def on_off(compiled: bool) -> str:
    return "on" if compiled else "off"


def compiled_suffix(compiled: bool) -> str:
    return "_compiled" if compiled else ""


def gpt_section(device: torch.device, quick: bool, repeats: int, compile_modes: list[bool]) -> dict:
    peak = matmul_peak_flops(device)
    print(f"matmul peak (fp32, 2048^3): {peak / 1e9:,.1f} GFLOP/s")
    results, rows = {"matmul_peak_flops": peak}, []
    shapes = ["cpu"] if quick else ["brief", "cpu"]
    for compiled, shape in itertools.product(compile_modes, shapes):
        suffix = compiled_suffix(compiled)
        configs = {
            dropout: replace_flat(
                CENTER_PRESETS[shape], dropout=dropout, device=str(device), compile=on_off(compiled)
            )
            for dropout in (0.0, 0.2)
        }
        steps = {d: training_step(c, device, c.optim.batch_size) for d, c in configs.items()}
        timings = interleaved_seconds(steps, device, repeats)  # a drift hits both alike
        for dropout, config in configs.items():
            batch, block = config.optim.batch_size, config.model.block_size
            seconds = timings[dropout]
            tokens_per_s = batch * block / seconds
            flops = training_flops_per_token(model_config(config, VOCAB), block)
            mfu = tokens_per_s * flops / peak
            rows.append(
                {
                    "shape": shape,
                    "compiled": compiled,
                    "dropout": dropout,
                    "batch": batch,
                    "step s": seconds,
                    "tokens/s": tokens_per_s,
                    "MFU": mfu,
                }
            )
            results[f"gpt_{shape}_dropout{dropout}{suffix}"] = {
                "tokens_per_s": tokens_per_s,
                "mfu": mfu,
                "step_s": seconds,
            }
        if shape == shapes[0]:
            step = {d: results[f"gpt_{shape}_dropout{d}{suffix}"]["step_s"] for d in configs}
            results[f"gpt_mfu_{shape}_shape{suffix}"] = results[f"gpt_{shape}_dropout0.0{suffix}"][
                "mfu"
            ]
            results[f"dropout_step_ratio{suffix}"] = step[0.2] / step[0.0]
    print_table(rows, ["shape", "compiled", "dropout", "batch", "step s", "tokens/s", "MFU"])
    return results


def centering_section(
    device: torch.device, quick: bool, repeats: int, compile_modes: list[bool]
) -> dict:
    """Overhead in % of a full step, eager and under ``torch.compile`` (``--compile True``),
    each against the baseline timed the same way."""
    base = replace_flat(CENTER_PRESETS["cpu" if quick else "brief"], device=str(device))
    variants = [v for v in VARIANTS if v != "custom"]
    results, rows = {}, []
    for compiled in compile_modes:
        suffix = compiled_suffix(compiled)
        configs = {v: replace_flat(base, variant=v, compile=on_off(compiled)) for v in variants}
        steps = {v: training_step(c, device, base.optim.batch_size) for v, c in configs.items()}
        seconds = interleaved_seconds(steps, device, repeats)
        overhead = {v: 100 * (seconds[v] / seconds["baseline"] - 1) for v in variants}
        rows += [
            {"variant": v, "compiled": compiled, "step s": seconds[v], "overhead %": overhead[v]}
            for v in variants
        ]
        results[f"centering_overhead_pct{suffix}"] = overhead
        results[f"centering_overhead_pct_max{suffix}"] = max(overhead[v] for v in variants[1:])
    print_table(rows, ["variant", "compiled", "step s", "overhead %"])
    return results


def grok_section(device: torch.device, quick: bool, root: Path) -> dict:
    quiet = dict(
        landscape_every=0,
        landscape_plot_every=0,
        histogram_every=0,
        attention_every=0,
        checkpoint_every=10**6,
        device=str(device),
    )
    preset = grok.PRESETS["grok"]
    results = {}
    # steps/s of the bare training loop
    config = replace_flat(preset, **quiet)
    data = config.task.build().to(device)
    model = grok.build_model(config).to(device)
    per_epoch = grok.steps_per_epoch(config.optim, len(data.train_targets))
    optimizer, scheduler = grok.build_optimizer(model, config.optim, per_epoch)
    shuffle = torch.Generator().manual_seed(0)
    epochs = 50
    seconds = time_call(
        lambda: [
            grok.train_epoch(model, optimizer, scheduler, [data], config.optim, [shuffle])
            for _ in range(epochs)
        ],
        device,
        1,
        3,
    )
    results["grok_steps_per_s"] = epochs / seconds  # full batch: one step per epoch
    # time to generalize, with the preset's own monitoring
    if not quick:
        summary = grok.run_grok(
            replace_flat(preset, device=str(device)), root / "grok-preset", progress=False
        )
        results["grok_generalize_s"] = summary["generalized_time_s"]
        results["grok_generalize_epoch"] = summary["generalized_epoch"]
    # batched seeds: K seeds as one model vs one ordinary run, same epochs. Timed is each
    # run's own wall time (training, evaluations, checkpoints), not the per-seed figures drawn
    # once at the end. The full-batch grok preset is compute-bound; the brief preset's
    # 16-example steps leave room that batching fills.
    for name, epochs in (("grok", 100 if quick else 300), ("brief", 20 if quick else 100)):
        budget = replace_flat(grok.PRESETS[name], epochs=epochs, **quiet)
        one = grok.run_grok(budget, root / f"single-{name}", progress=False)["wall_time_s"]
        batched = grok.run_seeds(budget, 8, root / f"batched-{name}", batched=True, progress=False)
        eight = batched[0]["wall_time_s"]
        suffix = "" if name == "grok" else f"_{name}_preset"
        results[f"one_seed_s{suffix}"] = one
        results[f"batched_8_seeds_s{suffix}"] = eight
        results[f"batched_8_seeds_time_ratio{suffix}"] = eight / one
        results[f"batched_8_speedup_over_sequential{suffix}"] = 8 * one / eight
    print_table([{"measure": k, "value": v} for k, v in results.items()], ["measure", "value"])
    return results


def landscape_section(device: torch.device, quick: bool, root: Path) -> dict:
    config = replace_flat(grok.PRESETS["brief"], device=str(device))
    monitor = config.monitor
    data = config.task.build().to(device)
    model = grok.build_model(config).to(device)
    params = parameters_of(model)
    directions = random_directions(params, 0)
    n = monitor.landscape_resolution
    inputs, targets = (
        data.train_inputs[: monitor.landscape_examples],
        data.train_targets[: monitor.landscape_examples],
    )
    seconds = time_call(
        lambda: loss_surface(model, params, directions, inputs, targets, monitor.landscape_span, n),
        device,
        1,
        3,
    )
    results = {"landscape_points_per_s": n * n / seconds}
    # share of a brief-preset run (landscape every 10 epochs, as the brief asks)
    run = replace_flat(config, epochs=30 if quick else 200)
    summary = grok.run_grok(run, root / "brief-run", progress=False)
    results["landscape_share_brief_run"] = summary["landscape_share"]
    results["render_share_brief_run"] = summary["render_share"]
    print_table([{"measure": k, "value": v} for k, v in results.items()], ["measure", "value"])
    return results


def check_targets(results: dict) -> list[dict]:
    rows = []
    for name, (bound, kind) in TARGETS.items():
        value = next((r[name] for r in results.values() if name in r), None)
        met = None if value is None else (value >= bound if kind == "min" else value <= bound)
        rows.append(
            {
                "target": name,
                "value": value,
                "bound": f"{kind} {bound:g}",
                "met": {None: "not measured", True: "yes", False: "NO"}[met],
            }
        )
    return rows


def main() -> None:
    sections = {
        "gpt": gpt_section,
        "centering": centering_section,
        "grok": grok_section,
        "landscape": landscape_section,
    }
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=list(sections), default=list(sections))
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--compile",
        choices=["off", "on", "both"],
        default="both",
        help="time the GPT and centering steps eager, under torch.compile, or both",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (fastest)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    device = pick_device(args.device)
    compile_modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            print(f"\n== {name}")
            fn = sections[name]
            if name in ("gpt", "centering"):
                results[name] = fn(device, args.quick, args.repeats, compile_modes)
            else:
                results[name] = fn(device, args.quick, Path(tmp))
    print("\n== targets")
    targets = check_targets(results)
    print_table(targets, ["target", "value", "bound", "met"])
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "device": str(device),
                    "quick": args.quick,
                    "results": results,
                    "targets": targets,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
