"""Seeding and RNG state capture, so a resumed run draws the same numbers as an unbroken one."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from gptlab.config import ConfigError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG's state as tensors and plain values, so that a checkpoint holding it
    loads with ``torch.load(weights_only=True)``."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
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
        raise ConfigError(
            f"the checkpoint was written by {len(states)} process(es) but this run has {world}; "
            f"resume with the same number of processes (torchrun --nproc_per_node {len(states)})"
        )
    set_rng_state(states[rank])


DEVICES = "auto, cpu, cuda, cuda:N, mps"


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` = CUDA if present, else Apple MPS, else CPU. Anything but the forms in
    ``DEVICES``, or a device this machine lacks, is a ValueError saying what is allowed:
    torch's own errors ("Expected one of cpu, cuda, ... device type") list every backend it
    was built for, and ``cuda:7`` on a one-GPU machine only fails at the first tensor."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, sep, index = str(requested).partition(":")
    if kind not in ("cpu", "cuda", "mps") or (sep and (kind != "cuda" or not index.isdigit())):
        raise ConfigError(f"device {requested!r} is not one of {DEVICES}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {requested!r} asked for, but CUDA is not available here")
    if kind == "cuda" and sep and int(index) >= torch.cuda.device_count():
        raise ConfigError(
            f"device {requested!r}: this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    if kind == "mps" and not mps_available():
        raise ConfigError(f"device {requested!r} asked for, but Apple MPS is not available here")
    return torch.device(requested)


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
