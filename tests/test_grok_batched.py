"""Batched seeds: K seeds trained as one stacked model equal K separate runs."""

import pytest
import torch

from gptlab.config import replace_flat
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking import PRESETS, run_grok, run_seeds, seed_configs
from gptlab.train.run_folder import RunFolder

CONFIG = replace_flat(
    PRESETS["smoke"],
    epochs=12,
    eval_every=3,
    checkpoint_every=6,
    landscape_every=0,
    landscape_plot_every=0,
    histogram_every=0,
    attention_every=0,
)
COMPARED = ("train_loss", "train_acc", "test_loss", "test_acc", "grad_norm", "weight_norm")


def assert_same_metrics(left: RunFolder, right: RunFolder) -> None:
    a, b = left.read_metrics(), right.read_metrics()
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key in COMPARED:
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), (ra["epoch"], key)


def test_batched_seeds_equal_separate_runs(tmp_path):
    batched = run_seeds(CONFIG, 2, tmp_path / "batched", batched=True, progress=False)
    for config in seed_configs(CONFIG, 2):
        run_grok(config, tmp_path / "alone" / f"seed-{config.runtime.seed}", progress=False)
    for seed in (0, 1):
        assert_same_metrics(
            RunFolder(tmp_path / "batched" / f"seed-{seed}"),
            RunFolder(tmp_path / "alone" / f"seed-{seed}"),
        )
    assert [s["batched_seeds"] for s in batched] == [2, 2]
    assert (tmp_path / "batched" / "seed-1" / "plots" / "curves.png").exists()


def test_batched_seeds_with_filter_clipping_and_decay_groups_equal_separate_runs(tmp_path):
    config = replace_flat(CONFIG, **KNOBS)
    run_seeds(config, 2, tmp_path / "batched", batched=True, progress=False)
    for seed_config in seed_configs(config, 2):
        run_grok(
            seed_config, tmp_path / "alone" / f"seed-{seed_config.runtime.seed}", progress=False
        )
    for seed in (0, 1):
        assert_same_metrics(
            RunFolder(tmp_path / "batched" / f"seed-{seed}"),
            RunFolder(tmp_path / "alone" / f"seed-{seed}"),
        )


def test_seeds_get_their_own_split_and_init():
    configs = seed_configs(CONFIG, 3)
    assert [(c.runtime.seed, c.task.split_seed) for c in configs] == [(0, 0), (1, 1), (2, 2)]


def crash_at_evaluation(monkeypatch, n: int) -> None:
    """Make the n-th evaluation raise KeyboardInterrupt, as a crash would."""
    real, calls = grok.evaluate, []

    def evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(grok.run, "evaluate", evaluate)


def test_a_seed_of_a_batched_run_continues_alone_as_its_own_run(tmp_path, monkeypatch):
    crash_at_evaluation(monkeypatch, 3)  # at epoch 9; the checkpoint is at epoch 6
    with pytest.raises(KeyboardInterrupt):
        run_seeds(CONFIG, 2, tmp_path / "batched", batched=True, progress=False)
    monkeypatch.undo()
    # the seed's checkpoint is an ordinary run_grok checkpoint: it continues alone
    seed_dir = tmp_path / "batched" / "seed-1"
    config = seed_configs(CONFIG, 2)[1]
    run_grok(config, seed_dir, resume=True, progress=False)
    run_grok(config, tmp_path / "alone", progress=False)
    assert_same_metrics(RunFolder(seed_dir), RunFolder(tmp_path / "alone"))


KNOBS = {
    "decay": "matrices",
    "grad_filter": "ema",
    "grad_clip": 0.5,
    "warmup_steps": 5,
    "optimizer": "adam",
}


@pytest.mark.parametrize(
    "changes", [{"dropout": 0.0}, {"dropout": 0.1}, KNOBS], ids=["plain", "dropout", "knobs"]
)
def test_batched_resume_after_interruption_equals_unbroken(tmp_path, monkeypatch, changes):
    # with dropout the global RNG (the masks) must be restored too, not only the weights;
    # with the knobs, the filter's EMA and the optimizer's two groups, split per seed
    config = replace_flat(CONFIG, batch_size=64, **changes)
    crash_at_evaluation(monkeypatch, 3)  # at epoch 9; the checkpoint is at epoch 6
    with pytest.raises(KeyboardInterrupt):
        run_seeds(config, 2, tmp_path / "cut", batched=True, progress=False)
    monkeypatch.undo()
    run_seeds(config, 2, tmp_path / "cut", batched=True, resume=True, progress=False)
    run_seeds(config, 2, tmp_path / "whole", batched=True, progress=False)
    for seed in (0, 1):
        cut, whole = (RunFolder(tmp_path / d / f"seed-{seed}") for d in ("cut", "whole"))
        assert without_time(cut.read_metrics()) == without_time(whole.read_metrics())
        a, b = (f.load_checkpoint()["state"]["model"] for f in (cut, whole))
        assert all(torch.equal(a[k], b[k]) for k in a)


def without_time(rows):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in rows]


def test_zero_seeds_is_refused():
    with pytest.raises(ValueError, match="seeds = 0 must be >= 1"):
        seed_configs(CONFIG, 0)


def test_cli_runs_and_resumes_batched_seeds(tmp_path, capsys):
    from gptlab.cli import main

    out = tmp_path / "group"
    argv = ["grok", "--preset", "smoke", "--epochs", "4", "--seeds", "2", "--batched"]
    assert main([*argv, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("seed-*")) == ["seed-0", "seed-1"]
    assert "2 seeds (batched)" in capsys.readouterr().out
    assert main(["grok", "--resume", str(out)]) == 0
    assert main(["grok", "--preset", "smoke", "--seeds", "0", "--out", str(tmp_path / "x")]) == 2
