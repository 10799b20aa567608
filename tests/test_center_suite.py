"""`gptlab center-suite`: same seeds for every variant, reports, skipping finished runs."""

import csv
import json

import pytest

from gptlab import cli
from gptlab.experiments.centering import suite as center_suite
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
