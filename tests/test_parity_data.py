"""Sparse parity data: labels, disjoint splits, seeded draws, shapes, clear errors."""

import pytest
import torch

from gptlab.config import ConfigError
from gptlab.data.parity import EQUALS, split_parity


def rows(inputs: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(r) for r in inputs[:, :-1].tolist()}


def test_targets_are_the_parity_of_the_relevant_bits():
    data = split_parity(n_bits=10, k=3, n_train=200, n_test=100, seed=1)
    relevant = data.relevant.tolist()
    assert len(relevant) == 3 and relevant == sorted(set(relevant))
    for inputs, targets in [
        (data.train_inputs, data.train_targets),
        (data.test_inputs, data.test_targets),
    ]:
        expected = [sum(bits[i] for i in relevant) % 2 for bits in inputs.tolist()]
        assert targets.tolist() == expected


def test_only_the_relevant_bits_matter():
    data = split_parity(n_bits=8, k=2, n_train=100, n_test=50, seed=0)
    flipped = data.train_inputs.clone()
    others = [i for i in range(8) if i not in data.relevant.tolist()]
    flipped[:, others] = 1 - flipped[:, others]
    assert torch.equal(flipped[:, data.relevant].sum(1) % 2, data.train_targets)


def test_shapes_tokens_and_vocabulary():
    data = split_parity(n_bits=12, k=4, n_train=64, n_test=32, seed=0)
    assert data.train_inputs.shape == (64, 13) and data.test_inputs.shape == (32, 13)
    assert data.train_targets.shape == (64,) and data.test_targets.shape == (32,)
    assert data.vocab_size == 3 and data.block_size == 13
    assert (data.train_inputs[:, -1] == EQUALS).all() and (data.test_inputs[:, -1] == EQUALS).all()
    assert set(data.train_inputs[:, :-1].unique().tolist()) <= {0, 1}
    assert data.train_inputs.dtype == torch.long and data.train_targets.dtype == torch.long
    assert data.unmirrored is None  # no input has a mirror: the measure does not apply


def test_inputs_are_distinct_and_test_never_repeats_a_training_input():
    # 2**8 = 256 inputs, 250 of them drawn: repeats would be certain without rejection
    data = split_parity(n_bits=8, k=3, n_train=200, n_test=50, seed=3)
    train, test = rows(data.train_inputs), rows(data.test_inputs)
    assert len(train) == 200 and len(test) == 50
    assert not train & test


def test_the_same_seed_gives_the_same_split():
    a = split_parity(n_bits=20, k=3, n_train=100, n_test=50, seed=7)
    b = split_parity(n_bits=20, k=3, n_train=100, n_test=50, seed=7)
    for name in ("relevant", "train_inputs", "train_targets", "test_inputs", "test_targets"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_different_seeds_give_different_tasks():
    a = split_parity(n_bits=20, k=3, n_train=100, n_test=50, seed=0)
    b = split_parity(n_bits=20, k=3, n_train=100, n_test=50, seed=1)
    assert not torch.equal(a.train_inputs, b.train_inputs)
    assert not torch.equal(a.relevant, b.relevant)


def test_a_larger_training_set_extends_a_smaller_one():
    small = split_parity(n_bits=16, k=3, n_train=50, n_test=20, seed=2)
    large = split_parity(n_bits=16, k=3, n_train=80, n_test=20, seed=2)
    assert torch.equal(small.relevant, large.relevant)
    assert torch.equal(large.train_inputs[:50], small.train_inputs)


def test_to_moves_the_tensors_and_keeps_the_task():
    data = split_parity(n_bits=6, k=2, n_train=20, n_test=10, seed=0)
    moved = data.to("cpu")
    assert moved.n_bits == 6 and moved.unmirrored is None
    assert torch.equal(moved.relevant, data.relevant)
    assert torch.equal(moved.test_inputs, data.test_inputs)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n_bits": 0}, "n_bits = 0"),
        ({"k": 0}, "k = 0"),
        ({"k": 11}, "k = 11"),
        ({"n_train": 0}, "n_train = 0"),
        ({"n_test": -1}, "n_test = -1"),
        ({"n_bits": 4, "k": 2, "n_train": 10, "n_test": 7}, "n_train + n_test = 17"),
    ],
)
def test_bad_settings_are_refused_naming_the_value(kwargs, named):
    settings = {"n_bits": 10, "k": 3, "n_train": 10, "n_test": 10, "seed": 0} | kwargs
    with pytest.raises(ConfigError, match=named.replace("+", r"\+")):
        split_parity(**settings)


def test_every_input_can_be_used():
    data = split_parity(n_bits=4, k=2, n_train=10, n_test=6, seed=0)
    assert len(rows(data.train_inputs) | rows(data.test_inputs)) == 16
