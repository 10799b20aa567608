"""Seeding and RNG state capture, so a resumed run draws the same numbers as an unbroken one."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def set_rank_rng_state(saved: list[dict[str, Any]] | dict[str, Any], rank: int, world: int) -> None:
    """Restore process ``rank``'s state from a checkpoint's per-rank list of RNG states.

    A bare dict is an older single-process checkpoint (one state). A different number of
    processes than the checkpoint was written by is an error: each process draws its own
    dropout masks, so handing states to other ranks, or inventing new ones, would silently
    break the exact continuation a resume promises.
    """
    states = saved if isinstance(saved, list) else [saved]
    if len(states) != world:
        raise ValueError(
            f"the checkpoint was written by {len(states)} process(es) but this run has {world}; "
            f"resume with the same number of processes (torchrun --nproc_per_node {len(states)})"
        )
    set_rng_state(states[rank])


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` = CUDA if present, else Apple MPS, else CPU."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} asked for, but CUDA is not available here")
    return torch.device(requested)
