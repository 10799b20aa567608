"""CenterConfig: sections with one flat name per field, the checks of a config, and old
flat config.json files upgraded so that run folders from before the sections resume."""

import json

import pytest
import torch

from gptlab import cli
from gptlab.config import ConfigError, flat_names, from_dict, replace_flat, to_dict
from gptlab.experiments.centering import run as center
from gptlab.experiments.centering.config import CenterConfig, check_config
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.train.run_folder import RunFolder

# config.json as the code before the sections wrote it (the cpu preset's baseline run)
OLD_CPU_BASELINE = {
    "variant": "baseline",
    "centering_mode": None,
    "center_qk": None,
    "center_block": None,
    "center_final": None,
    "centering_strength": None,
    "centering_momentum": 0.99,
    "centering_eps": 1e-06,
    "data_file": "",
    "data_dir": "",
    "holdout_fraction": 0.0,
    "n_layer": 4,
    "n_head": 4,
    "d_model": 128,
    "block_size": 64,
    "dropout": 0.0,
    "bias": False,
    "batch_size": 12,
    "grad_accum": 1,
    "max_iters": 2000,
    "lr": 0.001,
    "min_lr": 0.0001,
    "warmup_iters": 100,
    "lr_decay_iters": 0,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.99,
    "grad_clip": 1.0,
    "eval_every": 250,
    "eval_iters": 20,
    "final_eval_batch_size": 64,
    "seed": 0,
    "device": "auto",
    "dtype": "auto",
    "compile": False,
    "num_threads": 0,
}


def test_every_field_has_one_flat_name():
    names = flat_names(CenterConfig)
    assert len(names) == len(set(names))
    assert {"lr", "variant", "center", "seed", "data_file", "eval_every"} <= set(names)


def test_an_old_flat_config_reads_as_the_same_run():
    # compile was true/false before --compile auto
    assert from_dict(CenterConfig, OLD_CPU_BASELINE) == replace_flat(PRESETS["cpu"], compile="off")
    sectioned = to_dict(PRESETS["cpu"])
    assert from_dict(CenterConfig, json.loads(json.dumps(sectioned))) == PRESETS["cpu"]


@pytest.mark.parametrize(
    "variant, overrides, center",
    [
        ("custom", dict(center_qk=True, center_final=True), ("qk", "final")),
        ("qk_centered", dict(center_block=True), ("qk", "block")),
        ("full_centered", dict(center_qk=False), ("final",)),
        ("qk_centered", dict(center_qk=False), ()),
        ("qk_centered", dict(center_qk=None), None),
    ],
)
def test_the_old_per_placement_overrides_become_one_center(variant, overrides, center):
    old = OLD_CPU_BASELINE | {"variant": variant} | overrides
    assert from_dict(CenterConfig, old).centering.center == center


def test_an_unknown_old_field_or_an_other_labs_config_is_refused():
    with pytest.raises(ConfigError, match=r"unknown CenterConfig field\(s\): \['epochs'\]"):
        from_dict(CenterConfig, OLD_CPU_BASELINE | {"epochs": 3})
    with pytest.raises(ConfigError, match="center_qk/center_block/center_final"):
        from_dict(CenterConfig, OLD_CPU_BASELINE | {"center_qk": "yes"})


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(d_model=30, n_head=4), "n_embd = 30 must be divisible"),  # the model's check
        (dict(centering_strength=1.5), "strength 1.5 must lie in [0, 1]"),
        (dict(holdout_fraction=0.7), "holdout_fraction = 0.7"),
        (dict(variant="wide"), "variant = 'wide' is not one of baseline"),
        (dict(max_iters=0), "max_iters = 0 must be >= 1"),
        (dict(device="banana"), "'banana'"),
    ],
)
def test_bad_settings_are_config_errors(fields, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        check_config(replace_flat(PRESETS["smoke"], **fields))


def flatten(config: dict) -> dict:
    """A sectioned config dict in the layout before the sections."""
    flat = {k: v for section in config.values() for k, v in section.items()}
    assert flat.pop("center") is None
    return flat | {"center_qk": None, "center_block": None, "center_final": None}


def test_a_run_folder_from_before_the_sections_resumes_exactly(
    tmp_path, tiny_center_config, monkeypatch
):
    config = tiny_center_config(variant="qk_momentum", dropout=0.1)
    unbroken = run_center(config, tmp_path / "a", progress=False)
    real_lr = center.warmup_cosine_lr

    def crash_at_step_4(step, *args):
        if step == 4:
            raise KeyboardInterrupt
        return real_lr(step, *args)

    monkeypatch.setattr(center, "warmup_cosine_lr", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        run_center(config, tmp_path / "b", progress=False)
    monkeypatch.setattr(center, "warmup_cosine_lr", real_lr)
    folder = RunFolder(tmp_path / "b")  # rewritten as the old code left it
    folder.config_path.write_text(json.dumps(flatten(json.loads(folder.config_path.read_text()))))
    checkpoint = torch.load(folder.checkpoint_path, weights_only=True)
    torch.save(checkpoint | {"config": flatten(checkpoint["config"])}, folder.checkpoint_path)

    assert cli.main(["center", "--resume", str(tmp_path / "b")]) == 0
    resumed = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert resumed["final_val_loss"] == unbroken["final_val_loss"]
    rows = [(tmp_path / r / "metrics.jsonl").read_text().splitlines() for r in "ab"]
    strip = [
        [{k: v for k, v in json.loads(x).items() if k != "tokens_per_sec"} for x in r] for r in rows
    ]
    assert strip[0] == strip[1]
