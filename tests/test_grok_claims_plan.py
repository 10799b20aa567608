"""A claims plan must hold the base's own values where the claims compare against them."""

import dataclasses

import pytest
from claims_data import TINY

from gptlab.config import ConfigError


def test_a_plan_without_its_base_values_is_refused():
    plan = dataclasses.replace(TINY, weight_decays=[0.1, 1.0])
    with pytest.raises(ConfigError, match="weight_decays .* must include 0"):
        plan.check()
    with pytest.raises(ConfigError, match="d_models"):
        dataclasses.replace(TINY, d_models=[8, 32]).check()
