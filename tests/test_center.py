"""`gptlab center` and `gptlab sample`: the run contract, exact resume, errors before training."""

import json
import math
import shutil

import pytest
import torch

from gptlab import cli
from gptlab.config import ConfigError, flat_value, replace_flat
from gptlab.experiments.centering import run as center
from gptlab.experiments.centering import sample
from gptlab.experiments.centering.config import CenterConfig, centering_config
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.centering.sample import sample_text
from gptlab.train.run_folder import RunFolder


def values(config: CenterConfig, *names: str) -> tuple:
    return tuple(flat_value(config, name) for name in names)


def test_presets_match_the_issue():
    brief, cpu = PRESETS["brief"], PRESETS["cpu"]
    assert values(brief, "n_layer", "n_head", "d_model", "block_size") == (6, 6, 384, 256)
    assert values(brief, "batch_size", "max_iters", "dropout") == (64, 500, 0.2)
    assert values(brief, "lr", "min_lr", "warmup_iters", "beta2") == (1e-3, 1e-4, 100, 0.99)
    assert brief.optim.grad_clip == 1.0
    assert values(cpu, "n_layer", "n_head", "d_model", "block_size") == (4, 4, 128, 64)
    assert values(cpu, "batch_size", "max_iters", "dropout") == (12, 2000, 0.0)


def centering_of(**fields):
    return centering_config(replace_flat(CenterConfig(), **fields))


def test_variants_and_overrides_combine():
    full = centering_of(variant="full_centered")
    assert (full.sites, full.mode, full.strength) == (("q", "k", "final"), "simple", 1.0)
    momentum = centering_of(variant="momentum_centered")
    assert (momentum.sites, momentum.mode) == (("final",), "momentum")
    custom = centering_of(variant="qk_centered", center=("qk", "block"), centering_mode="adaptive")
    assert (custom.sites, custom.mode) == (("q", "k", "block"), "adaptive")
    assert centering_of(variant="qk_centered", center=()).sites == ()
    assert centering_of(variant="custom", center=("full",)).sites == ("q", "k", "final")
    assert centering_of(variant="qk_normalized", centering_strength=0.5).strength == 0.5


def test_a_run_writes_the_whole_run_folder(tmp_path, tiny_center_config):
    run = tmp_path / "run"
    summary = run_center(tiny_center_config(variant="qk_centered"), run, progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["centering"]["variant"] == "qk_centered"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows] == [0, 3, 6]
    assert {"iter", "train_loss", "val_loss", "lr", "tokens_per_sec"} <= set(rows[-1])
    # the centering statistics of every evaluation (analysis/centering_stats.py)
    assert {"center_ratio/blocks.0.attn.q_centering", "temperature/layer0/head0",
            "attention_entropy/layer0"} <= set(rows[0]) & set(rows[-1])  # fmt: skip
    saved = json.loads((run / "summary.json").read_text())
    assert saved == summary
    assert {"final_val_loss", "tokens_per_sec", "wall_time_s"} <= set(summary)
    assert summary["final_val_tokens"] == 2_000 - 1  # the whole val split, every target
    assert summary["centering"] == "qk (simple, strength 1)"
    assert (run / "checkpoint.pt").exists()
    assert any((run / "tensorboard").iterdir())


def test_resume_after_an_interruption_gives_the_unbroken_run(
    tmp_path, tiny_center_config, monkeypatch
):
    # dropout and the momentum buffer make RNG and buffer state part of what must be restored
    config = tiny_center_config(variant="momentum_centered", dropout=0.1)
    unbroken = run_center(config, tmp_path / "a", progress=False)

    real_lr = center.warmup_cosine_lr

    def crash_at_step_5(step, *args):
        if step == 5:
            raise KeyboardInterrupt
        return real_lr(step, *args)

    monkeypatch.setattr(center, "warmup_cosine_lr", crash_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run_center(config, tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "summary.json").exists()
    monkeypatch.setattr(center, "warmup_cosine_lr", real_lr)
    resumed = run_center(config, tmp_path / "b", resume=True, progress=False)

    assert resumed["final_val_loss"] == unbroken["final_val_loss"]
    a, b = (RunFolder(tmp_path / r).load_checkpoint()["state"]["model"] for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)

    def losses(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [(r["iter"], r["train_loss"], r["val_loss"]) for r in map(json.loads, lines)]

    assert losses("b") == losses("a")


def curve(run_dir) -> list[tuple[int, float, float]]:
    rows = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [(r["iter"], r["train_loss"], r["val_loss"]) for r in rows]


@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler")
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # inductor's import
def test_a_compiled_run_trains_like_the_eager_one(tmp_path, tiny_center_config):
    # ~20 s on 2 busy CPU cores with a cold inductor cache, almost all of it compilation
    eager = run_center(tiny_center_config(), tmp_path / "eager", progress=False)
    compiled = run_center(tiny_center_config(compile="on"), tmp_path / "compiled", progress=False)
    assert compiled["compiled"] and not eager["compiled"]  # a 6-step CPU run: auto is eager
    for (i, train, val), (j, train_c, val_c) in zip(
        curve(tmp_path / "eager"), curve(tmp_path / "compiled"), strict=True
    ):
        assert i == j and train_c == pytest.approx(train, rel=1e-3)
        assert val_c == pytest.approx(val, rel=1e-3)
    assert compiled["final_val_loss"] == pytest.approx(eager["final_val_loss"], rel=1e-3)


def test_bfloat16_autocast_trains_on_cpu_close_to_float32(tmp_path, tiny_center_config):
    config = dict(max_iters=20, eval_every=10)
    full = run_center(tiny_center_config(**config), tmp_path / "fp32", progress=False)
    bf16 = run_center(tiny_center_config(dtype="bfloat16", **config), tmp_path / "bf16", False)
    rows, rows_bf16 = curve(tmp_path / "fp32"), curve(tmp_path / "bf16")
    assert all(math.isfinite(loss) for row in rows_bf16 for loss in row[1:])
    assert rows_bf16[-1][1] < rows_bf16[0][1] - 0.05  # it learns
    for (_, train, val), (_, train_b, val_b) in zip(rows, rows_bf16, strict=True):
        assert train_b == pytest.approx(train, rel=1e-2) and val_b == pytest.approx(val, rel=1e-2)
    assert bf16["final_val_loss"] == pytest.approx(full["final_val_loss"], rel=1e-2)


@pytest.mark.parametrize(
    "option, message",
    [
        (["--variant", "wide"], "invalid choice 'wide' for argument '--variant'"),
        (["--centering-mode", "median"], "invalid choice 'median'"),
        (["--center", "qkv"], "invalid choice 'qkv' for argument '--center'"),
        (["--centering-strength", "2"], "centering strength 2.0 must lie in [0, 1]"),
        (["--data-file", "/nowhere/text.txt"], "data file /nowhere/text.txt does not exist"),
        (["--block-size", "5000"], "block_size 5000 needs splits"),
        (["--n-embd", "30", "--n-head", "4"], "n_embd = 30 must be divisible"),
        (["--dtype", "int8"], "invalid choice 'int8' for argument '--dtype'"),
    ],
)
def test_bad_configuration_stops_before_training(tmp_path, text_file, capsys, option, message):
    run = tmp_path / "run"
    argv = ["center", "--preset", "smoke", "--data-file", str(text_file), "--out", str(run)]
    assert cli.main(argv + option) == 2
    assert message in capsys.readouterr().err
    assert not run.exists()


def test_cli_run_then_sample(tmp_path, text_file, capsys):
    run = tmp_path / "run"
    argv = ["center", "--preset", "smoke", "--data-file", str(text_file), "--out", str(run)]
    assert cli.main(argv + ["--max-iters", "3", "--eval-interval", "3"]) == 0
    assert "final val loss" in capsys.readouterr().out
    assert cli.main(["center", "--resume", str(run)]) == 0  # finished: nothing to do
    assert "final val loss" in capsys.readouterr().out
    assert cli.main(["sample", "--run", str(run), "--start", "ROMEO:", "--tokens", "20"]) == 0
    assert capsys.readouterr().out.startswith("ROMEO:")
    first = sample_text(run, "To be", 30, seed=1)
    assert len(first) == 35 and first == sample_text(run, "To be", 30, seed=1)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        sample_text(run, "\u00e9", 5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tokens", "5"], "--run"),  # required
        (["--run", "/nowhere", "--tokens", "many"], "--tokens"),
        (["--run", "/nowhere"], "--run /nowhere: no such folder"),
        (["--run", "/nowhere", "--top-k", "-1"], "--top-k -1 must be >= 0"),
    ],
)
def test_sample_options_are_refused_in_one_line(argv, message):
    with pytest.raises(ConfigError, match=message) as error:
        sample.main(argv)
    assert "\n" not in str(error.value)
