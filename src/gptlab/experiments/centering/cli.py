"""``gptlab center``: train the char-level GPT with one centering variant.

    gptlab center --preset cpu --variant momentum_centered --seed 1
    gptlab center --preset cpu --variant custom --center block --centering-mode adaptive
    gptlab center --resume runs/center-20260101-120000

The final validation loss is one fixed, full, deterministic pass over the validation split;
the random-batch estimates in metrics.jsonl are for watching progress only.

How long, on a 2-core CPU: --preset cpu about 1.5 min (91-94 s measured on 2026-12-05,
eager: --compile auto); the brief preset is meant for a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from gptlab.experiments.centering.config import CenterConfig, check_config
from gptlab.experiments.centering.presets import DEFAULT_PRESET, PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.options import RunOptions, parse_run_request


@dataclass
class CenterCommand(RunOptions):
    config: CenterConfig = field(default_factory=lambda: PRESETS[DEFAULT_PRESET])
    """the run's config, --preset's values changed by these options"""


def main(argv: list[str]) -> int:
    request = parse_run_request(
        argv, "gptlab center", CenterCommand, PRESETS, DEFAULT_PRESET, description=__doc__
    )
    check_config(request.config)
    summary = run_center(request.config, request.run_dir, resume=request.resume)
    if int(os.environ.get("RANK", 0)) != 0:  # under torchrun only the main process reports
        return 0
    print(
        f"{summary['variant']} seed {summary['seed']}: final val loss "
        f"{summary['final_val_loss']:.4f} (full pass, {summary['final_val_tokens']} tokens), "
        f"{summary['tokens_per_sec']:.0f} tokens/s, "
        f"{'compiled' if summary['compiled'] else 'eager'} ({summary['compile_reason']}) "
        f"-> {request.run_dir}"
    )
    return 0
