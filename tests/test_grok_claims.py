"""The claims report: verdict logic on synthetic sweeps, the loss-matched sharpness pieces,
and one tiny end-to-end report that resumes."""

import dataclasses
import json
import math
import os
import shlex
import signal

import pytest

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


def runs(count: int, generalized, memorized=100, status="finished", **values) -> list[dict]:
    """``count`` runs at one grid point; ``generalized``: one epoch for all, or a list."""
    epochs = generalized if isinstance(generalized, list) else [generalized] * count
    return [
        {
            **values,
            "seed": seed,
            "status": status,
            "memorized_epoch": memorized,
            "generalized_epoch": epochs[seed],
            "first_generalized_epoch": epochs[seed],
        }
        for seed in range(count)
    ]


def decided(decision: Decision) -> str:
    return decide([decision], alpha=0.05)[0].verdict


def test_decide_holm_corrects_over_rows_and_reads_the_side():
    def row(claimed, opposite):
        return Decision("c", "e", "r", "t", claimed, opposite, "f.png")

    rows = decide([row(0.001, 0.999), row(0.999, 0.001), row(0.02, 0.98)], alpha=0.05)
    assert [r.verdict for r in rows] == ["supported", "contradicted", "supported"]
    # two-sided p 0.002, 0.002 and 0.04 times 3, 2 and 1, kept monotone
    assert [r.holm_p for r in rows] == pytest.approx([0.006, 0.006, 0.04])
    rows = decide([row(0.001, 0.999), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "supported"
    rows = decide([row(0.001, 0.999), row(0.02, 0.98), row(0.02, 0.98)], alpha=0.05)
    assert rows[1].verdict == "inconclusive" and rows[1].holm_p == pytest.approx(0.08)


def test_weight_decay_is_supported_only_when_wd_0_generalizes_in_fewer_seeds():
    never = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    decision = claim_weight_decay(never, 1.0, BUDGET)
    assert decision.p_claimed == pytest.approx(1 / 12870)  # 0/8 vs 8/8: 1 / C(16, 8)
    assert decided(decision) == "supported"
    assert "wd 0: 0/8" in decision.result and "wd 1: 8/8" in decision.result
    # 2 of 8 without decay vs 3 of 8 with it: inside the noise of 8 seeds
    close = runs(8, [500] * 2 + [None] * 6, weight_decay=0.0)
    close += runs(8, [500] * 3 + [None] * 5, weight_decay=1.0)
    assert decided(claim_weight_decay(close, 1.0, BUDGET)) == "inconclusive"
    both = runs(8, 300, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    assert decided(claim_weight_decay(both, 1.0, BUDGET)) == "inconclusive"


def test_diverged_runs_are_left_out_of_the_tests():
    rows = runs(8, None, weight_decay=0.0) + runs(8, 900, weight_decay=1.0)
    rows += runs(3, None, status="diverged", weight_decay=1.0)
    assert claim_weight_decay(rows, 1.0, BUDGET).p_claimed == pytest.approx(1 / 12870)


def test_model_size_rows_bracket_and_compare_the_extremes_with_the_base():
    config = dataclasses.replace(grok.PRESETS["grok"], d_model=64)
    rows = runs(8, None, d_model=4) + runs(8, [900] * 4 + [None] * 4, d_model=8)
    rows += runs(8, 1000, d_model=64) + runs(8, 150, d_model=128)
    assert bracket_text(rows, [4, 8, 64, 128]) == (
        "bracketed: d_model 4 never generalizes, 64 always does"
    )
    assert bracket_text(rows[8:], [8, 64, 128]).startswith("not bracketed")
    assert decided(claim_small_models(rows, config, BUDGET)) == "supported"
    large = claim_large_models(rows, 64, BUDGET)  # delay x1.5 vs x10, same memorization
    assert decided(large) == "supported" and "d_model 128 vs 64" in large.experiment
    slow = rows[:24] + runs(8, 1900, d_model=128)
    assert decided(claim_large_models(slow, 64, BUDGET)) == "contradicted"


def test_delays_censor_runs_that_never_generalized_at_budget_over_memorization():
    ratios, bounds = delays(runs(2, [400, None], memorized=200) + runs(1, None, None), BUDGET)
    assert ratios == [2.0, None] and bounds == [10.0, 10.0]


def test_train_fraction_rows_split_speed_and_delay():
    # the literature: more data generalizes sooner, and the delay is longer with less data
    rows = runs(8, 1500, memorized=100, train_fraction=0.3)
    rows += runs(8, 300, memorized=100, train_fraction=0.6)
    assert decided(claim_less_data_sooner(rows, BUDGET)) == "contradicted"
    assert decided(claim_less_data_longer_delay(rows, BUDGET)) == "supported"
    # never generalizing with less data: a censored, still longer delay
    rows = runs(8, None, memorized=100, train_fraction=0.3) + rows[8:]
    assert decided(claim_less_data_longer_delay(rows, BUDGET)) == "supported"


def test_init_scale_compares_the_extremes_at_the_base_weight_decay():
    rows = runs(8, 800, init_scale=1.0, weight_decay=1.0)
    rows += runs(8, 1600, init_scale=10.0, weight_decay=1.0)
    rows += runs(8, 100, init_scale=10.0, weight_decay=3.0)  # another wd: not in the test
    assert decided(claim_init_scale(rows, 1.0, BUDGET)) == "supported"
    assert "init x10, wd 3: 8/8" in claim_init_scale(rows, 1.0, BUDGET).result


def matched(memorized_ratio: float, generalized_ratio: float, snapshots: int = 5) -> dict:
    """A measure_pair result whose sharpness is ``ratio`` times the control's per phase."""
    phases = {}
    for phase, ratio in (("memorized", memorized_ratio), ("generalized", generalized_ratio)):
        control = [10.0 + i for i in range(snapshots)]
        phases[phase] = {
            "matched": [True] * snapshots,
            "epoch": list(range(snapshots)),
            "train_loss": [0.1] * snapshots,
            "control_train_loss": [0.1] * snapshots,
            "hessian_top_eig": [ratio * c for c in control],
            "control_hessian_top_eig": control,
            "hessian_trace": [ratio * 5 * c for c in control],
            "control_hessian_trace": [5 * c for c in control],
        }
    return {"phases": phases, "tolerance": 1.5}


def test_sharpness_claim_tests_the_change_of_the_loss_matched_ratio_over_seeds():
    flatter = [matched(2.0, 0.5 + 0.1 * s) for s in range(4)]
    assert log_ratios(flatter[0], "hessian_top_eig")["change"] == pytest.approx(math.log(0.25))
    decision = claim_sharpness(flatter)
    assert decided(decision) == "supported" and "4 of 4 seeds" in decision.result
    # an unmatched pair (losses too far apart) does not count
    far = matched(2.0, 0.5)
    far["phases"]["generalized"]["matched"] = [False] * 4 + [True]
    far["phases"]["generalized"]["hessian_top_eig"][:4] = [1e6] * 4
    assert log_ratios(far, "hessian_top_eig")["generalized"] == pytest.approx(math.log(0.5))
    sharper = [matched(0.5, 2.0 + 0.1 * s) for s in range(4)]
    assert decided(claim_sharpness(sharper)) == "contradicted"
    missing = [matched(2.0, 0.5, snapshots=0) for _ in range(4)]
    assert decided(claim_sharpness(missing)) == "inconclusive"
    assert "0 of 4 seeds" in claim_sharpness(missing).result


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
    assert "0 of 22 runs diverged" in text  # 4 + 6 + 4 + 2 x 2 + 4 runs, all counted
    assert all(
        v.endswith(("**supported** |", "**contradicted** |", "**inconclusive** |"))
        for v in verdicts
    )
    for figure in (
        "claim1-weight-decay/generalization_curves.png",
        "claim2-model-size/phase_diagram.png",
        "claim3-train-fraction/generalization_curves.png",
        "claim4-sharpness/matched_sharpness.png",
        "claim5-init-scale/phase_diagram.png",
    ):
        assert (tmp_path / "out" / figure).stat().st_size > 5_000, figure
    assert (tmp_path / "out" / "claims.md").read_text() == text
    assert verdicts[0] in readme.read_text()
    # a second call reuses every run and measure: nothing is retrained or re-measured
    summary = tmp_path / "out/claim1-weight-decay/weight_decay=0.0/seed-0/summary.json"
    measure = tmp_path / "out/claim4-sharpness/groks/base/seed-0/matched_sharpness.json"
    stamps = summary.stat().st_mtime_ns, measure.stat().st_mtime_ns
    assert run_claims(TINY, tmp_path / "out", workers=1) == text
    assert (summary.stat().st_mtime_ns, measure.stat().st_mtime_ns) == stamps


def fake_run(folder, config, scales: dict[int, float], test_acc: dict[int, float], memorized):
    """A run folder with snapshots at ``scales`` epochs (the init scaled by that factor:
    a different training loss each) and evaluations of ``test_acc``."""
    import torch

    from gptlab.config import to_dict
    from gptlab.experiments.grokking.run import build_data, build_model, save_snapshot
    from gptlab.train.run_folder import RunFolder

    run = RunFolder(folder).create()
    run.write_config(to_dict(config))
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
