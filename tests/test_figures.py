"""docs/make_figures.py: the figures the README and docs/ show come from one command, and
each one is a real PNG under 200 KB (quick mode here: every experiment cut to seconds)."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def load_script():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_mode_writes_every_figure(tmp_path, text_file, capsys):
    script = load_script()
    out = tmp_path / "figures"
    argv = ["--quick", "--out", str(out), "--runs", str(tmp_path / "runs")]
    assert script.main([*argv, "--data-file", str(text_file)]) == 0
    for name in script.FIGURES:
        path = out / name
        assert path.read_bytes()[:8] == PNG, name
        assert path.stat().st_size < script.MAX_BYTES, name
    printed = capsys.readouterr().out
    for name in script.FIGURES:  # each figure is printed with the command that made it
        assert re.search(rf"{re.escape(name)}: \d+ KB", printed), name
    assert "gptlab grok --preset grok" in printed and "gptlab grok-sweep" in printed


def test_the_docs_show_only_figures_the_script_makes():
    script = load_script()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    shown = set()
    for page in pages:
        shown |= set(re.findall(r"!\[[^\]]*\]\((?:docs/)?figures/([^)]+\.png)\)", page.read_text()))
    assert shown, "no figure is embedded in the README or docs/"
    assert shown <= set(script.FIGURES), shown - set(script.FIGURES)
    for name in shown:  # committed, and small
        path = ROOT / "docs" / "figures" / name
        assert path.read_bytes()[:8] == PNG, name
        assert path.stat().st_size < script.MAX_BYTES, name
