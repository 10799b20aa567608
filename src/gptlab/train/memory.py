"""Will a run fit in memory? An estimate from its config, checked before anything is written.

Without it, ``--p 100003`` or ``--batch-size 100000000`` allocates for minutes, swaps the
machine and dies of ``MemoryError`` (or is killed) after its folder is written. The
estimates are upper-end sums of what a run holds at once (data, parameters with their
gradients and optimizer state, the activations of one step, one evaluation chunk): a
config refused here could not have run; one accepted may still be slow.
"""

from __future__ import annotations

import os

import torch

from gptlab.config import ConfigError
from gptlab.nn.transformer import Transformer, TransformerConfig

FLOAT_BYTES = 4
GIB = 2**30


def parameter_count(config: TransformerConfig) -> int:
    """The model's parameter count, from a model built on the meta device (no memory)."""
    with torch.device("meta"):
        return Transformer(config).num_parameters()


def machine_bytes(device: torch.device) -> int | None:
    """The memory of ``device``: the GPU's for CUDA, the machine's RAM otherwise (None where
    it cannot be read). Total, not free: a run that could fit once others end is allowed."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1]
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(parts: dict[str, float], device: torch.device) -> None:
    """A ValueError when the parts of a run (name -> bytes) need more memory than ``device``
    has; it names the largest part, the one to make smaller."""
    available = machine_bytes(device)
    needed = sum(parts.values())
    if available is not None and needed > available:
        largest = max(parts, key=parts.get)
        raise ConfigError(
            f"this run needs about {needed / GIB:,.1f} GiB of memory, mostly for {largest}, "
            f"but {device} has {available / GIB:,.1f} GiB; make it smaller"
        )
