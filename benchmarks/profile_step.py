"""Where the time goes: torch.profiler's operator table for one unit of training work.

    python benchmarks/profile_step.py gpt --variant qk_centered --batch 16
    python benchmarks/profile_step.py gpt --preset cpu --dropout 0.2 --trace gpt.json
    python benchmarks/profile_step.py grok --preset brief --epochs 2

``gpt``: one training step (forward, backward, AdamW) of the centering lab's model;
``grok``: whole epochs of a grokking preset plus one evaluation and one loss landscape.
``--trace FILE`` also writes a Chrome trace (chrome://tracing, Perfetto). For the Python
side of a whole run, sample it with py-spy (`pip install py-spy`) instead:

    py-spy record -o grok.svg -- gptlab grok --preset grok --epochs 300
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from centering_throughput import training_step
from torch.profiler import ProfilerActivity, profile

from gptlab.analysis.landscape import loss_surface, parameters_of, random_directions
from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.centering.presets import PRESETS as CENTER_PRESETS
from gptlab.train.reproducibility import pick_device


def gpt_work(args: argparse.Namespace, device: torch.device) -> Callable[[], None]:
    config = replace_flat(
        CENTER_PRESETS[args.preset or "brief"], variant=args.variant, device=str(device)
    )
    if args.dropout is not None:
        config = replace_flat(config, dropout=args.dropout)
    return training_step(config, device, args.batch or config.optim.batch_size)


def grok_work(args: argparse.Namespace, device: torch.device) -> Callable[[], None]:
    config = replace_flat(grok.PRESETS[args.preset or "grok"], device=str(device))
    monitor = config.monitor
    data = config.task.build().to(device)
    model = grok.build_model(config).to(device)
    per_epoch = grok.steps_per_epoch(config.optim, len(data.train_targets))
    optimizer, scheduler = grok.build_optimizer(model, config.optim, per_epoch)
    shuffle = torch.Generator().manual_seed(0)
    params = parameters_of(model)
    directions = random_directions(params, 0)
    examples = slice(0, monitor.landscape_examples)

    def work() -> None:
        for _ in range(args.epochs):
            grok.train_epoch(model, optimizer, scheduler, [data], config.optim, [shuffle])
        grok.evaluate(model, [data])
        loss_surface(
            model,
            parameters_of(model),
            directions,
            data.train_inputs[examples],
            data.train_targets[examples],
            monitor.landscape_span,
            monitor.landscape_resolution,
        )

    return work


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", choices=["gpt", "grok"])
    parser.add_argument("--preset", default=None, help="default: brief (gpt), grok (grok)")
    parser.add_argument("--variant", default="baseline", help="gpt: a centering variant")
    parser.add_argument("--dropout", type=float, default=None, help="gpt: override dropout")
    parser.add_argument("--batch", type=int, default=0, help="gpt: sequences (0 = preset's)")
    parser.add_argument("--epochs", type=int, default=5, help="grok: epochs per profile")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--trace", type=Path, default=None, help="write a Chrome trace here")
    args = parser.parse_args()
    device = pick_device(args.device)
    work = gpt_work(args, device) if args.workload == "gpt" else grok_work(args, device)
    work()  # warm up: first-call allocations and kernel selection are not the steady state
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        work()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.rows))
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
        print(f"trace -> {args.trace}")


if __name__ == "__main__":
    main()
