"""The README's copy of the verdict table: written between its markers, and a README whose
markers are missing, repeated or out of order refused before any run."""

import pytest

from gptlab.cli import main as cli
from gptlab.config import ConfigError
from gptlab.experiments.grokking.claims.report import README_BEGIN, README_END, update_readme


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nold table\n{README_END}\noutro\n")
    update_readme(readme, "| new |")
    assert readme.read_text() == f"intro\n{README_BEGIN}\n| new |\n{README_END}\noutro\n"
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ConfigError, match="no grok-claims markers"):
        update_readme(tmp_path / "plain.md", "| new |")


def test_cli_refuses_a_readme_without_markers_before_any_run(tmp_path, capsys):
    (tmp_path / "plain.md").write_text("no markers")
    out = tmp_path / "claims"
    assert cli(["grok-claims", "--out", str(out), "--readme", str(tmp_path / "plain.md")]) == 2
    assert "no grok-claims markers" in capsys.readouterr().err
    for missing in (tmp_path / "absent.md", tmp_path):
        assert cli(["grok-claims", "--out", str(out), "--readme", str(missing)]) == 2
        assert f"--readme {missing}: no such file" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (f"{README_END}\ntable\n{README_BEGIN}\n", "end marker comes before the begin one"),
        (f"{README_BEGIN}\ntable\n", "found the begin marker 1 and the end marker 0 times"),
        (f"table\n{README_END}\n", "found the begin marker 0 and the end marker 1 times"),
        (f"{README_BEGIN}\n{README_BEGIN}\n{README_END}\n", "begin marker 2 and the end marker 1"),
        (f"{README_BEGIN}\n{README_END}\n{README_END}\n", "begin marker 1 and the end marker 2"),
    ],
)
def test_readme_markers_out_of_order_missing_or_repeated_are_refused_up_front(
    tmp_path, capsys, text, message
):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    out = tmp_path / "claims"
    assert cli(["grok-claims", "--out", str(out), "--readme", str(readme)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()
    with pytest.raises(ConfigError, match=message):  # the same check when the table is written
        update_readme(readme, "| new |")
    assert readme.read_text() == text
