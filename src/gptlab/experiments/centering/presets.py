"""The starting values of ``gptlab center --preset P``: every other option overrides them."""

from __future__ import annotations

from gptlab.config import replace_flat
from gptlab.experiments.centering.config import CenterConfig

PRESETS: dict[str, CenterConfig] = {
    # the brief's shape (the description this project started from): CenterConfig's defaults
    "brief": CenterConfig(),
    # nanoGPT's shakespeare_char CPU recipe
    "cpu": replace_flat(
        CenterConfig(),
        n_layer=4,
        n_head=4,
        d_model=128,
        block_size=64,
        batch_size=12,
        max_iters=2000,
        dropout=0.0,
        eval_every=250,
    ),
    "smoke": replace_flat(
        CenterConfig(),
        n_layer=1,
        n_head=2,
        d_model=32,
        block_size=32,
        batch_size=8,
        max_iters=20,
        warmup_iters=5,
        dropout=0.0,
        eval_every=10,
        eval_iters=2,
        device="cpu",
    ),
}
DEFAULT_PRESET = "brief"
