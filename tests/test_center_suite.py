"""`gptlab center-suite`: same seeds for every variant, reports, skipping finished runs."""

import csv
import json
import math

import pytest

from gptlab import cli
from gptlab.analysis.statistics import paired_contrasts
from gptlab.experiments.centering import suite as center_suite
from gptlab.experiments.centering.geometry import PASSAGE_WINDOWS, windows_per_passage
from gptlab.experiments.centering.lr_grid import best_rates, ranking_checks
from gptlab.experiments.centering.suite import run_suite


def test_suite_runs_every_variant_with_the_same_seeds_and_reports(
    tmp_path, tiny_center_config, monkeypatch
):
    base = tiny_center_config(max_iters=3, warmup_iters=1, eval_every=3)
    out = tmp_path / "suite"
    variants = ["baseline", "final_centered", "final_normalized", "block_centered"]
    run_suite(base, [0, 1], variants, out, progress=False)

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["variant"], r["seed"]) for r in rows) == sorted(
        (v, str(s)) for v in variants for s in (0, 1)
    )
    comparison = (out / "comparison.md").read_text()
    assert "| final_centered | final (simple, strength 1) | 2 |" in comparison
    assert "| final_normalized | final (simple, strength 0) | 2 |" in comparison
    assert "| final_centered | final_normalized | " in comparison  # centering vs its control
    assert "block_centered | block_normalized" not in comparison  # no control ran
    assert "Holm" in comparison and "95% CI" in comparison and "MDE" in comparison
    geometry = json.loads((out / "geometry.json").read_text())
    assert set(geometry) == set(variants)
    assert set(geometry["baseline"]) == {"block0", "final", "layer0.q", "layer0.k"}
    effective_rank = geometry["baseline"]["layer0.q"]["effective_rank"]
    assert effective_rank["n"] == 2 and effective_rank["low"] <= effective_rank["mean"]
    assert "## Queries and keys" in (out / "geometry.md").read_text()
    figures = ["centering_comparison.png", "centering_effects.png", "centering_stats.png"]
    figures += ["qk_angles.png", "similarity.png", "centering_test_results.png"]
    for figure in figures:
        assert (out / figure).stat().st_size > 10_000

    # a second call trains nothing: every run is finished
    monkeypatch.setattr(
        center_suite.RunFolder, "save_checkpoint", lambda *a: pytest.fail("trained again")
    )
    run_suite(base, [0, 1], variants, out, progress=False)


def test_suite_refuses_bad_requests_before_training(tmp_path, text_file, capsys):
    argv = ["center-suite", "--preset", "smoke", "--out", str(tmp_path / "s")]
    argv += ["--data-file", str(text_file)]
    assert cli.main(argv + ["--variants", "baseline", "wide"]) == 2
    assert "unknown variant(s) ['wide']" in capsys.readouterr().err
    assert cli.main(argv + ["--variants", "qk_centered"]) == 2
    assert "include it" in capsys.readouterr().err
    assert cli.main(argv + ["--seeds", "1"]) == 2
    assert cli.main(argv + ["--seed", "3"]) == 2
    assert not (tmp_path / "s").exists()


def test_suite_in_worker_processes_gives_the_same_results(tmp_path, tiny_center_config):
    base = tiny_center_config(max_iters=2, warmup_iters=1, eval_every=2)
    variants = ["baseline", "qk_centered"]
    alone = run_suite(base, [0, 1], variants, tmp_path / "one", progress=False)
    parallel = run_suite(base, [0, 1], variants, tmp_path / "two", progress=False, workers=2)
    assert [(r["variant"], r["seed"]) for r in parallel] == [
        (r["variant"], r["seed"]) for r in alone
    ]
    for a, b in zip(alone, parallel, strict=True):
        assert a["final_val_loss"] == pytest.approx(b["final_val_loss"], rel=1e-5)


def test_lr_grid_picks_each_arm_on_the_holdout_and_checks_the_ranking():
    def run(variant, lr, seed, holdout, val, status="finished"):
        return {"variant": variant, "lr": lr, "seed": seed, "status": status,
                "final_holdout_loss": holdout, "final_val_loss": val}  # fmt: skip

    results = [
        run("baseline", 1e-3, 0, 2.0, 2.1), run("baseline", 1e-3, 1, 2.2, 2.3),
        run("baseline", 3e-3, 0, 1.9, 2.6), run("baseline", 3e-3, 1, 1.9, 2.6),  # best by holdout
        run("qk_centered", 1e-3, 0, 1.8, 1.9), run("qk_centered", 1e-3, 1, 1.8, 1.9),
        run("qk_centered", 3e-3, 0, 1.0, 1.0, status="diverged"),  # a diverged seed: +inf
        run("qk_centered", 3e-3, 1, 1.0, 1.0),
    ]  # fmt: skip
    rows = best_rates(results, ["baseline", "qk_centered"])
    assert rows[0]["best_lr"] == 3e-3 and rows[0]["val"] == pytest.approx(2.6)  # not val's pick
    assert rows[1]["best_lr"] == 1e-3 and rows[1]["holdout"][3e-3] == math.inf
    main = paired_contrasts(
        {"baseline": {0: 2.0, 1: 2.1}, "qk_centered": {0: 2.05, 1: 2.2}},
        [("qk_centered", "baseline", "vs baseline")],
    )
    (check,) = ranking_checks(rows, main)
    assert check["shared_lr"] > 0 and check["best_lr"] == pytest.approx(1.9 - 2.6)
    assert not check["holds"]  # worse at the shared rate, better at the arms' best rates


def test_suite_with_an_lr_grid_trains_on_the_holdout_split_and_reports(
    tmp_path, tiny_center_config
):
    base = tiny_center_config(max_iters=2, warmup_iters=1, eval_every=2)
    out = tmp_path / "suite"
    run_suite(base, [0, 1], ["baseline", "qk_centered"], out, False, lr_grid=[1e-3, 3e-3],
              lr_grid_seeds=1)  # fmt: skip
    summary = json.loads(
        (out / "lr-grid" / "qk_centered-lr0.003-seed0" / "summary.json").read_text()
    )
    assert summary["final_holdout_loss"] > 0
    config = json.loads((out / "lr-grid" / "qk_centered-lr0.003-seed0" / "config.json").read_text())
    assert (config["lr"], config["holdout_fraction"]) == (3e-3, 0.1)
    assert config["min_lr"] == pytest.approx(3e-4)  # the preset's min_lr / lr ratio
    comparison = (out / "comparison.md").read_text()
    assert "## Learning-rate grid" in comparison
    assert (
        "| qk_centered − baseline |" in comparison and "comparisons keep their sign" in comparison
    )


def test_lr_grid_requests_are_checked_before_training(tmp_path, text_file, capsys):
    argv = ["center-suite", "--preset", "smoke", "--out", str(tmp_path / "s")]
    argv += ["--data-file", str(text_file), "--variants", "baseline", "qk_centered"]
    assert cli.main(argv + ["--lr-grid", "1e-3"]) == 2
    assert "at least 2 distinct learning rates" in capsys.readouterr().err
    assert cli.main(argv + ["--lr-grid", "1e-3", "-1e-3"]) == 2
    assert cli.main(argv + ["--lr-grid", "1e-3", "3e-3", "--lr-grid-seeds", "9"]) == 2
    assert "--lr-grid-seeds 9 must lie in [1, --seeds]" in capsys.readouterr().err
    assert cli.main(argv + ["--centering-strength", "0.5"]) == 2
    assert "controls included" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_geometry_passages_shrink_to_fit_a_short_validation_split():
    assert windows_per_passage(1_000_000, 64) == PASSAGE_WINDOWS
    assert windows_per_passage(2000, 32) == 15  # 4 passages x 15 windows x 32 < 2000
    with pytest.raises(ValueError, match="too short for 4 passages"):
        windows_per_passage(100, 32)
