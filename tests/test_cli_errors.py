"""Bad command lines, every subcommand: exit code 2, one error line naming the bad value or
option, no traceback, nothing written (no run folder), no option read as a prefix of another.

Each case runs in-process through ``gptlab.cli.main``. A case that is wrongly accepted would
start training, so every command carries the smallest budget (``--epochs 1``,
``--max-iters 1``, the ``smoke`` preset, a tiny text file): a failure costs seconds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from gptlab import cli
from gptlab.config import ConfigError, check_finite, from_dict, to_dict
from gptlab.experiments.centering.presets import PRESETS as CENTER_PRESETS
from gptlab.experiments.grokking import PRESETS as GROK_PRESETS
from gptlab.train import reproducibility
from gptlab.train.reproducibility import pick_device

# {out}: the --out folder (must not appear); {file}: a plain file; {text}: a tiny corpus;
# {center_run}/{grok_run}: run folders without checkpoint / snapshots; {empty}: an empty
# folder; {bad_json}, {unknown}, {wrong_type}: folders whose config.json is broken.
GROK = ["grok", "--preset", "smoke", "--epochs", "1", "--out", "{out}"]
CENTER = ["center", "--preset", "smoke", "--data-file", "{text}", "--max-iters", "1"]
CENTER += ["--out", "{out}"]
SWEEP = ["grok-sweep", "--preset", "smoke", "--max-epochs", "1", "--seeds", "1"]
SWEEP += ["--workers", "1", "--out", "{out}"]
SUITE = ["center-suite", "--preset", "smoke", "--data-file", "{text}", "--max-iters", "1"]
SUITE += ["--seeds", "2", "--variants", "baseline", "--quiet", "--out", "{out}"]
CLAIMS = ["grok-claims", "--out", "{out}"]
SAMPLE = ["sample", "--run", "{center_run}", "--tokens", "5"]
MECHANISM = ["grok-mechanism", "{grok_run}"]

CASES = [
    # grok: values
    (GROK + ["--lr", "nan"], "lr = nan"),
    (GROK + ["--lr", "inf"], "lr = inf"),
    (GROK + ["--lr", "-1"], "lr = -1"),
    (GROK + ["--lr", "abc"], "'abc'"),
    (GROK + ["--weight-decay", "-1"], "weight_decay = -1"),
    (GROK + ["--eta-min", "-1"], "eta_min"),
    (GROK + ["--eta-min", "nan"], "eta_min = nan"),
    (GROK + ["--init", "xavier"], "invalid choice 'xavier' for argument '--init'"),
    (GROK + ["--init-scale", "0"], "init_scale = 0"),
    (GROK + ["--adam-eps", "0"], "adam_eps = 0"),
    (GROK + ["--warmup-steps", "-1"], "warmup_steps = -1"),
    (GROK + ["--grad-clip", "-1"], "grad_clip = -1"),
    (GROK + ["--grad-filter", "median"], "invalid choice 'median' for argument '--grad-filter'"),
    (GROK + ["--optimizer", "sgd"], "invalid choice 'sgd' for argument '--optimizer'"),
    (GROK + ["--grad-filter-alpha", "1"], "grad_filter_alpha = 1"),
    (GROK + ["--grad-filter-lambda", "inf"], "grad_filter_lambda = inf"),
    (GROK + ["--decay", "none"], "invalid choice 'none' for argument '--decay'"),
    (GROK + ["--epochs", "0"], "epochs = 0"),
    (GROK + ["--epochs", "1.5"], "'1.5'"),
    (GROK + ["--betas", "0.9", "nan"], "betas = (0.9, nan)"),
    (GROK + ["--train-fraction", "nan"], "train_fraction = nan"),
    (GROK + ["--landscape-span", "inf"], "landscape_span = inf"),
    (GROK + ["--dropout", "1.5"], "dropout = 1.5"),
    (GROK + ["--layer-norm", "maybe"], "'maybe'"),
    (GROK + ["--operation", "pow"], "'pow'"),
    (GROK + ["--scheduler", "step"], "'step'"),
    (GROK + ["--device", "banana"], "'banana'"),
    (GROK + ["--device", "cpu:0"], "'cpu:0'"),
    (GROK + ["--device", "cuda:99"], "'cuda:99'"),
    (GROK + ["--seeds", "0"], "seeds = 0"),
    # grok: options
    (GROK + ["--preset", "nope"], "'nope'"),
    (GROK + ["--nope", "1"], "--nope"),
    (GROK + ["--lear", "1"], "--lear"),  # not --lr, not --learning-rate: no prefixes
    (GROK + ["--see", "3"], "--see"),  # not --seeds: three runs
    (GROK + ["--out", "{file}/x"], "is not a folder"),
    (GROK + ["--out", "{file}"], "is not a folder"),
    (["grok", "--resume", "{out}"], "no such folder"),
    (["grok", "--resume", "{empty}"], "no config.json"),
    (["grok", "--resume", "{bad_json}"], "is not valid JSON"),
    (["grok", "--resume", "{unknown}"], "unknown GrokConfig field"),
    (["grok", "--resume", "{wrong_type}"], "lr = 'fast'"),
    (["grok", "--resume", "{center_run}"], "unknown GrokConfig field"),
    (["grok", "--resume", "{grok_run}", "--lr", "1"], "drop the other options"),
    # center
    (CENTER + ["--learning-rate", "inf"], "lr = inf"),
    (CENTER + ["--learning-rate", "-1"], "lr"),
    (CENTER + ["--min-lr", "nan"], "min_lr = nan"),
    (CENTER + ["--weight-decay", "-1"], "weight_decay"),
    (CENTER + ["--grad-clip", "-1"], "grad_clip"),
    (CENTER + ["--beta1", "1.5"], "beta1"),
    (CENTER + ["--dropout", "1.5"], "dropout = 1.5"),
    (CENTER + ["--variant", "nope"], "'nope'"),
    (CENTER + ["--max-iters", "0"], "max_iters = 0"),
    (CENTER + ["--centering-strength", "2"], "strength 2"),
    (CENTER + ["--dtype", "int8"], "'int8'"),
    (CENTER + ["--device", "banana"], "'banana'"),
    (CENTER + ["--preset", "nope"], "'nope'"),
    (CENTER + ["--epochs", "1"], "--epochs"),  # grok's budget; center counts --max-iters
    (CENTER + ["--learning-r", "1e-3"], "--learning-r"),
    (CENTER + ["--data-file", "{out}/none.txt"], "does not exist"),
    (CENTER + ["--out", "{file}/x"], "is not a folder"),
    (["center", "--resume", "{out}"], "no such folder"),
    (["center", "--resume", "{bad_json}"], "is not valid JSON"),
    (["center", "--resume", "{grok_run}"], "unknown CenterConfig field"),
    # grok-sweep
    (SWEEP + ["--workers", "0"], "--workers 0"),
    (SWEEP + ["--seeds", "0"], "--seeds 0"),
    (SWEEP + ["--max-epochs", "0"], "--max-epochs 0"),
    (SWEEP + ["--threshold", "nan"], "--threshold nan"),
    (SWEEP + ["--threshold", "1.5"], "--threshold 1.5"),
    (SWEEP + ["--grid", "lr"], "expected FIELD=v1,v2"),
    (SWEEP + ["--grid", "learning_rate=1"], "no such GrokConfig field"),
    (SWEEP + ["--grid", "lr=abc"], "'abc'"),
    (SWEEP + ["--grid", "lr=nan"], "lr = nan"),
    (SWEEP + ["--grid", "lr=1,1"], "repeated values"),
    (SWEEP + ["--grid", "seed=1,2"], "--seeds"),
    (SWEEP + ["--grid", "weight_decay=-1"], "weight_decay = -1"),
    (SWEEP + ["--grid", "device=banana"], "'banana'"),
    (SWEEP + ["--grid", "betas=0.9"], "cannot be swept"),
    (SWEEP + ["--max-ep", "1"], "--max-ep"),
    (SWEEP + ["--preset", "nope"], "'nope'"),
    (SWEEP + ["--out", "{file}/x"], "is not a folder"),
    # grok-claims (a wrongly accepted case here would run for half an hour)
    (CLAIMS + ["--workers", "0"], "--workers 0"),
    (CLAIMS + ["--scale", "huge"], "'huge'"),
    (CLAIMS + ["--work", "2"], "--work"),
    (CLAIMS + ["--seeds", "3"], "--seeds"),
    (["grok-claims", "--out", "{file}/x"], "is not a folder"),
    # center-suite
    (SUITE + ["--seeds", "1"], "--seeds 1"),
    (SUITE + ["--seeds", "0"], "--seeds 0"),
    (SUITE + ["--workers", "0"], "--workers 0"),
    (SUITE + ["--first-seed", "-1"], "--first-seed -1"),
    (SUITE + ["--variants", "baseline", "nope"], "'nope'"),
    (SUITE + ["--variants", "qk_centered"], "baseline"),
    (SUITE + ["--seed", "3"], "--seed"),
    (SUITE + ["--see", "3"], "--see"),
    (SUITE + ["--learning-rate", "nan"], "lr = nan"),
    (SUITE + ["--weight-decay", "-1"], "weight_decay"),
    (SUITE + ["--device", "banana"], "'banana'"),
    (SUITE + ["--preset", "nope"], "'nope'"),
    (SUITE + ["--out", "{file}/x"], "is not a folder"),
    # sample
    (["sample", "--run", "{out}"], "no such folder"),
    (["sample", "--run", "{file}"], "not a folder"),
    (["sample", "--run", "{empty}"], "no config.json"),
    (["sample", "--run", "{grok_run}"], "unknown CenterConfig field"),
    (["sample", "--run", "{center_run}"], "no checkpoint.pt"),
    (["sample", "--run", "{broken_checkpoint}"], "checkpoint.pt"),  # truncated
    (SAMPLE + ["--top-k", "-3"], "--top-k -3"),
    (SAMPLE + ["--tokens", "-1"], "--tokens -1"),
    (SAMPLE + ["--temperature", "0"], "--temperature 0"),
    (SAMPLE + ["--temperature", "-1"], "--temperature -1"),
    (SAMPLE + ["--temperature", "nan"], "--temperature nan"),
    (SAMPLE + ["--seed", "-1"], "--seed -1"),
    (SAMPLE + ["--start", ""], "--start"),
    (SAMPLE + ["--device", "banana"], "'banana'"),
    (SAMPLE + ["--tok", "5"], "--tok"),
    (["sample"], "--run"),
    # grok-mechanism
    (["grok-mechanism", "{out}"], "no such folder"),
    (["grok-mechanism", "{empty}"], "no config.json"),
    (["grok-mechanism", "{center_run}"], "unknown GrokConfig field"),
    (["grok-mechanism", "{grok_run}"], "no snapshots"),
    (["grok-mechanism", "{bad_snapshot}"], "not a snapshot"),
    (MECHANISM + ["--lanczos-steps", "0"], "--lanczos-steps 0"),
    (MECHANISM + ["--trace-samples", "0"], "--trace-samples 0"),
    (MECHANISM + ["--resolution", "1"], "--resolution 1"),
    (MECHANISM + ["--lanczos", "5"], "--lanczos"),
    (["grok-mechanism"], "run_dir"),
]


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(text)
    return folder


@pytest.fixture
def places(tmp_path) -> dict[str, str]:
    """The folders and files the cases name, written before the command runs."""
    text = tmp_path / "tiny.txt"
    text.write_text("To be, or not to be, that is the question.\n" * 100)
    (tmp_path / "plain.txt").write_text("a file, not a folder\n")
    (tmp_path / "empty").mkdir()
    center = to_dict(CENTER_PRESETS["smoke"]) | {"data_file": str(text)}
    write_config(tmp_path / "center_run", json.dumps(center))
    write_config(tmp_path / "grok_run", json.dumps(to_dict(GROK_PRESETS["smoke"])))
    write_config(tmp_path / "bad_json", '{"lr": 1e-3,')
    write_config(tmp_path / "unknown", '{"lr": 1e-3, "learning_rat": 1}')
    write_config(tmp_path / "wrong_type", '{"lr": "fast"}')
    broken = write_config(tmp_path / "broken_checkpoint", json.dumps(center))
    (broken / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    snapshot = write_config(tmp_path / "bad_snapshot", json.dumps(to_dict(GROK_PRESETS["smoke"])))
    (snapshot / "snapshots").mkdir()
    (snapshot / "snapshots" / "epoch_000010.pt").write_bytes(b"not a torch file")
    names = ["center_run", "grok_run", "empty", "bad_json", "unknown", "wrong_type"]
    names += ["broken_checkpoint", "bad_snapshot"]
    return {
        "out": str(tmp_path / "out"),
        "file": str(tmp_path / "plain.txt"),
        "text": str(text),
        **{name: str(tmp_path / name) for name in names},
    }


def run(argv: list[str]) -> int:
    """``gptlab ARGV``'s exit code: argparse's own errors exit from inside ``cli.main``."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


def tree(root: Path) -> set[Path]:
    """Every path under ``root`` but the encoded-data cache (conftest's private_cache)."""
    return {p for p in root.rglob("*") if "cache" not in p.relative_to(root).parts}


@pytest.mark.parametrize("argv, message", CASES)
def test_bad_command_line_is_one_clear_error(tmp_path, places, capsys, argv, message):
    argv = [arg.format(**places) for arg in argv]
    before = tree(tmp_path)
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    # one line; argparse's own errors put a usage line (or two) first
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    assert lines[-1].startswith(f"gptlab {argv[0]}: error: "), err
    assert message.format(**places) in lines[-1]
    assert not (tmp_path / "out").exists()
    assert tree(tmp_path) == before, "a refused command wrote to disk"


def test_grok_seed_is_the_config_field_not_a_seed_count(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(GROK[:-1] + [str(out), "--seed", "3", "--eval-every", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["runtime"]["seed"] == 3
    assert not (out / "seeds.json").exists()


def test_unknown_subcommand(capsys):
    assert cli.main(["grock"]) == 2
    assert "unknown subcommand 'grock'" in capsys.readouterr().err


def test_interrupt_is_one_line_and_exit_130(monkeypatch, capsys):
    from gptlab.experiments.centering import sample as sample

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(sample, "main", interrupted)
    assert cli.main(["sample", "--run", "x"]) == 130
    assert capsys.readouterr().err == "gptlab sample: interrupted\n"


def test_multi_line_config_error_is_printed_as_one_line(monkeypatch, capsys):
    from gptlab.experiments.centering import sample as sample

    def refuse(argv):
        raise ConfigError("first\n  second\n")

    monkeypatch.setattr(sample, "main", refuse)
    assert cli.main(["sample"]) == 2
    assert capsys.readouterr().err == "gptlab sample: error: first second\n"


def test_an_unexpected_error_inside_a_run_keeps_its_traceback(monkeypatch):
    """Only a bad setting is a one-line exit 2: a bug must not pass for one."""
    from gptlab.experiments.centering import sample as sample

    def bug(argv):
        raise ValueError("a bug, not a setting")

    monkeypatch.setattr(sample, "main", bug)
    with pytest.raises(ValueError, match="a bug, not a setting"):
        cli.main(["sample"])


@dataclass
class Inner:
    scale: float = 1.0
    steps: int = 3


@dataclass
class Outer:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_check_finite_accepts_finite_numbers():
    check_finite(Outer())


@pytest.mark.parametrize(
    "config, message",
    [
        (Outer(lr=math.nan), "lr = nan must be a finite number"),
        (Outer(lr=-math.inf), "lr = -inf must be a finite number"),
        (Outer(betas=(0.9, math.inf)), "betas = (0.9, inf) must be a finite number"),
        (Outer(inner=Inner(scale=math.nan)), "scale = nan must be a finite number"),
    ],
)
def test_check_finite_names_the_field(config, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_finite(config)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lr": "fast"}, "lr = 'fast' is not a valid float"),
        ({"lr": True}, "lr = True is not a valid float"),
        ({"betas": [0.9]}, r"betas = \(0.9,\) is not a valid tuple\[float, float\]"),
        ({"inner": {"steps": 1.5}}, "steps = 1.5 is not a valid int"),
        ({"nme": "y"}, r"unknown Outer field\(s\): \['nme'\]"),
    ],
)
def test_from_dict_refuses_wrong_types_and_unknown_fields(data, message):
    with pytest.raises(ValueError, match=message):
        from_dict(Outer, data)


def test_from_dict_takes_an_int_for_a_float():
    assert from_dict(Outer, {"lr": 1, "betas": [0.9, 1]}).lr == 1


@pytest.mark.parametrize("device", ["banana", "cpu:0", "cuda:x", "cuda:", "gpu", "", "CPU"])
def test_pick_device_names_the_allowed_forms(device):
    with pytest.raises(ValueError, match=f"device '{device}' is not one of auto, cpu, cuda"):
        pick_device(device)


def test_pick_device_accepts_cpu_and_auto():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cpu", "cuda", "mps")


def test_pick_device_refuses_what_this_machine_lacks(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="'cuda:0' asked for, but CUDA is not available"):
        pick_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="'cuda:2': this machine has 2 CUDA device"):
        pick_device("cuda:2")
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setattr(reproducibility, "mps_available", lambda: False)
    with pytest.raises(ValueError, match="'mps' asked for, but Apple MPS is not available"):
        pick_device("mps")
