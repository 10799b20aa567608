"""Modular arithmetic, (x op y) mod p on pairs [x, y, =]: the grokking task of Power et al.
(2022). The operations are ``gptlab.data.modular.OPERATIONS``'s entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from gptlab.analysis.attention import attention_maps
from gptlab.data.modular import (
    OPERATIONS,
    ModularSplit,
    check_operation,
    resolve_train_size,
    split_pairs,
)

Operation = Literal[tuple(OPERATIONS)]  # the parser lists and refuses them from the registry

# Peak bytes per pair while a split is built (all pairs, their targets, the masks), measured
# at p 1000 and 2000 (97-98 bytes), with headroom; and bytes kept per pair and seed: int64
# inputs and targets, the unmirrored mask.
SPLIT_BYTES_PER_PAIR, KEPT_BYTES_PER_PAIR = 120, 40


@dataclass
class ModularTask:
    kind: ClassVar[str] = "modular"
    p: int = 97
    """the modulus: pairs (x, y) with x, y in 0..p-1"""
    operation: Operation = "add"
    """the operation (mod p); its answer for (x, y) is the target"""
    train_size: int = 500
    """number of training pairs; ignored when train_fraction > 0"""
    train_fraction: float = 0.0
    """share of all pairs used for training; 0 = use train_size"""
    keep_mirrors: bool = False
    """split whole {(x, y), (y, x)} groups, so that no mirror of a test pair is trained on"""
    split_seed: int = 0
    """seed of the train/test split"""

    @property
    def vocab_size(self) -> int:
        return self.p + 1  # 0..p-1 and "="

    @property
    def sequence_length(self) -> int:
        return 3  # [x, y, =]

    def check(self) -> None:
        check_operation(self.p, self.operation)
        self.train_count()

    def example_count(self) -> int:
        return self.p * (self.p - 1) if self.operation == "div" else self.p**2

    def train_count(self) -> int:
        return resolve_train_size(self.example_count(), self.train_size, self.train_fraction)

    def data_bytes(self, seeds: int) -> float:
        return (SPLIT_BYTES_PER_PAIR + seeds * KEPT_BYTES_PER_PAIR) * self.example_count()

    def build(self) -> ModularSplit:
        return split_pairs(
            self.p,
            self.operation,
            self.train_size,
            self.train_fraction,
            self.split_seed,
            self.keep_mirrors,
        )

    def title(self) -> str:
        size = (
            f"{self.train_fraction:.0%} of pairs"
            if self.train_fraction
            else f"{self.train_size} pairs"
        )
        return f"{self.operation} mod {self.p}, {size}"

    def attention(self, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
        return attention_maps(model, self.p, self.operation)
