"""``gptlab grok-claims`` end to end: one tiny report with a verdict per row that resumes,
and a Ctrl-C that names the command resuming every claim."""

import json
import os
import shlex
import signal

from claims_data import TINY

from gptlab.cli import main as cli
from gptlab.experiments import grokking as grok
from gptlab.experiments.grokking.claims.report import README_BEGIN, README_END
from gptlab.experiments.grokking.claims.run import run_claims


def test_a_tiny_report_has_a_verdict_per_row_its_figures_and_resumes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_BEGIN}\n{README_END}\n")
    text = run_claims(TINY, tmp_path / "out", workers=1, readme=readme)
    verdicts = [line for line in text.split("## Results")[0].splitlines() if "| **" in line]
    assert len(verdicts) == 7
    assert "0 of 24 runs diverged" in text  # 4 + 6 + 4 + 3 x 2 + 4 runs, all counted
    endings = ("**supported** |", "**contradicted** |", "**inconclusive** |")
    assert all(
        v.endswith(endings) or "**not decided: " in v or "**not testable" in v for v in verdicts
    )
    for figure in (
        "claim1-weight-decay/generalization_curves.png",
        "claim2-model-size/phase_diagram.png",
        "claim3-train-fraction/generalization_curves.png",
        "claim4-sharpness/matched_sharpness.png",
        "claim4-sharpness/matched_sharpness_same_wd.png",
        "claim5-init-scale/phase_diagram.png",
    ):
        assert (tmp_path / "out" / figure).stat().st_size > 5_000, figure
    assert (tmp_path / "out" / "claims.md").read_text() == text
    assert verdicts[0] in readme.read_text()
    # a second call reuses every run and measure: nothing is retrained or re-measured
    summary = tmp_path / "out/claim1-weight-decay/weight_decay=0.0/seed-0/summary.json"
    measure = tmp_path / "out/claim4-sharpness/groks/base/seed-0/phase_sharpness.json"
    stamps = summary.stat().st_mtime_ns, measure.stat().st_mtime_ns
    assert run_claims(TINY, tmp_path / "out", workers=1) == text
    assert (summary.stat().st_mtime_ns, measure.stat().st_mtime_ns) == stamps


def test_ctrl_c_names_the_command_that_resumes_every_claim(tmp_path, monkeypatch, capsys):
    out = tmp_path / "my claims"  # a space: the hint must be shell-quoted
    argv = ["grok-claims", "--workers", "1", "--out", str(out)]
    train_epoch, calls = grok.train_epoch, []

    def ctrl_c_in_epoch_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the first run of the first sweep stops at epoch 3
            os.kill(os.getpid(), signal.SIGINT)
        return train_epoch(*args, **kwargs)

    monkeypatch.setattr(grok.run, "train_epoch", ctrl_c_in_epoch_3)
    assert cli(argv) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    prefix = "gptlab grok-claims: stopped; resume with: "
    assert line.startswith(prefix) and shlex.split(line[len(prefix) :]) == ["gptlab", *argv]
    run = out / "claim1-weight-decay" / "weight_decay=0.0" / "seed-0"
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"
