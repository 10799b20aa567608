"""Modular arithmetic as a sequence task: inputs ``[x, y, =]``, target ``(x op y) mod p``.

Every pair (x, y) with 0 <= x, y < p is one example (for ``div`` only y != 0); ``=`` is
token ``p``, so the vocabulary has p + 1 tokens. A seeded split sends ``train_size``
examples (or a ``train_fraction`` of them) to training and the rest to test.

Mirrors: for a commutative operation, (y, x) has the same answer as (x, y). A random split
of ordered pairs puts the mirror of many test pairs into training, so part of the "test"
accuracy is recall. ``unmirrored`` marks the test pairs whose mirror is not in training
(for non-commutative operations every test pair), and ``keep_mirrors=True`` splits whole
{(x, y), (y, x)} groups so that no mirror ever leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from gptlab.config import ConfigError

# name -> (answer before "mod p", commutative?). Integer tensors in, integer tensors out.
OPERATIONS: dict[str, tuple[Callable[..., torch.Tensor], bool]] = {
    "add": (lambda x, y, p: x + y, True),
    "sub": (lambda x, y, p: x - y, False),
    "mul": (lambda x, y, p: x * y, True),
    # x * y^-1; y^-1 = y^(p-2) mod p by Fermat's little theorem (p prime, y != 0)
    "div": (lambda x, y, p: x * modular_power(y, p - 2, p), False),
    "square_sum": (lambda x, y, p: x**2 + y**2, True),  # x^2 + y^2
    "quad": (lambda x, y, p: x**2 + x * y + y**2, True),  # x^2 + xy + y^2
    "cube_xy": (lambda x, y, p: x**3 + x * y, False),  # x^3 + xy
}


def modular_power(base: torch.Tensor, exponent: int, p: int) -> torch.Tensor:
    """``base ** exponent mod p`` elementwise by square-and-multiply (no int64 overflow)."""
    result = torch.ones_like(base)
    base = base % p
    while exponent:
        if exponent & 1:
            result = result * base % p
        base = base * base % p
        exponent >>= 1
    return result


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def all_pairs(p: int, operation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every example: inputs (N, 3) as ``[x, y, p]`` and targets (N,)."""
    check_operation(p, operation)
    x, y = torch.cartesian_prod(torch.arange(p), torch.arange(p)).unbind(1)
    if operation == "div":
        x, y = x[y != 0], y[y != 0]
    fn, _ = OPERATIONS[operation]
    targets = fn(x, y, p) % p
    inputs = torch.stack([x, y, torch.full_like(x, p)], dim=1)
    return inputs, targets


def check_operation(p: int, operation: str) -> None:
    if operation not in OPERATIONS:
        raise ConfigError(f"operation {operation!r} is not one of {list(OPERATIONS)}")
    if p < 2:
        raise ConfigError(f"p = {p} must be >= 2")
    if operation == "div" and not is_prime(p):
        raise ConfigError(f"p = {p} must be prime for operation 'div' (y^-1 mod p must exist)")


def resolve_train_size(n_examples: int, train_size: int, train_fraction: float) -> int:
    """The number of training examples; ``train_fraction`` > 0 takes precedence."""
    if train_fraction:
        if not 0.0 < train_fraction < 1.0:
            raise ConfigError(
                f"train_fraction = {train_fraction} must lie in (0, 1), or 0 to use train_size"
            )
        size = round(train_fraction * n_examples)
    else:
        size = train_size
    if not 1 <= size < n_examples:
        raise ConfigError(
            f"train size {size} must be between 1 and {n_examples - 1} "
            f"(there are {n_examples} examples; at least one must stay for test)"
        )
    return size


@dataclass
class ModularSplit:
    p: int
    operation: str
    train_inputs: torch.Tensor  # (n_train, 3)
    train_targets: torch.Tensor  # (n_train,)
    test_inputs: torch.Tensor  # (n_test, 3)
    test_targets: torch.Tensor  # (n_test,)
    unmirrored: torch.Tensor  # (n_test,) bool: the mirror (y, x) is not a training example

    @property
    def vocab_size(self) -> int:
        return self.p + 1  # 0..p-1 and "="

    def to(self, device: torch.device | str) -> ModularSplit:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return ModularSplit(self.p, self.operation, **moved)


def split_pairs(
    p: int,
    operation: str = "add",
    train_size: int = 500,
    train_fraction: float = 0.0,
    split_seed: int = 0,
    keep_mirrors: bool = False,
) -> ModularSplit:
    """All pairs, split into train and test by ``split_seed`` (see the module docstring)."""
    inputs, targets = all_pairs(p, operation)
    n = len(targets)
    size = resolve_train_size(n, train_size, train_fraction)
    generator = torch.Generator().manual_seed(split_seed)
    if keep_mirrors:
        in_train = _mirror_group_split(inputs, size, generator)
    else:
        in_train = torch.zeros(n, dtype=torch.bool)
        in_train[torch.randperm(n, generator=generator)[:size]] = True
    x, y = inputs[:, 0], inputs[:, 1]
    _, commutative = OPERATIONS[operation]
    is_train_pair = torch.zeros(p, p, dtype=torch.bool)  # a p x p table: no Python objects
    is_train_pair[x[in_train], y[in_train]] = True
    mirror_in_train = is_train_pair[y, x]
    unmirrored = ~mirror_in_train if commutative else torch.ones(n, dtype=torch.bool)
    test = ~in_train
    return ModularSplit(
        p,
        operation,
        inputs[in_train],
        targets[in_train],
        inputs[test],
        targets[test],
        unmirrored[test],
    )


def _mirror_group_split(
    inputs: torch.Tensor, size: int, generator: torch.Generator
) -> torch.Tensor:
    """Train mask built from whole {(x, y), (y, x)} groups in random order, skipping any
    group that would overshoot ``size`` (the diagonal singletons fill the last place)."""
    x, y = inputs[:, 0], inputs[:, 1]
    group = torch.minimum(x, y) * (int(inputs.max()) + 1) + torch.maximum(x, y)
    ids, group_of = torch.unique(group, return_inverse=True)
    counts = torch.bincount(group_of)
    chosen = torch.zeros(len(ids), dtype=torch.bool)
    taken = 0
    for g in torch.randperm(len(ids), generator=generator).tolist():
        if taken + counts[g] <= size:
            chosen[g] = True
            taken += int(counts[g])
        if taken == size:
            break
    return chosen[group_of]
