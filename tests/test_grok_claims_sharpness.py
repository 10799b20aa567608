"""Claim 4's verdict: flatter at grokking only where both designs (same-wd control, adaptive
eigenvalue against a wd-0 control) agree."""

import math

import pytest

from gptlab.experiments.grokking.claims.decide import Decision, decide
from gptlab.experiments.grokking.claims.sharpness import claim_sharpness
from gptlab.experiments.grokking.matched_sharpness import log_ratios


def decided(decision: Decision) -> str:
    return decide([decision], alpha=0.05)[0].verdict


def matched(memorized_ratio: float, generalized_ratio: float, snapshots: int = 5) -> dict:
    """A measure_pair result whose every measure is ``ratio`` times the control's per
    phase."""
    phases = {}
    for phase, ratio in (("memorized", memorized_ratio), ("generalized", generalized_ratio)):
        control = [10.0 + i for i in range(snapshots)]
        phases[phase] = {
            "matched": [True] * snapshots,
            "epoch": list(range(snapshots)),
            "train_loss": [0.1] * snapshots,
            "control_train_loss": [0.1] * snapshots,
        }
        for measure, scale in (("hessian_top_eig", 1), ("hessian_trace", 5)):
            phases[phase][measure] = [ratio * scale * c for c in control]
            phases[phase][f"control_{measure}"] = [scale * c for c in control]
        phases[phase]["adaptive_top_eig"] = [ratio * 0.1 * c for c in control]
        phases[phase]["control_adaptive_top_eig"] = [0.1 * c for c in control]
    return {"phases": phases, "tolerance": 1.5}


def designs(same_wd: list[dict], wd0: list[dict]) -> Decision:
    return claim_sharpness({"same-wd-control": same_wd, "control": wd0}, "0/4 end generalized")


def test_sharpness_gets_a_verdict_only_where_both_designs_agree():
    flatter = [matched(2.0, 0.5 + 0.1 * s) for s in range(4)]
    sharper = [matched(0.5, 2.0 + 0.1 * s) for s in range(4)]
    assert log_ratios(flatter[0], "hessian_top_eig")["change"] == pytest.approx(math.log(0.25))
    decision = designs(flatter, flatter)
    assert decided(decision) == "supported" and "4 seeds" in decision.result
    assert decided(designs(sharper, sharper)) == "contradicted"
    # the same-wd control says flatter, the scale-free measure says sharper: no verdict
    assert decided(designs(flatter, sharper)) == (
        "not decided: the designs disagree ((i) flatter, (ii) sharper)"
    )
    missing = [matched(2.0, 0.5, snapshots=0) for _ in range(4)]
    assert decided(designs(missing, flatter)).startswith("not decided: design (i) has 0 seed")
    # the row's p is the larger of the two designs': one weak design makes it inconclusive
    weak = [matched(2.0, r) for r in (0.5, 3.0, 0.6, 2.5)]
    assert decided(designs(flatter, weak)) == "inconclusive"
    # an unmatched pair (losses too far apart) does not count
    far = matched(2.0, 0.5)
    far["phases"]["generalized"]["matched"] = [False] * 4 + [True]
    far["phases"]["generalized"]["hessian_top_eig"][:4] = [1e6] * 4
    assert log_ratios(far, "hessian_top_eig")["generalized"] == pytest.approx(math.log(0.5))
