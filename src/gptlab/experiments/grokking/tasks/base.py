"""What the grokking lab needs of a task: a config section that builds the split.

A task is a dataclass (its fields are the task's section of ``GrokConfig``) with a class
name ``kind``, registered in ``gptlab.experiments.grokking.tasks``. Everything else in the
lab (model shape, training, evaluation, titles, memory estimate) reads the task through
these members, so a new task is one new module and one entry in the registry.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
import torch


class Split(Protocol):
    """A task's examples: inputs (N, sequence_length) token ids, targets (N,) classes
    predicted at the last position. ``unmirrored`` marks the test examples that cannot be
    answered by recalling a training example's mirror (None where the task has no
    mirrors)."""

    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    test_inputs: torch.Tensor
    test_targets: torch.Tensor
    unmirrored: torch.Tensor | None

    def to(self, device: torch.device | str) -> Split: ...


class Task(Protocol):
    kind: ClassVar[str]  # the registry's key, and "kind" in config.json
    split_seed: int  # seed of the train/test split; seed i of a group uses split_seed + i

    @property
    def vocab_size(self) -> int: ...

    @property
    def sequence_length(self) -> int: ...

    def check(self) -> None:
        """A ConfigError naming a bad setting; costs no data."""

    def example_count(self) -> int:
        """How many examples the task has in all (train and test)."""

    def train_count(self) -> int: ...

    def data_bytes(self, seeds: int) -> float:
        """An upper-end estimate of the memory that building and keeping ``seeds`` splits
        takes."""

    def build(self) -> Split: ...

    def title(self) -> str:
        """What the runs learn, for figure titles: "add mod 47, 40% of pairs"."""

    def attention(self, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray] | None:
        """The task's attention layout: (mean map, per-example map) for
        ``gptlab.plots.grokking.plot_attention``, or None if it has none."""
