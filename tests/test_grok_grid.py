"""A sweep's grid: values of the config's field types, and every bad spec named."""

import pytest

from gptlab.config import ConfigError
from gptlab.experiments.grokking.grid import parse_grid


def test_grid_values_take_the_type_of_their_field():
    grid = parse_grid(["weight_decay=0,0.1,1", "d-model=16,32", "layer_norm=true,False"])
    assert grid["weight_decay"] == [0.0, 0.1, 1.0]
    assert grid["d_model"] == [16, 32] and grid["layer_norm"] == [True, False]
    assert all(isinstance(v, float) for v in grid["weight_decay"])
    assert parse_grid(["operation=add,sub"]) == {"operation": ["add", "sub"]}


@pytest.mark.parametrize(
    "spec, message",
    [
        ("weight_dekay=0,1", "no such GrokConfig field"),
        ("d_model=16,3.5", "'3.5' is not a valid int"),
        ("weight_decay=0,abc", "'abc' is not a valid float"),
        ("layer_norm=yes", "not a valid bool"),
        ("betas=0.9", "cannot be swept"),
        ("seed=0,1", "--seeds"),
        ("epochs=10,20", "--max-epochs"),
        ("weight_decay", "expected FIELD=v1,v2"),
        ("d_model=16,16", "repeated values"),
    ],
)
def test_bad_grid_specs_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid([spec])
