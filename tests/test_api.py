"""The Python API: the example in docs/api.md runs as written, and a run started from Python
is an ordinary run folder."""

import re
from pathlib import Path

import pytest

from gptlab import CenterConfig, GrokConfig, Run, center, grok, load_run, replace_flat

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_documented_example_runs_as_pasted(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where its tempfile.mkdtemp() goes
    monkeypatch.setattr("tempfile.tempdir", None)
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    names: dict = {}
    exec(compile(code, str(DOC), "exec"), names)  # nothing defined beforehand
    printed = capsys.readouterr().out.split()
    assert printed[0] == "finished"
    assert names["OUT"].parent == tmp_path
    assert (names["OUT"] / "p23" / "summary.json").exists()


def test_load_run_reads_what_the_cli_wrote(tmp_path):
    from gptlab import cli

    out = tmp_path / "run"
    assert cli.main(["grok", "--preset", "smoke", "--epochs", "10", "--out", str(out)]) == 0
    run = load_run(out)
    assert isinstance(run, Run) and isinstance(run.config, GrokConfig)
    assert run.config.optim.epochs == 10 and run.status == "finished"
    assert [r["epoch"] for r in run.metrics] == [5, 10]


def test_center_runs_from_a_config_object(tmp_path, tiny_center_config):
    run = center(tiny_center_config(), out=tmp_path / "c", progress=False)
    assert isinstance(run.config, CenterConfig)
    assert run.summary["final_val_loss"] > 0 and run.metrics[0]["iter"] == 0


def test_errors_are_the_clis_errors(tmp_path):
    with pytest.raises(ValueError, match="lr = -1"):
        grok(replace_flat(GrokConfig(), lr=-1), out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="no config.json"):
        load_run(tmp_path)
