"""How cost grows with size: seconds per training step and peak memory, beside the FLOPs.

    python benchmarks/scaling.py            # a few minutes on a 2-core CPU
    python benchmarks/scaling.py --quick    # fewer sizes and repeats
    python benchmarks/scaling.py --figure docs/figures/scaling.png

Grokking: one full-batch epoch (one optimizer step) of the ``grok`` preset, at p 23 to 113
(40% of the pairs: the examples grow as p^2) and at d_model 32 to 256 (p 47). The GPT: one
training step (forward, backward, AdamW) of the ``cpu`` preset's model at n_layer 2 to 8 and
at width 64 to 256. Each time is the fastest of the repeats after a warm-up; each peak
memory is the largest resident set of a fresh process that builds the model and takes two
steps, less that of one that only imports torch and gptlab. The fitted exponent is the
slope of log seconds on log size; the predicted one, the slope of log FLOPs (forward +
backward, ``gptlab.analysis.flops``) on log size.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from centering_throughput import training_step
from common import print_table, time_call
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from gptlab.analysis.flops import matmul_parameters, training_flops_per_token
from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.centering.config import CenterConfig, model_config
from gptlab.experiments.centering.presets import PRESETS as CENTER_PRESETS
from gptlab.train.lifecycle import Counters

VOCAB = 65  # Tiny Shakespeare's characters
SIZES = {  # (lab, axis): values; --quick keeps every other one
    ("grok", "p"): [23, 31, 47, 67, 97, 113],
    ("grok", "d_model"): [32, 64, 128, 256],
    ("gpt", "n_layer"): [2, 4, 8],
    ("gpt", "d_model"): [64, 128, 256],
}


def grok_config(axis: str, value: int) -> grok.GrokConfig:
    quiet = {"landscape_every": 0, "landscape_plot_every": 0}  # the training step alone
    return replace_flat(grok.PRESETS["grok"], device="cpu", **quiet, **{axis: value})


def gpt_config(axis: str, value: int) -> CenterConfig:
    return replace_flat(CENTER_PRESETS["cpu"], device="cpu", **{axis: value})


def grok_step(config: grok.GrokConfig) -> Callable[[], None]:
    # a GrokRun creates its folder only when the lifecycle starts it: this one never is
    run = grok.GrokRun([config], [Path(tempfile.gettempdir()) / "scaling-never-written"])
    return lambda: run.train_unit(Counters())


def grok_flops(config: grok.GrokConfig) -> float:
    """Forward + backward FLOPs of one full-batch epoch: T tokens an example (3: x, y, =)
    through the blocks, the LM head at the last only (``last_only``)."""
    structure = grok.transformer_config(config)
    t, head = config.task.sequence_length, structure.n_embd * structure.vocab_size
    per_example = 6.0 * (t * (matmul_parameters(structure) - head) + head)
    per_example += 12.0 * structure.n_layer * structure.n_embd * t * t  # attention
    return per_example * config.task.train_count()


def gpt_flops(config: CenterConfig) -> float:
    structure = model_config(config, VOCAB)
    block = config.model.block_size
    return training_flops_per_token(structure, block) * config.optim.batch_size * block


def build(lab: str, axis: str, value: int) -> tuple[Callable[[], None], float]:
    if lab == "grok":
        config = grok_config(axis, value)
        return grok_step(config), grok_flops(config)
    config = gpt_config(axis, value)
    return training_step(config, torch.device("cpu"), config.optim.batch_size), gpt_flops(config)


def peak_rss_bytes(lab: str, axis: str, value: int | None) -> int:
    """Largest resident set of this fresh process after two steps (None: imports only)."""
    if value is not None:
        step, _ = build(lab, axis, value)
        step()
        step()
    # VmHWM, not getrusage's ru_maxrss: a spawned process inherits its parent's ru_maxrss
    # across exec, and the parent here holds every model it has timed
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def fresh_process_peak(pool, lab: str, axis: str, value: int | None) -> int:
    return pool.apply(peak_rss_bytes, (lab, axis, value))


def slope(x: list[float], y: list[float]) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def measure(
    lab: str, axis: str, values: list[int], repeats: int, memory: bool = True
) -> list[dict]:
    """One row per size: seconds per step, FLOPs and (``memory``) peak MiB."""
    rows = []
    for value in values:  # all timings first: a pool's next worker starts up in the background
        step, flops = build(lab, axis, value)
        seconds = time_call(step, torch.device("cpu"), warmup=1, repeats=repeats)
        rows.append({"lab": lab, "axis": axis, "size": value, "step s": seconds,
                     "GFLOP": flops / 1e9, "GFLOP/s": flops / seconds / 1e9})  # fmt: skip
    if not memory:
        return rows
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:  # one fresh process per measurement
        baseline = fresh_process_peak(pool, lab, axis, None)
        for row in rows:
            peak = fresh_process_peak(pool, lab, axis, row["size"]) - baseline
            row["peak MiB"] = peak / 2**20
    return rows


def exponents(rows: list[dict]) -> list[dict]:
    out = []
    for lab, axis in SIZES:
        part = [r for r in rows if r["lab"] == lab and r["axis"] == axis]
        if len(part) < 2:
            continue
        sizes = [r["size"] for r in part]
        out.append(
            {
                "lab": lab,
                "axis": axis,
                "time exponent": slope(sizes, [r["step s"] for r in part]),
                "FLOP exponent": slope(sizes, [r["GFLOP"] for r in part]),
                "memory exponent": (
                    slope(sizes, [max(r["peak MiB"], 1e-3) for r in part])
                    if "peak MiB" in part[0]
                    else None
                ),
            }
        )
    return out


def figure(rows: list[dict], fits: list[dict]) -> Figure:
    """Seconds per step against size, one panel per fitted axis, the FLOPs scaled beside."""
    fig = Figure(figsize=(3.4 * len(fits), 3.2))
    axes = fig.subplots(1, len(fits), squeeze=False)
    for ax, fit in zip(axes[0], fits, strict=True):
        part = [r for r in rows if r["lab"] == fit["lab"] and r["axis"] == fit["axis"]]
        sizes = np.array([r["size"] for r in part], dtype=float)
        seconds = np.array([r["step s"] for r in part])
        flops = np.array([r["GFLOP"] for r in part])
        ax.loglog(sizes, seconds, "o-", label=f"measured (slope {fit['time exponent']:.2f})")
        ax.loglog(
            sizes,
            flops / flops[0] * seconds[0],
            "--",
            label=f"FLOPs, scaled (slope {fit['FLOP exponent']:.2f})",
        )
        ax.set_xticks(sizes, [f"{s:g}" for s in sizes])  # the measured sizes, plainly
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(fit["axis"])
        ax.set_ylabel("seconds per step")
        ax.set_title(f"{'grokking' if fit['lab'] == 'grok' else 'char-level GPT'}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every other size, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (fastest counts)")
    parser.add_argument("--figure", type=Path, help="also draw the time exponents here")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats} must be >= 1")
    repeats = 2 if args.quick else args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    rows = []
    for (lab, axis), values in SIZES.items():
        rows += measure(lab, axis, values[::2] if args.quick else values, repeats)
    print_table(rows, ["lab", "axis", "size", "step s", "GFLOP", "GFLOP/s", "peak MiB"])
    fits = exponents(rows)
    print()
    print_table(fits, ["lab", "axis", "time exponent", "FLOP exponent", "memory exponent"])
    if args.figure:
        figure(rows, fits).savefig(args.figure, dpi=100)
        print(f"\n{args.figure}")


if __name__ == "__main__":
    main()
