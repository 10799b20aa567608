"""The benchmark suite: speed figures and their targets, as ratios that hold on any machine.

    python benchmarks/run_all.py                 # everything (12 min with --repeats 3, 2 CPU cores)
    python benchmarks/run_all.py --quick         # smaller shapes and budgets (a few minutes)
    python benchmarks/run_all.py --only gpt grok --json results.json

Sections:
- gpt: training tokens/s at the ``brief`` and ``cpu`` shapes, and model-FLOPs utilization
  against a matmul peak measured in the same process; the dropout-0.2 / dropout-0 step
  ratio; eager and compiled (``--compile on``): the speedup, the compile time (a fresh
  compile cache unless ``TORCHINDUCTOR_CACHE_DIR`` names one) and whether compiling repays
  it over each preset's run, as ``--compile auto`` decides;
- centering: each variant's overhead in % of a full training step at the ``cpu`` shape,
  Q/K centering's at the brief's, eager and compiled; ``--compile off`` or ``on`` picks one;
- grok: steps/s, the ``grok`` preset's time to generalize, 8 batched seeds vs one run
  (``grok`` and ``brief`` presets);
- landscape: grid points/s and the landscape's share of a ``brief`` grokking run;
- scaling: how step time grows with p, d_model and n_layer, beside the FLOP count
  (``scaling.py``, without its memory measures).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
from pathlib import Path

import scaling
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
from gptlab.train.compile import compile_decision
from gptlab.train.reproducibility import pick_device

TARGETS = {  # name: (bound, "max" | "min" | "true")
    "gpt_mfu_brief_shape": (0.75, "min"),
    "dropout_step_ratio": (1.1, "max"),
    "dropout_step_ratio_compiled": (1.1, "max"),
    "qk_overhead_pct_cpu_shape": (5.0, "max"),
    "qk_overhead_pct_cpu_shape_compiled": (5.0, "max"),
    "qk_overhead_pct_brief_shape": (5.0, "max"),
    "qk_overhead_pct_brief_shape_compiled": (5.0, "max"),
    "auto_compile_agrees_cpu_shape": (1, "true"),
    "auto_compile_agrees_brief_shape": (1, "true"),
    "grok_generalize_s": (60.0, "max"),
    "landscape_share_brief_run": (0.10, "max"),
    "batched_8_seeds_time_ratio": (2.0, "max"),
}
VOCAB = 65
QK_VARIANT = "qk_centered"  # the target's Q/K centering; the other variants are shown beside
NOISE = 0.03  # a compiled step this much faster or less does not count as faster


def on_off(compiled: bool) -> str:
    return "on" if compiled else "off"


def compiled_suffix(compiled: bool) -> str:
    return "_compiled" if compiled else ""


def gpt_section(device: torch.device, quick: bool, repeats: int, compile_modes: list[bool]) -> dict:
    """Per shape, dropout 0 and 0.2, eager and compiled, all four timed round-robin."""
    peak = matmul_peak_flops(device)
    print(f"matmul peak (fp32, fastest of 1024^3 to 3072^3): {peak / 1e9:,.1f} GFLOP/s")
    results, rows = {"matmul_peak_flops": peak}, []
    shapes = ["cpu"] if quick else ["brief", "cpu"]
    for shape in shapes:
        sides = list(itertools.product(compile_modes, (0.0, 0.2)))
        configs = {
            (compiled, dropout): replace_flat(
                CENTER_PRESETS[shape], dropout=dropout, device=str(device), compile=on_off(compiled)
            )
            for compiled, dropout in sides
        }
        steps = {k: training_step(c, device, c.optim.batch_size) for k, c in configs.items()}
        first = {k: first_call_seconds(step, device) for k, step in steps.items()}
        timings = interleaved_seconds(steps, device, repeats)  # a drift hits every side alike
        for (compiled, dropout), config in configs.items():
            batch, block = config.optim.batch_size, config.model.block_size
            seconds = timings[compiled, dropout]
            tokens_per_s = batch * block / seconds
            flops = training_flops_per_token(model_config(config, VOCAB), block)
            mfu = tokens_per_s * flops / peak
            rows.append({"shape": shape, "compiled": compiled, "dropout": dropout, "batch": batch,
                         "first step s": first[compiled, dropout], "step s": seconds,
                         "tokens/s": tokens_per_s, "MFU": mfu})  # fmt: skip
            results[f"gpt_{shape}_dropout{dropout}{compiled_suffix(compiled)}"] = {
                "tokens_per_s": tokens_per_s,
                "mfu": mfu,
                "step_s": seconds,
                "first_step_s": first[compiled, dropout],
            }
        for compiled in compile_modes:
            suffix = compiled_suffix(compiled)
            if shape == shapes[0]:
                results[f"gpt_mfu_{shape}_shape{suffix}"] = results[
                    f"gpt_{shape}_dropout0.0{suffix}"
                ]["mfu"]
                results[f"dropout_step_ratio{suffix}"] = (
                    timings[compiled, 0.2] / timings[compiled, 0.0]
                )
    columns = ["shape", "compiled", "dropout", "batch", "first step s", "step s", "tokens/s"]
    print_table(rows, [*columns, "MFU"])
    if compile_modes == [False, True]:
        results |= compile_payoff(results, shapes, device)
    return results


def first_call_seconds(call, device: torch.device) -> float:
    """The first call alone: for a compiled step, compiling (with the caches as they are)."""
    return time_call(call, device, warmup=0, repeats=1)


def compile_payoff(results: dict, shapes: list[str], device: torch.device) -> dict:
    """Whether compiling repays its compile time over each preset's own run (dropout as the
    preset sets it), and whether ``--compile auto`` decides the same. A gain under
    ``NOISE`` is not counted: the same step drifts that much between rounds on this VM."""
    payoff, rows = {}, []
    for shape in shapes:
        preset = CENTER_PRESETS[shape]
        key = f"gpt_{shape}_dropout{preset.model.dropout}"
        eager, compiled = results[key], results[f"{key}_compiled"]
        speedup = eager["step_s"] / compiled["step_s"]
        compile_s = compiled["first_step_s"] - compiled["step_s"]
        saved_s = preset.optim.max_iters * (eager["step_s"] - compiled["step_s"])
        iters, width = preset.optim.max_iters, preset.model.d_model
        auto, _ = compile_decision("auto", device, width, iters)
        pays = saved_s > compile_s and speedup > 1 + NOISE
        payoff[f"compile_speedup_{shape}_shape"] = speedup
        payoff[f"compile_seconds_{shape}_shape"] = compile_s
        payoff[f"auto_compile_agrees_{shape}_shape"] = int(auto == pays)
        rows.append({"preset": shape, "iterations": iters, "speedup": speedup,
                     "compile s": compile_s, "saved s": saved_s, "pays": pays,
                     "auto compiles": auto})  # fmt: skip
    print("\ncompiling, over each preset's run (compile time = first step - a later one)")
    print_table(rows, ["preset", "iterations", "speedup", "compile s", "saved s", "pays",
                       "auto compiles"])  # fmt: skip
    return payoff


def centering_section(
    device: torch.device, quick: bool, repeats: int, compile_modes: list[bool]
) -> dict:
    """Overhead in % of a full step, eager and compiled (``--compile on``), each against the
    baseline timed the same way, all round-robin: every variant at the ``cpu`` shape, Q/K at
    the brief's."""
    every = [v for v in VARIANTS if v != "custom"]  # baseline first
    shapes = {"cpu": every} if quick else {"cpu": every, "brief": ["baseline", QK_VARIANT]}
    results, rows = {}, []
    for shape, variants in shapes.items():
        sides = list(itertools.product(compile_modes, variants))
        base = replace_flat(CENTER_PRESETS[shape], device=str(device))
        configs = {(c, v): replace_flat(base, variant=v, compile=on_off(c)) for c, v in sides}
        steps = {k: training_step(c, device, base.optim.batch_size) for k, c in configs.items()}
        seconds = interleaved_seconds(steps, device, repeats)
        for compiled in compile_modes:
            suffix = compiled_suffix(compiled)
            baseline = seconds[compiled, "baseline"]
            overhead = {v: 100 * (seconds[compiled, v] / baseline - 1) for v in variants}
            rows += [
                {
                    "shape": shape,
                    "variant": v,
                    "compiled": compiled,
                    "step s": seconds[compiled, v],
                    "overhead %": overhead[v],
                }  # fmt: skip
                for v in variants
            ]
            results[f"centering_overhead_pct_{shape}_shape{suffix}"] = overhead
            results[f"qk_overhead_pct_{shape}_shape{suffix}"] = overhead[QK_VARIANT]
    print_table(rows, ["shape", "variant", "compiled", "step s", "overhead %"])
    return results


def scaling_section(device: torch.device, quick: bool, root: Path) -> dict:
    """How step time grows with size (``scaling.py``): the fitted exponent beside the FLOPs'."""
    if device.type != "cpu":
        print("scaling.py measures on the CPU; skipped on", device)
        return {}
    rows = []
    for (lab, axis), values in scaling.SIZES.items():
        rows += scaling.measure(lab, axis, values[::2] if quick else values, 2 if quick else 3,
                                memory=False)  # fmt: skip
    fits = scaling.exponents(rows)
    print_table(fits, ["lab", "axis", "time exponent", "FLOP exponent"])
    return {
        f"exponent_{f['lab']}_{f['axis']}": {
            "time": f["time exponent"],
            "flops": f["FLOP exponent"],
        }
        for f in fits
    }


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
    """Each target's row, then the growth exponents beside the FLOP count's (no bound)."""
    rows = []
    for name, (bound, kind) in TARGETS.items():
        value = next((r[name] for r in results.values() if name in r), None)
        met = None
        if value is not None:
            met = {"min": value >= bound, "max": value <= bound, "true": bool(value)}[kind]
        rows.append(
            {
                "target": name,
                "value": value,
                "bound": "auto = measured payoff" if kind == "true" else f"{kind} {bound:g}",
                "met": {None: "not measured", True: "yes", False: "NO"}[met],
            }
        )
    for name, fit in results.get("scaling", {}).items():
        rows.append({"target": f"time {name}", "value": fit["time"],
                     "bound": f"FLOPs: {fit['flops']:.2f}", "met": "-"})  # fmt: skip
    return rows


def main() -> None:
    sections = {
        "gpt": gpt_section,
        "centering": centering_section,
        "grok": grok_section,
        "landscape": landscape_section,
        "scaling": scaling_section,
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
        # compile times as a machine's first run sees them, unless a cache is named
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(tmp) / "inductor"))
        # dozens of models share Transformer.forward here; past 8 compiles of one function
        # dynamo would quietly run the rest eager
        torch._dynamo.config.recompile_limit = 1024
        torch._dynamo.config.accumulated_recompile_limit = 4096
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
