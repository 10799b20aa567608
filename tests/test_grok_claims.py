"""The claims report: verdict rules on known tables, and one tiny end-to-end report."""

import dataclasses
import math

from gptlab.experiments.grokking import run as grok
from gptlab.experiments.grokking.claims import (
    ClaimsPlan,
    claim_model_size,
    claim_sharpness,
    claim_train_fraction,
    claim_weight_decay,
    delay_ratio,
    run_claims,
)


def point(share: float, median: float, **values) -> dict:
    return {**values, "share": share, "median_generalized_epoch": median}


def run(memorized, generalized, **values) -> dict:
    return {**values, "memorized_epoch": memorized, "generalized_epoch": generalized}


def test_weight_decay_verdicts():
    grokked = point(1.0, 300, weight_decay=1.0)
    never = point(0.0, math.inf, weight_decay=0.0)
    assert claim_weight_decay([never, grokked])[0] == "supported"
    rare = point(1 / 3, 900, weight_decay=1.0, generalized=1, runs=3)
    assert claim_weight_decay([never, rare])[0].startswith("suggestive: no seed")
    partly = claim_weight_decay([point(1 / 3, 900, weight_decay=0.0), grokked])[0]
    assert partly.startswith("partly")
    assert claim_weight_decay([point(1.0, 200, weight_decay=0.0), grokked])[0] == "not supported"


def test_delay_counts_never_as_infinite_and_skips_runs_that_never_memorized():
    assert delay_ratio([run(100, 300), run(100, None), run(None, None)]) == math.inf
    assert delay_ratio([run(100, 300), run(100, 200), run(200, 200)]) == 2.0


def test_model_size_verdict_reads_the_fixed_axis_from_the_runs():
    rows = [run(100, None, d_model=8, d_ff=64), run(100, 1000, d_model=32, d_ff=64)]
    rows += [run(100, 120, d_model=128, d_ff=64)]
    table = [point(0.0, math.inf, d_model=8), point(1.0, 1000, d_model=32)]
    table += [point(1.0, 120, d_model=128)]
    verdict, _, delays = claim_model_size(table, rows, ["d_model"])
    assert verdict == "supported"
    assert delays[(32,)] == 10 and delays[(128,)] == 1.2
    table[2]["share"] = 0.0
    verdict = claim_model_size(table, rows, ["d_model"])[0]
    assert (
        verdict == "half: the smallest fails; the largest never generalized, so its "
        "transition is untested"
    )


def test_train_fraction_verdict_follows_share_then_speed():
    rows = [run(100, 900, train_fraction=0.3), run(50, 100, train_fraction=0.7)]
    table = [point(1.0, 900, train_fraction=0.3), point(1.0, 100, train_fraction=0.7)]
    assert claim_train_fraction(table, rows)[0].startswith("contradicted")
    table[1]["share"] = 0.0
    assert claim_train_fraction(table, rows)[0] == "supported"
    table[0]["share"] = 0.0
    assert claim_train_fraction(table, rows)[0].startswith("inconclusive")


def test_sharpness_verdict_compares_the_snapshots_at_the_two_epochs():
    result = {"epochs": [10, 20, 30], "sharpness": {"hessian_top_eig": [5.0, 9.0, 2.0]}}
    result["sharpness"]["hessian_trace"] = [50.0, 80.0, 20.0]
    verdict, _, text = claim_sharpness(result, (20, 30))
    assert verdict == "supported" and "peak top eigenvalue 9 at epoch 20" in text
    assert claim_sharpness(result, (10, 20))[0] == "not supported"
    assert claim_sharpness(result, (10, None))[0].startswith("untested")


def test_a_tiny_report_has_one_row_per_claim_and_its_figures(tmp_path):
    plan = ClaimsPlan(
        base=dataclasses.replace(grok.PRESETS["smoke"], eval_every=2, checkpoint_every=10),
        seeds=1,
        max_epochs=6,
        weight_decays=[0.0, 1.0],
        d_models=[8, 16],
        d_ffs=[32],
        train_fractions=[0.4, 0.6],
        snapshot_every=2,
    )
    text = run_claims(plan, tmp_path, workers=1)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4  # header + claims
    for figure in (
        "claim1-weight-decay/phase_diagram.png",
        "claim2-model-size/phase_diagram.png",
        "claim3-train-fraction/phase_diagram.png",
        "claim4-sharpness/plots/sharpness.png",
        "claim4-sharpness/plots/mechanism.png",
        "claim4-sharpness/plots/trajectory.png",
    ):
        assert (tmp_path / figure).stat().st_size > 5_000, figure
    assert (tmp_path / "claims.md").read_text() == text
