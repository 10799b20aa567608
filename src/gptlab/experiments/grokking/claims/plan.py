"""Which runs decide the claims: the plan of grid points, seeds and budgets per claim, at
two scales (``--scale cpu``, ``--scale gpu``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gptlab.config import ConfigError, flat_value, replace_flat
from gptlab.experiments.grokking import GENERALIZED, PRESETS, GrokConfig


@dataclass
class ClaimsPlan:
    base: GrokConfig
    seeds: int  # per grid point
    max_epochs: int
    weight_decays: list[float]  # claim 1: 0 and the base's among them
    d_models: list[int]  # claim 2: widths (d_ff stays the base's); the base's among them
    train_fractions: list[float]  # claim 3
    init_scales: list[float]  # axis 5, crossed with phase_weight_decays
    phase_weight_decays: list[float]  # the base's among them
    sharpness_seeds: int  # claim 4: seeds of the base and of each of its two controls
    snapshot_every: int  # claim 4: epochs between the base run's parameter snapshots
    control_epochs: int  # claim 4: the wd-0 control's budget (it needs only to pass the
    control_snapshot_every: int  # base's losses, which it does fast: dense snapshots)
    per_phase: int = 5  # claim 4: snapshots measured per phase
    match_tolerance: float = 1.5  # claim 4: most a matched training loss may differ, x
    # claim 4's same-weight-decay control: the base at this train fraction (0/8 seeds stable
    # at 0.3 in the CPU plan's claim 3), a snapshot every snapshot_every epochs, full budget
    same_wd_fraction: float = 0.3
    threshold: float = GENERALIZED
    alpha: float = 0.05

    def check(self) -> None:
        weight_decay = flat_value(self.base, "weight_decay")
        d_model = flat_value(self.base, "d_model")
        for name, values, value in (
            ("weight_decays", self.weight_decays, 0.0),
            ("weight_decays", self.weight_decays, weight_decay),
            ("d_models", self.d_models, d_model),
            ("phase_weight_decays", self.phase_weight_decays, weight_decay),
        ):
            if value not in values:
                raise ConfigError(f"plan: {name} {values} must include {value:g}")
        for name in ("d_models", "train_fractions", "init_scales"):
            if len(getattr(self, name)) < 2:
                raise ConfigError(f"plan: {name} needs at least two values")
        if not min(self.d_models) < d_model < max(self.d_models):
            raise ConfigError(
                f"plan: d_models {self.d_models} must reach below and above the base's "
                f"{d_model} (claim 2 compares both ends with it)"
            )


# The `grok` preset's model and schedule at 40% of the pairs (10/10 seeds stable at p 47
# within its 2000 epochs, benchmarks/grok_stability.py) at its own budget, 8 seeds per point:
# 22 points x 8 + 3 x 4 sharpness runs (188). Init scales up to 10 x GPT-2's std 0.02.
CPU = ClaimsPlan(
    base=replace_flat(PRESETS["grok"], train_fraction=0.4, checkpoint_every=500),
    seeds=8,
    max_epochs=2000,
    weight_decays=[0.0, 0.1, 0.3, 1.0],
    d_models=[4, 8, 16, 64, 128],
    train_fractions=[0.3, 0.4, 0.5, 0.6],
    init_scales=[1.0, 3.0, 10.0],
    phase_weight_decays=[0.3, 1.0, 3.0],
    sharpness_seeds=4,
    snapshot_every=20,
    control_epochs=400,
    control_snapshot_every=2,
)


# The same plan at the brief's sizes (p 97, d_ff 1024): minutes per run on one GPU.
GPU = dataclasses.replace(
    CPU,
    base=replace_flat(CPU.base, p=97, d_ff=1024),
    d_models=[4, 8, 16, 64, 256],
)


PLANS = {"cpu": CPU, "gpu": GPU}
