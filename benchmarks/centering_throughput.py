"""What centering costs: tokens/s of a full training step per variant, and of the op alone.

    python benchmarks/centering_throughput.py            # brief's model, block 256, batch 1/16/64
    python benchmarks/centering_throughput.py --quick    # cpu-preset model, block 64
    python benchmarks/centering_throughput.py --device cuda

A training step = forward + backward + AdamW step at the real batch shape, with the same
autocast as training (bf16 on CUDA). The overhead is the step-time increase over baseline
at the same batch size: the number that matters. The op alone (VectorCentering on the
(B, T, C) final embeddings, forward and forward + backward) is shown beside it, because
that is what the brief reported (3.3M tokens/s), and it says little about the step.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from common import print_table, time_call

from gptlab.config import replace_flat
from gptlab.experiments.centering.config import (
    CenterConfig,
    centering_config,
    describe_centering,
    model_config,
)
from gptlab.experiments.centering.evaluate import autocast_for
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.variants import VARIANTS
from gptlab.nn import CENTERING_MODES, CenteringConfig, Transformer, VectorCentering
from gptlab.train.allocator import keep_freed_memory
from gptlab.train.optim import adamw
from gptlab.train.reproducibility import pick_device

VOCAB = 65  # Tiny Shakespeare's characters


def training_step(config: CenterConfig, device: torch.device, batch: int) -> Callable[[], None]:
    if device.type == "cpu":
        keep_freed_memory()  # as gptlab center does
    torch.manual_seed(0)
    model = Transformer(model_config(config, VOCAB)).to(device).train()
    optimizer = adamw(model, 1e-3, 0.1, (0.9, 0.99), device.type)
    # compiled as ``gptlab center --compile on`` compiles
    trained = torch.compile(model) if config.runtime.compile == "on" else model
    x = torch.randint(0, VOCAB, (batch, config.model.block_size), device=device)

    def step() -> None:
        with autocast_for(config, device):
            loss = trained(x, x)[1]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def interleaved_seconds(
    calls: dict[str, Callable[[], None]], device: torch.device, repeats: int
) -> dict[str, float]:
    """Fastest seconds per call (see ``time_call``), timing the calls round-robin: on a
    shared or throttling machine, drifting load then hits every variant alike instead of
    whichever ran last."""
    for call in calls.values():
        call()
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            times[name].append(time_call(call, device, warmup=0, repeats=1))
    return {name: min(t) for name, t in times.items()}


def op_seconds(
    mode: str, shape: tuple[int, int, int], device: torch.device, backward: bool, repeats: int
) -> float:
    module = VectorCentering(shape[-1:], CenteringConfig(mode=mode), shape[-1] ** 0.5)
    module = module.to(device).train()
    x = torch.randn(shape, device=device, requires_grad=backward)

    def call() -> None:
        out = module(x)
        if backward:
            out.sum().backward()

    return time_call(call, device, warmup=2, repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="cpu-preset model, block 64")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (fastest)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    base = replace_flat(PRESETS["cpu" if args.quick else "brief"], device=str(device))
    m = base.model
    print(
        f"device {device}, {m.n_layer} layers, {m.n_head} heads, d_model {m.d_model}, "
        f"block {m.block_size}, dropout {m.dropout}, threads {torch.get_num_threads()}"
    )

    rows = []
    variants = [v for v in VARIANTS if v != "custom"]  # baseline first
    for batch in args.batches:
        configs = {v: replace_flat(base, variant=v) for v in variants}
        steps = {v: training_step(c, device, batch) for v, c in configs.items()}
        seconds = interleaved_seconds(steps, device, args.repeats)
        for variant, config in configs.items():
            rows.append(
                {
                    "batch": batch,
                    "variant": variant,
                    "centering": describe_centering(centering_config(config)),
                    "step ms": 1000 * seconds[variant],
                    "tokens/s": batch * m.block_size / seconds[variant],
                    "overhead %": 100 * (seconds[variant] / seconds["baseline"] - 1),
                }
            )
    print("\nFull training step (forward + backward + AdamW)")
    print_table(rows, ["batch", "variant", "centering", "step ms", "tokens/s", "overhead %"])

    op_rows = []
    for batch in args.batches:
        shape = (batch, m.block_size, m.d_model)
        for mode in CENTERING_MODES:
            forward = op_seconds(mode, shape, device, False, args.repeats)
            both = op_seconds(mode, shape, device, True, args.repeats)
            tokens = batch * m.block_size
            op_rows.append(
                {
                    "batch": batch,
                    "mode": mode,
                    "fwd tokens/s": tokens / forward,
                    "fwd+bwd tokens/s": tokens / both,
                }
            )
    print(f"\nCentering op alone on (B, {m.block_size}, {m.d_model}) vectors")
    print_table(op_rows, ["batch", "mode", "fwd tokens/s", "fwd+bwd tokens/s"])


if __name__ == "__main__":
    main()
