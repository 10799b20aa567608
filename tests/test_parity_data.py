"""Sparse parity data: the label is the parity of the relevant bits, train and test are
disjoint, a seed fixes everything, and bad sizes are one clear error."""

import pytest
import torch

from gptlab.config import ConfigError
from gptlab.data.parity import EQUALS, split_parity


def test_the_label_is_the_parity_of_the_relevant_bits():
    split = split_parity(10, 3, 100, 50, seed=1)
    assert split.relevant.shape == (3,)
    for inputs, targets in ((split.train_inputs, split.train_targets),
                            (split.test_inputs, split.test_targets)):  # fmt: skip
        assert inputs.shape[1] == 11 and (inputs[:, -1] == EQUALS).all()
        assert torch.equal(targets, inputs[:, split.relevant].sum(1) % 2)


def test_train_and_test_inputs_are_distinct_and_disjoint():
    split = split_parity(8, 2, 150, 100, seed=0)
    rows = {tuple(r) for r in torch.cat([split.train_inputs, split.test_inputs]).tolist()}
    assert len(rows) == 250


def test_a_seed_fixes_the_split_and_another_seed_changes_it():
    a, b, c = (
        split_parity(12, 3, 64, 64, 5),
        split_parity(12, 3, 64, 64, 5),
        split_parity(12, 3, 64, 64, 6),
    )
    assert torch.equal(a.train_inputs, b.train_inputs) and torch.equal(a.relevant, b.relevant)
    assert not torch.equal(a.train_inputs, c.train_inputs)


@pytest.mark.parametrize(
    "args, message",
    [
        ((4, 5, 8, 8), "k = 5 must be between 1 and n_bits = 4"),
        ((4, 2, 10, 10), "distinct inputs do not exist"),
        ((0, 1, 1, 1), "n_bits = 0 must be >= 1"),
        ((6, 2, 0, 4), "n_train = 0 and n_test = 4 must both be >= 1"),
    ],
)
def test_bad_sizes_are_one_clear_error(args, message):
    with pytest.raises(ConfigError, match=message):
        split_parity(*args)
