"""Sparse parity (Barak et al., 2022, "Hidden progress in deep learning"): the label of n
bits is the parity of k of them, which the model is never told; a fixed training set of
``n_train`` inputs and a held-out test set of ``n_test`` others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gptlab.data.parity import VOCAB_SIZE, ParitySplit, check_parity, split_parity

# Bytes per input while a split is built and kept: int64 tokens, with headroom for the
# rejection sampling of distinct inputs.
BYTES_PER_BIT = 32


@dataclass
class SparseParityTask:
    kind: ClassVar[str] = "sparse_parity"
    n_bits: int = 40
    """input length n: the bits 0/1, then '='"""
    k: int = 3
    """how many bits the parity is taken over (chosen by split_seed, never shown)"""
    n_train: int = 1000
    """training inputs, a fixed set"""
    n_test: int = 1000
    """test inputs, none of them a training input"""
    split_seed: int = 0
    """seed of the relevant bits and the inputs"""

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    @property
    def sequence_length(self) -> int:
        return self.n_bits + 1

    def check(self) -> None:
        check_parity(self.n_bits, self.k, self.n_train, self.n_test)

    def example_count(self) -> int:
        return self.n_train + self.n_test

    def train_count(self) -> int:
        return self.n_train

    def data_bytes(self, seeds: int) -> float:
        return (1 + seeds) * BYTES_PER_BIT * self.sequence_length * self.example_count()

    def build(self) -> ParitySplit:
        return split_parity(self.n_bits, self.k, self.n_train, self.n_test, self.split_seed)

    def title(self) -> str:
        return f"parity of {self.k} of {self.n_bits} bits, {self.n_train} examples"

    def attention(self, model: torch.nn.Module) -> None:
        return None  # no layout of pairs to draw attention on
