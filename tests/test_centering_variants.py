"""The registry of placements and variants: every placement brings a centered variant and
its strength-0 control, knows its model sites, figure title and modules, and the options
and the docs read it."""

import re
import typing
from pathlib import Path

import pytest

from gptlab.config import replace_flat
from gptlab.experiments.centering import variants
from gptlab.experiments.centering.config import (
    CenterConfig,
    CenteringSection,
    centering_config,
    model_config,
)
from gptlab.experiments.centering.variants import (
    PLACEMENTS,
    VARIANTS,
    Placement,
    build_placements,
    control_of,
    placements,
    title_of,
    variant_table,
)
from gptlab.nn import Transformer
from gptlab.nn.centering import VectorCentering

DOCS = Path(__file__).resolve().parents[1] / "docs" / "centering.md"


def centered_modules(**fields) -> list[str]:
    config = replace_flat(CenterConfig(), n_layer=2, n_head=2, d_model=16, **fields)
    model = Transformer(model_config(config, vocab_size=11))
    return [n for n, m in model.named_modules() if isinstance(m, VectorCentering)]


@pytest.mark.parametrize("name", PLACEMENTS)
def test_a_placement_brings_a_centered_variant_and_its_control(name):
    centered, control = VARIANTS[f"{name}_centered"], VARIANTS[f"{name}_normalized"]
    assert (centered.strength, control.strength) == (1.0, 0.0)
    assert control_of(centered.name) == control.name
    assert placements(centered.name) == placements(control.name)
    for variant, spec in VARIANTS.items():
        if spec.placement == name and spec.strength:
            assert control_of(variant) == control.name


@pytest.mark.parametrize("name", PLACEMENTS)
def test_a_placement_centers_exactly_its_modules(name):
    placement = PLACEMENTS[name]
    modules = centered_modules(variant=f"{name}_centered")
    assert modules, f"{name} centers nothing"
    patterns = placement.module_patterns.values()
    assert all(any(re.fullmatch(p, m) for p in patterns) for m in modules)
    assert all(any(re.fullmatch(p, m) for m in modules) for p in patterns)
    assert placement.title and placement.description


def test_every_centered_variant_has_a_strength_zero_control_with_its_placement():
    for variant in VARIANTS:
        control = control_of(variant)
        if control is None:
            continue
        ours, theirs = (
            centering_config(replace_flat(CenterConfig(), variant=v)) for v in (variant, control)
        )
        assert theirs.strength == 0.0 and ours.strength == 1.0
        assert ours.sites == theirs.sites
    named = [v for v in VARIANTS if v not in ("baseline", "custom")]
    assert all(control_of(v) or v.endswith("_normalized") for v in named)
    assert {"qk_adaptive", "qk_learnable", "qk_momentum"} <= set(VARIANTS)
    # the same temperature and output scale: the models differ only in their strength buffers
    a, b = (replace_flat(CenterConfig(), variant=v) for v in ("qk_centered", "qk_normalized"))
    assert (
        Transformer(model_config(a, 11)).state_dict().keys()
        == Transformer(model_config(b, 11)).state_dict().keys()
    )


def test_the_variants_keep_their_names_and_order():
    """Run folders, suites and the docs' results name these; a new placement's variants come
    after them, before custom."""
    before = [
        "baseline",
        "qk_centered",
        "qk_adaptive",
        "qk_learnable",
        "qk_momentum",
        "qk_normalized",
        "final_centered",
        "momentum_centered",
        "final_normalized",
        "block_centered",
        "block_normalized",
        "full_centered",
        "full_normalized",
        "custom",
    ]
    assert [v for v in VARIANTS if v in before] == before
    assert list(VARIANTS)[-1] == "custom"
    assert placements("full_centered") == ("qk", "final")
    assert placements("baseline") == placements("custom") == ()
    assert control_of("baseline") is control_of("custom") is control_of("qk_normalized") is None


def test_figure_titles_come_from_the_registry():
    assert title_of(("qk",)) == "Q/K"
    assert title_of(placements("full_normalized")) == "Q/K + final"
    assert title_of(("qk", "block")) == "Q/K + block outputs"  # not registered: joined


def test_the_options_offer_exactly_the_registry():
    hints = typing.get_type_hints(CenteringSection)
    assert typing.get_args(hints["variant"]) == tuple(VARIANTS)
    (center, _none) = typing.get_args(hints["center"])
    assert typing.get_args(typing.get_args(center)[0]) == tuple(PLACEMENTS)


@pytest.mark.parametrize(
    "entries, message",
    [
        ((Placement("a", "A", "a", ("q",)), Placement("a", "A", "a", ("k",))), "twice"),
        ((Placement("a", "A", "a", ("w",)),), "not in"),
        ((Placement("a", "A", "a", parts=("b",)),), "unknown parts"),
        ((Placement("a", "A", "a"),), "not in"),
    ],
)
def test_a_broken_entry_fails_when_registered(entries, message):
    with pytest.raises(ValueError, match=message):
        build_placements(entries)


def test_the_docs_table_is_the_registrys():
    assert variant_table() in DOCS.read_text()


def test_the_registry_module_documents_how_to_add_a_placement():
    assert "one entry of ``PLACEMENTS``" in variants.__doc__
