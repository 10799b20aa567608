"""`gptlab center-suite`: same seeds for every variant, reports, skipping finished runs;
bad or changed requests refused before anything is written; stops that say how to resume."""

import csv
import json
import math
import os
import shlex
import signal

import pytest
from helpers import files, refusal

from gptlab import cli
from gptlab.analysis.statistics import paired_contrasts
from gptlab.config import ConfigError, flat_value, from_dict, replace_flat
from gptlab.experiments.centering import run as center
from gptlab.experiments.centering import suite as center_suite
from gptlab.experiments.centering import variants as registry
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.centering.geometry import PASSAGE_WINDOWS, windows_per_passage
from gptlab.experiments.centering.lr_grid import best_rates, ranking_checks
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.suite import run_suite
from gptlab.experiments.centering.variants import Placement, placement_variants
from gptlab.experiments.executor import EXIT_WORKER_LOST, WorkerLost


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
    assert "invalid choice 'wide' for argument '--variants'" in capsys.readouterr().err
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
    saved = json.loads((out / "lr-grid" / "qk_centered-lr0.003-seed0" / "config.json").read_text())
    config = from_dict(CenterConfig, saved)
    assert (flat_value(config, "lr"), flat_value(config, "holdout_fraction")) == (3e-3, 0.1)
    assert flat_value(config, "min_lr") == pytest.approx(3e-4)  # the preset's min_lr / lr ratio
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
    assert cli.main(argv + ["--center", "qk"]) == 2
    assert "baseline's included" in capsys.readouterr().err
    assert cli.main(argv + ["--lr-grid"]) == 2
    assert "at least 2 distinct learning rates" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def register(monkeypatch, placement: Placement) -> list[str]:
    """``placement`` and its variants in the registry for this test; their names."""
    monkeypatch.setitem(registry.PLACEMENTS, placement.name, placement)
    names = []
    for variant in placement_variants(placement):
        monkeypatch.setitem(registry.VARIANTS, variant.name, variant)
        names.append(variant.name)
    return names


@pytest.mark.parametrize(
    "placement, missing, message",
    [
        (Placement("v", "", "V in attention", ("v",)), None, "placement v has no figure title"),
        (Placement("v", "Q/K", "V in attention", ("v",)), None, "one figure title 'Q/K'"),
        (Placement("v", "V", "V in attention", ("v",)), "v", "no module pattern for its sites"),
    ],
)
def test_a_placement_that_a_figure_cannot_draw_stops_the_suite_before_training(
    tmp_path, text_file, monkeypatch, placement, missing, message
):
    """Once a KeyError after every run had trained; now refused before the first."""
    variants = ["baseline", "qk_centered", "qk_normalized", *register(monkeypatch, placement)]
    if missing:  # a site the model knows no module names of
        monkeypatch.delitem(registry.SITE_MODULES, missing)
    monkeypatch.setattr(center_suite, "run_center", lambda *a, **k: pytest.fail("trained"))
    base = replace_flat(PRESETS["smoke"], data_file=str(text_file))
    out = tmp_path / "suite"
    with pytest.raises(ConfigError, match=message):
        run_suite(base, [0, 1], variants, out, progress=False)
    assert not out.exists()


def test_a_suite_from_before_the_config_had_sections_reruns_without_training(
    tmp_path, text_file, capsys, monkeypatch
):
    out = tmp_path / "suite"
    argv = tiny_suite(text_file, out)
    assert cli.main(argv) == 0
    suite_json = out / "suite.json"
    plan = json.loads(suite_json.read_text())
    flat = {k: v for section in plan["base"].values() for k, v in section.items()}
    del flat["center"]  # then: one override per placement
    plan["base"] = flat | {"center_qk": None, "center_block": None, "center_final": None}
    suite_json.write_text(json.dumps(plan))
    monkeypatch.setattr(
        center_suite.RunFolder, "save_checkpoint", lambda *a: pytest.fail("trained again")
    )
    assert cli.main(argv) == 0


def test_geometry_passages_shrink_to_fit_a_short_validation_split():
    assert windows_per_passage(1_000_000, 64) == PASSAGE_WINDOWS
    assert windows_per_passage(2000, 32) == 15  # 4 passages x 15 windows x 32 < 2000
    with pytest.raises(ValueError, match="too short for 4 passages"):
        windows_per_passage(100, 32)


def tiny_suite(text_file, out) -> list[str]:
    """``gptlab center-suite`` on the smallest model the tests use, 2 seeds, 2 variants."""
    argv = ["center-suite", "--preset", "smoke", "--data-file", str(text_file), "--d-model", "16"]
    argv += ["--block-size", "16", "--batch-size", "4", "--max-iters", "2", "--warmup-iters", "1"]
    argv += ["--eval-every", "2", "--eval-iters", "1", "--seeds", "2", "--quiet"]
    return argv + ["--variants", "baseline", "qk_centered", "--out", str(out)]


@pytest.mark.parametrize(
    "changes, message",
    [
        (["--variants", "baseline", "qk_centered", "qk_centered"], "['qk_centered'] given more"),
        (["--variants", "baseline", "qk_centered", "qk_centered", "--workers", "2"], "given more"),
        (["--n-head", "3"], "divisible"),  # every run's config, the model's checks included
        (["--dropout", "1.5"], "dropout"),
        (["--lr-grid", "0.001", "0.0010000001"], "would share the folder"),
    ],
)
def test_every_planned_run_is_checked_before_anything_is_written(
    tmp_path, text_file, capsys, changes, message
):
    out = tmp_path / "suite"
    assert message in refusal(capsys, tiny_suite(text_file, out) + changes)
    assert not out.exists()


def test_a_rerun_with_other_settings_is_refused_before_suite_json_changes(
    tmp_path, text_file, capsys
):
    out = tmp_path / "suite"
    argv = tiny_suite(text_file, out)
    assert cli.main(argv) == 0
    capsys.readouterr()
    before = files(out)
    for changed, message in [
        (["--max-iters", "3"], "max_iters: 2 vs 3"),
        (["--seeds", "3"], "seeds: [0, 1] vs [0, 1, 2]"),
        (["--variants", "baseline", "final_centered"], "variants: "),
        (["--lr-grid", "0.001", "0.003"], "lr_grid: None vs [0.001, 0.003]"),
    ]:
        assert message in refusal(capsys, argv + changed)
        assert files(out) == before, f"{changed} changed the suite's folder"


def test_ctrl_c_names_the_command_that_resumes_the_whole_suite(
    tmp_path, text_file, monkeypatch, capsys
):
    out = tmp_path / "my suite"  # a space: the hint must be shell-quoted
    argv = tiny_suite(text_file, out) + ["--max-iters", "4"]
    train_unit, calls = center.CenterRun.train_unit, []

    def ctrl_c_at_the_second_iteration(self, counters):
        calls.append(1)
        if len(calls) == 2:  # the first run checkpoints and stops at iteration 2
            os.kill(os.getpid(), signal.SIGINT)
        return train_unit(self, counters)

    monkeypatch.setattr(center.CenterRun, "train_unit", ctrl_c_at_the_second_iteration)
    assert cli.main(argv) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    prefix = "gptlab center-suite: stopped; resume with: "
    assert line.startswith(prefix) and shlex.split(line[len(prefix) :]) == ["gptlab", *argv]
    assert json.loads((out / "runs/baseline-seed0/summary.json").read_text())["iters"] == 2
    monkeypatch.undo()
    assert cli.main(argv) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["status"], r["iters"]) for r in rows] == [("finished", "4")] * 4


def test_a_lost_worker_names_its_runs_and_the_command_that_resumes_them(
    tmp_path, text_file, monkeypatch, capsys
):
    def killed_worker(fn, tasks, workers, ray_address):
        raise WorkerLost([tasks[0]], [tasks[1]], ["killed by SIGKILL"])
        yield  # a generator, as run_all is

    monkeypatch.setattr(center_suite, "run_all", killed_worker)
    out = tmp_path / "suite"
    argv = tiny_suite(text_file, out) + ["--workers", "2"]
    assert cli.main(argv) == EXIT_WORKER_LOST
    (line,) = capsys.readouterr().err.strip().splitlines()
    runs = out / "runs"
    assert line.startswith(
        f"gptlab center-suite: worker process killed by SIGKILL running {runs}/baseline-seed0; "
        f"stopped cleanly: {runs}/qk_centered-seed0; rerun to resume them: "
    )
    assert shlex.split(line.split("rerun to resume them: ")[1]) == ["gptlab", *argv]
