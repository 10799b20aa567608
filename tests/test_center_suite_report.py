"""What center-suite's figures take from the registry of placements: the columns and their
titles, the module kinds of the statistics figure, and a new placement's own column."""

import re

import pytest

from gptlab.config import ConfigError
from gptlab.experiments.centering import variants as registry
from gptlab.experiments.centering.suite import DEFAULT_VARIANTS
from gptlab.experiments.centering.suite_report import check_figures, module_kinds, plot_groups
from gptlab.experiments.centering.variants import PLACEMENTS, Placement, placement_variants


def test_one_column_per_placement_under_its_title_with_baseline_and_its_control():
    groups = plot_groups(list(DEFAULT_VARIANTS))
    assert groups == {
        "Q/K": ["baseline", "qk_normalized", "qk_centered", "qk_adaptive", "qk_learnable",
                "qk_momentum"],
        "final embeddings": ["baseline", "final_normalized", "final_centered",
                             "momentum_centered"],
        "block outputs": ["baseline", "block_normalized", "block_centered"],
        "Q/K + final": ["baseline", "full_normalized", "full_centered"],
    }  # fmt: skip
    assert set(groups) == {p.title for p in PLACEMENTS.values()}


def test_variants_whose_control_did_not_run_share_the_other_column():
    groups = plot_groups(["baseline", "qk_centered", "final_centered", "final_normalized"])
    assert groups == {
        "final embeddings": ["baseline", "final_normalized", "final_centered"],
        "other": ["baseline", "qk_centered"],
    }
    assert plot_groups(["baseline"]) == {"other": ["baseline"]}


def test_module_kinds_are_the_sites_of_the_registry_with_their_module_names():
    kinds = module_kinds()
    assert set(kinds) == {site for p in PLACEMENTS.values() for site in p.sites}
    assert re.fullmatch(kinds["q"], "blocks.3.attn.q_centering")
    assert re.fullmatch(kinds["block"], "blocks.0.centering")
    assert not re.fullmatch(kinds["block"], "blocks.0.attn.q_centering")
    assert re.fullmatch(kinds["final"], "final_centering")


def test_a_new_placement_is_one_registry_entry_and_gets_its_own_column(monkeypatch):
    values = Placement("v", "V", "V in every attention layer", ("v",))
    monkeypatch.setitem(registry.PLACEMENTS, "v", values)
    for variant in placement_variants(values):
        monkeypatch.setitem(registry.VARIANTS, variant.name, variant)
    check_figures(["baseline", "v_centered", "v_normalized"])
    assert plot_groups(["baseline", "v_centered", "v_normalized"]) == {
        "V": ["baseline", "v_normalized", "v_centered"]
    }
    assert re.fullmatch(module_kinds()["v"], "blocks.1.attn.v_centering")


def test_a_column_without_a_title_is_refused(monkeypatch):
    monkeypatch.setitem(registry.PLACEMENTS, "block", Placement("block", "", "", ("block",)))
    with pytest.raises(ConfigError, match="placement block has no figure title"):
        check_figures(["baseline", "block_centered", "block_normalized"])
    check_figures(["baseline", "qk_centered", "qk_normalized"])  # no block column: no title
