"""Data-parallel training without code changes: ``torchrun --nproc_per_node N -m gptlab ...``.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them everything here is a no-op and
the run is a plain single process. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files, logs and progress bars."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group torchrun prepared (idempotent); a single process otherwise."""
    if not launched_by_torchrun():
        return DistributedContext()
    context = DistributedContext(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(context.local_rank)
    return context


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def mean_across_processes(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The mean of ``value`` over all processes (itself in a single process)."""
    if not context.enabled:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / context.world_size


def gather_to_main(value: Any, context: DistributedContext) -> list[Any] | None:
    """Every process's ``value`` in rank order on the main process, None elsewhere.

    A collective: all processes must call it. Pickles through the process group, so it is
    for small objects such as RNG states, not tensors on the hot path.
    """
    if not context.enabled:
        return [value]
    gathered = [None] * context.world_size if context.is_main else None
    dist.gather_object(value, gathered, dst=0)
    return gathered
