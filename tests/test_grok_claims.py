"""The claims report: verdict logic on synthetic sweeps, the loss-matched sharpness pieces,
and one tiny end-to-end report that resumes."""

import dataclasses
import json
import math
import os
import shlex
import signal

import pytest

from gptlab.analysis.statistics import holm
from gptlab.cli import main as cli
from gptlab.experiments.grokking import run as grok
from gptlab.experiments.grokking.claims import (
    README_BEGIN,
    README_END,
    ClaimsPlan,
    Decision,
    bracket_text,
    claim_init_scale,
    claim_large_models,
    claim_less_data_longer_delay,
    claim_less_data_sooner,
    claim_sharpness,
    claim_small_models,
    claim_weight_decay,
    decide,
    delays,
    run_claims,
    update_readme,
    with_unmirrored,
)
from gptlab.experiments.grokking.matched_sharpness import (
    evenly,
    log_ratios,
    measure_pair,
    phase_snapshots,
    train_losses,
)
from gptlab.experiments.grokking.mechanism import load_snapshots

BUDGET = 2000


def runs(
    count: int, generalized, memorized=100, status="finished", first=None, unmirrored=None, **values
) -> list[dict]:
    """``count`` runs at one grid point; ``generalized``: the stable epoch, one for all or a
    list; ``first``: the first epoch at the threshold (default: the stable one);
    ``unmirrored``: (first, stable) on the unmirrored test pairs (default: the same)."""

    def each(value):
        return value if isinstance(value, list) else [value] * count

    stable, crossed = each(generalized), each(generalized if first is None else first)
    unseen = each(unmirrored) if unmirrored is not None else list(zip(crossed, stable, strict=True))
    return [
        {
            **values,
            "seed": seed,
            "status": status,
            "memorized_epoch": memorized,
            "generalized_epoch": stable[seed],
            "first_generalized_epoch": crossed[seed],
            "first_generalized_epoch_unmirrored": unseen[seed][0],
            "generalized_epoch_unmirrored": unseen[seed][1],
        }
        for seed in range(count)
    ]


def decided(decision: Decision) -> str:
    return decide([decision], alpha=0.05)[0].verdict


def row(claimed, opposite, two_sided=None, weight=1.0):
    two_sided = min(1.0, 2 * min(claimed, opposite)) if two_sided is None else two_sided
    return Decision("c", "e", "r", "t", claimed, opposite, two_sided, "f.png", weight)


def test_decide_holm_corrects_the_two_sided_p_over_rows_and_reads_the_side():
    rows = decide([row(0.001, 0.999), row(0.999, 0.001), row(0.02, 0.98)], alpha=0.05)
    assert [r.verdict for r in rows] == ["supported", "contradicted", "supported"]
    # two-sided p 0.002, 0.002 and 0.04 times 3, 2 and 1, kept monotone
    assert [r.holm_p for r in rows] == pytest.approx([0.006, 0.006, 0.04])
    rows = decide([row(0.001, 0.999), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "supported"
    rows = decide([row(0.001, 0.999), row(0.02, 0.98), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "inconclusive" and rows[1].holm_p == pytest.approx(0.08)
    # the two-sided p is the test's own, not twice the smaller one-sided p
    assert decide([row(0.02, 0.98, two_sided=0.06)], alpha=0.05)[0].verdict == "inconclusive"


def test_weighted_holm_counts_rows_on_the_same_arms_as_one_test():
    p = [0.01, 0.02, 0.015, 0.3]
    assert holm(p, [1] * 4) == pytest.approx(holm(p))
    assert holm(p) == pytest.approx([0.04, 0.045, 0.045, 0.3])
    # the last two share one test: the family counts 3, not 4
    shared = holm(p, [1, 1, 0.5, 0.5])
    assert shared[0] == pytest.approx(0.03)  # 3 x 0.01
    assert shared[1] == pytest.approx(0.04)  # 2 remaining x 0.02
    assert shared[2] == pytest.approx(0.04)  # 1 remaining x 0.015 / 0.5, kept monotone
    rows = [row(0.01, 0.99) for _ in range(3)]  # two-sided 0.02 each, x 3 tests
    assert [r.verdict for r in decide(rows, 0.05)] == ["inconclusive"] * 3
    rows = [row(0.01, 0.99), row(0.01, 0.99, weight=0.5), row(0.01, 0.99, weight=0.5)]
    assert [r.verdict for r in decide(rows, 0.05)] == ["supported"] * 3  # x 2 tests
    # weight 0 (no test) stays out of the count, with no p
    assert holm([0.02, math.nan], [1, 0])[0] == pytest.approx(0.02)
    assert math.isnan(holm([0.02, math.nan], [1, 0])[1])


def test_weight_decay_is_supported_only_when_wd_0_generalizes_in_fewer_seeds():
    never = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    decision = claim_weight_decay(never, 1.0, BUDGET)
    assert decision.p_claimed == pytest.approx(1 / 12870)  # 0/8 vs 8/8: 1 / C(16, 8)
    assert decision.p_two_sided == pytest.approx(2 / 12870)  # the other extreme table too
    assert decided(decision) == "supported"
    assert "wd 0: 0/8" in decision.result and "wd 1: 8/8" in decision.result
    # 2 of 8 without decay vs 3 of 8 with it: inside the noise of 8 seeds
    close = runs(8, [500] * 2 + [None] * 6, weight_decay=0.0)
    close += runs(8, [500] * 3 + [None] * 5, weight_decay=1.0)
    assert decided(claim_weight_decay(close, 1.0, BUDGET)) == "inconclusive"
    both = runs(8, 300, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    assert decided(claim_weight_decay(both, 1.0, BUDGET)) == "inconclusive"


def test_fisher_two_sided_p_is_the_exact_one():
    rows = runs(6, [500] * 3 + [None] * 3, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    decision = claim_weight_decay(rows, 1.0, BUDGET)
    assert decision.p_claimed == pytest.approx(0.055, abs=1e-3)
    assert decision.p_two_sided == pytest.approx(0.055, abs=1e-3)  # not 0.110


def test_diverged_runs_count_as_runs_that_did_not_generalize():
    rows = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    assert decided(claim_weight_decay(rows, 1.0, BUDGET)) == "supported"
    # 6 of the base's 8 diverge (their last stable epoch is no outcome): 2/8 vs 0/8
    rows = runs(8, None, weight_decay=0.0) + runs(2, 900, weight_decay=1.0)
    rows += runs(6, 900, status="diverged", weight_decay=1.0)
    decision = claim_weight_decay(rows, 1.0, BUDGET)
    assert decided(decision) == "inconclusive"  # dropped, 2/2 vs 0/8 read as supported
    assert "wd 1: 2/8" in decision.result and "6 diverged" in decision.result


def test_widths_that_cannot_fit_their_data_are_set_apart_from_the_test():
    config = dataclasses.replace(grok.PRESETS["grok"], d_model=64)
    unfit = runs(8, None, memorized=None, d_model=4) + runs(8, None, memorized=None, d_model=8)
    large = runs(8, 1000, d_model=64) + runs(8, 150, d_model=128)
    # 16 memorizes and does not grok: the claim holds among models that fit
    rows = unfit + runs(8, [900] + [None] * 7, d_model=16) + large
    decision = claim_small_models(rows, config, BUDGET)
    assert decided(decision) == "supported" and "d_model 16, the smallest" in decision.test
    assert "d_model 4: 0/8" in decision.result and "cannot fit" in decision.result
    # 16 memorizes and groks as often as 64: the same design says no
    rows = unfit + runs(8, 900, d_model=16) + large
    assert decided(claim_small_models(rows, config, BUDGET)) == "inconclusive"
    # no width below the base fits: not testable, and no test in Holm's count
    rows = unfit + runs(8, None, memorized=None, d_model=16) + large
    decision = claim_small_models(rows, config, BUDGET)
    assert decided(decision).startswith("not testable here: no width below d_model 64")
    assert decision.weight == 0 and math.isnan(decision.holm_p)
    assert bracket_text(large, [64, 128]).startswith("not bracketed")


def test_large_models_compare_the_delay_with_the_base():
    rows = runs(8, 1000, d_model=64) + runs(8, 150, d_model=128)
    large = claim_large_models(rows, 64, BUDGET)  # delay x1.5 vs x10, same memorization
    assert decided(large) == "supported" and "d_model 128 vs 64" in large.experiment
    slow = rows[:8] + runs(8, 1900, d_model=128)
    assert decided(claim_large_models(slow, 64, BUDGET)) == "contradicted"


def test_delays_censor_runs_that_never_generalized_or_never_memorized():
    ratios, bounds = delays(runs(2, [400, None], memorized=200) + runs(1, None, None), BUDGET)
    assert ratios == [2.0, None, None] and bounds == [10.0, 10.0, 1.0]
    # the first epoch at the threshold, in a run that ends generalized; a run that crossed
    # and broke down again has not generalized
    ratios, _ = delays(runs(2, [1200, None], memorized=200, first=[400, 300]), BUDGET)
    assert ratios == [2.0, None]


def test_time_claims_read_the_first_crossing_not_the_stable_epoch():
    # the lr schedule sets the stable epoch (1160 everywhere); the first crossing differs
    slow = runs(8, 1160, first=1100, init_scale=10.0, weight_decay=1.0)
    fast = runs(8, 1160, first=[300 + s for s in range(8)], init_scale=1.0, weight_decay=1.0)
    assert decided(claim_init_scale(slow + fast, 1.0, BUDGET)) == "supported"
    # stable much later (the stable epoch would say supported), first crossing the same
    late = runs(8, 1900, first=[300 + s for s in range(8)], init_scale=10.0, weight_decay=1.0)
    assert decided(claim_init_scale(late + fast, 1.0, BUDGET)) == "inconclusive"


def test_train_fraction_rows_split_speed_and_delay_on_unmirrored_pairs():
    # the literature: more data generalizes sooner, and the delay is longer with less data
    rows = runs(8, 1500, memorized=100, train_fraction=0.3)
    rows += runs(8, 300, memorized=100, train_fraction=0.6)
    sooner, longer = (
        claim_less_data_sooner(rows, BUDGET),
        claim_less_data_longer_delay(rows, BUDGET),
    )
    assert decided(sooner) == "contradicted" and decided(longer) == "supported"
    assert sooner.weight == longer.weight == 0.5 and "same arms" in sooner.result
    # never generalizing with less data: a censored, still longer delay
    rows = runs(8, None, memorized=100, train_fraction=0.3) + rows[8:]
    assert decided(claim_less_data_longer_delay(rows, BUDGET)) == "supported"
    # all test pairs say 0.6 is sooner, but only through mirrors seen in training: on the
    # unmirrored pairs both fractions take as long
    unseen = [(e, e) for e in range(800, 1200, 50)]
    rows = runs(8, 900, unmirrored=unseen, train_fraction=0.3)
    rows += runs(8, 300, unmirrored=unseen[::-1], train_fraction=0.6)
    assert decided(claim_less_data_sooner(rows, BUDGET)) == "inconclusive"


def test_unmirrored_epochs_are_read_from_the_run_metrics(tmp_path):
    from gptlab.train.run_folder import RunFolder

    run = RunFolder(tmp_path / "run").create()
    # all test pairs: first at 10, stable from 30; unmirrored: first at 20, stable from 40
    accuracy = {10: (1.0, 0.5), 20: (0.5, 1.0), 30: (1.0, 0.5), 40: (1.0, 1.0)}
    for epoch, (test, unmirrored) in accuracy.items():
        run.append_metrics({"epoch": epoch, "test_acc": test, "test_acc_unmirrored": unmirrored})
    (row,) = with_unmirrored([{"run_dir": str(run.path)}], 0.99)
    assert row["first_generalized_epoch_unmirrored"] == 20
    assert row["generalized_epoch_unmirrored"] == 40


def test_init_scale_compares_the_extremes_at_the_base_weight_decay():
    rows = runs(8, 800, init_scale=1.0, weight_decay=1.0)
    rows += runs(8, 1600, init_scale=10.0, weight_decay=1.0)
    rows += runs(8, 100, init_scale=10.0, weight_decay=3.0)  # another wd: not in the test
    assert decided(claim_init_scale(rows, 1.0, BUDGET)) == "supported"
    assert "init x10, wd 3: 8/8" in claim_init_scale(rows, 1.0, BUDGET).result


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


def test_phase_snapshots_take_the_plateau_and_the_stable_phase_evenly():
    rows = [{"epoch": e, "test_acc": 0.2, "train_loss": 0.1} for e in range(10, 110, 10)]
    rows += [{"epoch": e, "test_acc": 1.0, "train_loss": 0.01} for e in range(110, 210, 10)]
    rows[12]["test_acc"] = 0.5  # a dip at 130: stable only from 140
    snaps = list(range(0, 201, 10))
    phases = phase_snapshots(rows, 30, snaps, 0.99, per_phase=3)
    assert phases == {"memorized": [30, 70, 100], "generalized": [140, 170, 200]}
    assert phase_snapshots(rows, None, snaps, 0.99, 3)["memorized"] == []
    assert evenly([1, 2], 5) == [1, 2]


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nold table\n{README_END}\noutro\n")
    update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{README_BEGIN}\n| new |\n{README_END}\noutro\n"
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ValueError, match="no grok-claims markers"):
        update_readme(tmp_path / "plain.md", "| new |")


def test_cli_refuses_a_readme_without_markers_before_any_run(tmp_path, capsys):
    (tmp_path / "plain.md").write_text("no markers")
    out = tmp_path / "claims"
    assert cli(["grok-claims", "--out", str(out), "--readme", str(tmp_path / "plain.md")]) == 2
    assert "no grok-claims markers" in capsys.readouterr().err
    for missing in (tmp_path / "absent.md", tmp_path):
        assert cli(["grok-claims", "--out", str(out), "--readme", str(missing)]) == 2
        assert f"--readme {missing}: no such file" in capsys.readouterr().err
    assert not out.exists()


def test_a_plan_without_its_base_values_is_refused():
    plan = dataclasses.replace(TINY, weight_decays=[0.1, 1.0])
    with pytest.raises(ValueError, match="weight_decays .* must include 0"):
        plan.check()
    with pytest.raises(ValueError, match="d_models"):
        dataclasses.replace(TINY, d_models=[8, 32]).check()


TINY = ClaimsPlan(
    base=dataclasses.replace(grok.PRESETS["smoke"], eval_every=2, checkpoint_every=10),
    seeds=2,
    max_epochs=8,
    weight_decays=[0.0, 1.0],
    d_models=[8, 32, 64],
    train_fractions=[0.4, 0.7],
    init_scales=[1.0, 3.0],
    phase_weight_decays=[1.0],
    sharpness_seeds=2,
    snapshot_every=2,
    control_epochs=4,
    control_snapshot_every=1,
    per_phase=2,
)


def test_a_tiny_report_has_a_verdict_per_row_its_figures_and_resumes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_BEGIN}\n{README_END}\n")
    text = run_claims(TINY, tmp_path / "out", workers=1, readme=readme)
    verdicts = [line for line in text.split("## Results")[0].splitlines() if "| **" in line]
    assert len(verdicts) == 7
    assert "0 of 24 runs diverged" in text  # 4 + 6 + 4 + 3 x 2 + 4 runs, all counted
    endings = ("**supported** |", "**contradicted** |", "**inconclusive** |")
    assert all(
        v.endswith(endings) or "**not decided: " in v or "**not testable" in v for v in verdicts
    )
    for figure in (
        "claim1-weight-decay/generalization_curves.png",
        "claim2-model-size/phase_diagram.png",
        "claim3-train-fraction/generalization_curves.png",
        "claim4-sharpness/matched_sharpness.png",
        "claim4-sharpness/matched_sharpness_same_wd.png",
        "claim5-init-scale/phase_diagram.png",
    ):
        assert (tmp_path / "out" / figure).stat().st_size > 5_000, figure
    assert (tmp_path / "out" / "claims.md").read_text() == text
    assert verdicts[0] in readme.read_text()
    # a second call reuses every run and measure: nothing is retrained or re-measured
    summary = tmp_path / "out/claim1-weight-decay/weight_decay=0.0/seed-0/summary.json"
    measure = tmp_path / "out/claim4-sharpness/groks/base/seed-0/phase_sharpness.json"
    stamps = summary.stat().st_mtime_ns, measure.stat().st_mtime_ns
    assert run_claims(TINY, tmp_path / "out", workers=1) == text
    assert (summary.stat().st_mtime_ns, measure.stat().st_mtime_ns) == stamps


def fake_run(folder, config, scales: dict[int, float], test_acc: dict[int, float], memorized):
    """A run folder with snapshots at ``scales`` epochs (one fixed init scaled by that
    factor: a different training loss each) and evaluations of ``test_acc``."""
    import torch

    from gptlab.config import to_dict
    from gptlab.experiments.grokking.run import build_data, build_model, save_snapshot
    from gptlab.train.run_folder import RunFolder

    run = RunFolder(folder).create()
    run.write_config(to_dict(config))
    torch.manual_seed(0)  # every fake run starts from the same weights
    model = build_model(config, build_data(config).vocab_size)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    for epoch, scale in scales.items():
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(initial[name] * scale)
        save_snapshot(run, model, epoch)
    for epoch, acc in test_acc.items():
        run.append_metrics({"epoch": epoch, "test_acc": acc, "train_loss": 1.0})
    run.write_summary({"status": "finished", "memorized_epoch": memorized})


def test_measure_pair_matches_each_phase_snapshot_to_the_nearest_control_loss(tmp_path):
    config = dataclasses.replace(
        grok.PRESETS["smoke"], d_model=16, n_heads=2, d_ff=32, init="nanda"
    )
    accuracy = {10: 0.1, 20: 0.1, 30: 0.5, 40: 1.0, 50: 1.0}
    fake_run(tmp_path / "g", config, {10: 1.0, 20: 3.0, 40: 5.0, 50: 8.0}, accuracy, 10)
    fake_run(tmp_path / "c", config, {e: 1.0 + 0.5 * e for e in range(15)}, {}, None)
    measured = measure_pair(tmp_path / "g", tmp_path / "c", 0.99, per_phase=2, tolerance=1.01)
    phases = measured["phases"]
    assert phases["memorized"]["epoch"] == [10, 20] and phases["generalized"]["epoch"] == [40, 50]
    _, epochs, states = load_snapshots(tmp_path / "c")
    control = dict(zip(epochs, train_losses(config, states), strict=True))
    for phase in phases.values():
        for loss, epoch in zip(phase["train_loss"], phase["control_epoch"], strict=True):
            nearest = min(control, key=lambda e: abs(math.log(control[e] / loss)))
            assert epoch == nearest
    assert phases["memorized"]["matched"][0] is True  # scale 1 is in the control too
    for phase in phases.values():
        for loss, other, ok in zip(
            phase["train_loss"], phase["control_train_loss"], phase["matched"], strict=True
        ):
            assert ok == (abs(math.log(loss / other)) <= math.log(1.01))
    assert all(len(v) == 2 for v in phases["generalized"].values())
    assert all(len(p["adaptive_top_eig"]) == len(p["control_adaptive_top_eig"]) == 2
               for p in phases.values())  # fmt: skip
    # a result stored before the adaptive eigenvalue existed is measured again
    cache = tmp_path / "g" / "matched_sharpness.json"
    old = json.loads(cache.read_text())
    for phase in old["phases"].values():
        del phase["adaptive_top_eig"], phase["control_adaptive_top_eig"]
    cache.write_text(json.dumps(old))
    assert measure_pair(tmp_path / "g", tmp_path / "c", 0.99, 2, 1.01) == measured
    # the second call reads the stored measures instead of recomputing them
    (tmp_path / "c" / "snapshots").rename(tmp_path / "gone")
    assert measure_pair(tmp_path / "g", tmp_path / "c", 0.99, 2, 1.01) == measured


@pytest.mark.parametrize(
    "text, message",
    [
        (f"{README_END}\ntable\n{README_BEGIN}\n", "end marker comes before the begin one"),
        (f"{README_BEGIN}\ntable\n", "found the begin marker 1 and the end marker 0 times"),
        (f"table\n{README_END}\n", "found the begin marker 0 and the end marker 1 times"),
        (f"{README_BEGIN}\n{README_BEGIN}\n{README_END}\n", "begin marker 2 and the end marker 1"),
        (f"{README_BEGIN}\n{README_END}\n{README_END}\n", "begin marker 1 and the end marker 2"),
    ],
)
def test_readme_markers_out_of_order_missing_or_repeated_are_refused_up_front(
    tmp_path, capsys, text, message
):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    out = tmp_path / "claims"
    assert cli(["grok-claims", "--out", str(out), "--readme", str(readme)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()
    with pytest.raises(ValueError, match=message):  # the same check when the table is written
        update_readme(readme, "| new |")
    assert readme.read_text() == text


def test_ctrl_c_names_the_command_that_resumes_every_claim(tmp_path, monkeypatch, capsys):
    out = tmp_path / "my claims"  # a space: the hint must be shell-quoted
    argv = ["grok-claims", "--workers", "1", "--out", str(out)]
    train_epoch, calls = grok.train_epoch, []

    def ctrl_c_in_epoch_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the first run of the first sweep stops at epoch 3
            os.kill(os.getpid(), signal.SIGINT)
        return train_epoch(*args, **kwargs)

    monkeypatch.setattr(grok, "train_epoch", ctrl_c_in_epoch_3)
    assert cli(argv) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    prefix = "gptlab grok-claims: stopped; resume with: "
    assert line.startswith(prefix) and shlex.split(line[len(prefix) :]) == ["gptlab", *argv]
    run = out / "claim1-weight-decay" / "weight_decay=0.0" / "seed-0"
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"
