"""``--compile auto|on|off``: the rule that decides, and how a run records it."""

import pytest
import torch

from gptlab.config import ConfigError, from_dict, replace_flat, to_dict
from gptlab.experiments.centering.cli import CenterCommand
from gptlab.experiments.centering.config import CenterConfig, check_config
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.options import parse_run_request
from gptlab.train.compile import (
    MAX_CPU_WIDTH,
    MIN_CPU_ITERATIONS,
    MIN_CUDA_ITERATIONS,
    compile_decision,
)

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.mark.parametrize(
    "choice, device, width, iterations, compiled",
    [
        ("on", CPU, 384, 10, True),  # told: whatever it costs
        ("off", CUDA, 128, 10**6, False),
        ("auto", CPU, 128, 2000, False),  # the cpu preset: 23 s of compiling saves less
        ("auto", CPU, 384, 500, False),  # the brief's shape: no faster compiled
        ("auto", CPU, MAX_CPU_WIDTH, MIN_CPU_ITERATIONS, True),  # long and narrow
        ("auto", CPU, MAX_CPU_WIDTH + 1, 10 * MIN_CPU_ITERATIONS, False),
        ("auto", CUDA, 384, MIN_CUDA_ITERATIONS, True),
        ("auto", CUDA, 384, MIN_CUDA_ITERATIONS - 1, False),
        ("auto", MPS, 128, 10**6, False),
    ],
)
def test_auto_compiles_only_where_it_pays(choice, device, width, iterations, compiled):
    decided, reason = compile_decision(choice, device, width, iterations)
    assert decided is compiled
    assert reason.startswith("auto:" if choice == "auto" else f"--compile {choice}")


def test_compile_is_auto_by_default_and_takes_only_its_three_values():
    assert PRESETS["cpu"].runtime.compile == "auto"
    request = parse_run_request(
        ["--preset", "smoke", "--compile", "on"], "gptlab center", CenterCommand, PRESETS, "brief"
    )
    assert request.config.runtime.compile == "on"
    with pytest.raises(ConfigError, match="invalid choice 'True' for argument '--compile'"):
        parse_run_request(["--compile", "True"], "gptlab center", CenterCommand, PRESETS, "brief")
    with pytest.raises(ConfigError, match="compile"):
        check_config(replace_flat(PRESETS["smoke"], compile="yes"))


@pytest.mark.parametrize("old, new", [(True, "on"), (False, "off")])
def test_a_sectioned_config_from_before_auto_reads_its_compile_as_on_or_off(old, new):
    raw = to_dict(PRESETS["cpu"])
    raw["runtime"]["compile"] = old
    assert from_dict(CenterConfig, raw) == replace_flat(PRESETS["cpu"], compile=new)


def test_each_compiled_run_starts_dynamo_afresh(monkeypatch, tmp_path, tiny_center_config):
    # a suite's worker runs many models: past 8 compiles of one function dynamo would run
    # the rest eager without a word, so every compiled run resets it first
    calls = []
    monkeypatch.setattr(torch._dynamo, "reset", lambda: calls.append("reset"))
    monkeypatch.setattr(torch, "compile", lambda model: calls.append("compile") or model)
    summary = run_center(tiny_center_config(compile="on"), tmp_path / "on", progress=False)
    assert calls == ["reset", "compile"] and summary["compiled"]
    assert summary["compile_reason"] == "--compile on"
    run_center(tiny_center_config(compile="off"), tmp_path / "off", progress=False)
    assert calls == ["reset", "compile"]  # an eager run leaves dynamo alone
