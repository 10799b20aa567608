"""Sparse parity as a sequence task: inputs ``[b_0, ..., b_{n-1}, =]``, target the parity
of the k relevant bits (Barak et al., 2022, "Hidden progress in deep learning").

Bits are tokens 0 and 1 and ``=`` is token 2, so the vocabulary has 3 tokens and a
sequence n + 1. The relevant bits are a random subset drawn by the seed; the model is never
told which. Unlike modular arithmetic, the inputs are too many to enumerate (2**n), so a
fixed training set of ``n_train`` distinct inputs is sampled, and a test set of ``n_test``
further distinct inputs, none of them a training input.

Mirrors: no input has a mirror (a reordering with the same answer that could sit in the
other split), so there is no mirror mask to compute: ``unmirrored`` is None, which says
"the measure does not apply" rather than a mask that repeats the test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gptlab.config import ConfigError

EQUALS = 2  # token after the bits, where the answer is read
VOCAB_SIZE = EQUALS + 1  # 0, 1 and "="


@dataclass
class ParitySplit:
    n_bits: int
    relevant: torch.Tensor  # (k,) sorted indices of the bits whose parity is the label
    train_inputs: torch.Tensor  # (n_train, n_bits + 1)
    train_targets: torch.Tensor  # (n_train,) 0 or 1
    test_inputs: torch.Tensor  # (n_test, n_bits + 1)
    test_targets: torch.Tensor  # (n_test,)
    unmirrored: None = None  # no mirrors: see the module docstring

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    @property
    def block_size(self) -> int:
        return self.n_bits + 1

    def to(self, device: torch.device | str) -> ParitySplit:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return ParitySplit(self.n_bits, **moved)


def check_parity(n_bits: int, k: int, n_train: int, n_test: int) -> None:
    if n_bits < 1:
        raise ConfigError(f"n_bits = {n_bits} must be >= 1")
    if not 1 <= k <= n_bits:
        raise ConfigError(f"k = {k} must be between 1 and n_bits = {n_bits}")
    if n_train < 1 or n_test < 1:
        raise ConfigError(f"n_train = {n_train} and n_test = {n_test} must both be >= 1")
    if n_train + n_test > 2**n_bits:
        raise ConfigError(
            f"n_train + n_test = {n_train + n_test} distinct inputs do not exist among "
            f"the 2**{n_bits} = {2**n_bits} inputs of n_bits = {n_bits}"
        )


def split_parity(n_bits: int, k: int, n_train: int, n_test: int, seed: int = 0) -> ParitySplit:
    """A seeded sparse-parity task (see the module docstring). One CPU generator draws, in
    this order, the relevant bits, then inputs until ``n_train + n_test`` distinct ones are
    found; the first ``n_train`` train, the rest test. So a larger ``n_train`` only adds
    training inputs to a smaller one's (nested training sets, same relevant bits)."""
    check_parity(n_bits, k, n_train, n_test)
    generator = torch.Generator().manual_seed(seed)
    relevant = torch.randperm(n_bits, generator=generator)[:k].sort().values
    bits = _distinct_inputs(n_bits, n_train + n_test, generator)
    targets = bits[:, relevant].sum(1) % 2
    inputs = torch.cat([bits, torch.full((len(bits), 1), EQUALS)], dim=1)
    return ParitySplit(
        n_bits,
        relevant,
        inputs[:n_train],
        targets[:n_train],
        inputs[n_train:],
        targets[n_train:],
    )


def _distinct_inputs(n_bits: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct uniform random bit vectors (count, n_bits), in order of first draw:
    rejection of repeats keeps each one uniform over the inputs not yet drawn."""
    seen: set[tuple[int, ...]] = set()
    kept: list[tuple[int, ...]] = []
    while len(kept) < count:
        draws = torch.randint(0, 2, (count, n_bits), generator=generator)
        for row in map(tuple, draws.tolist()):
            if len(kept) == count:
                break
            if row not in seen:
                seen.add(row)
                kept.append(row)
    return torch.tensor(kept, dtype=torch.long).reshape(count, n_bits)
