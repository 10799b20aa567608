"""``--help``: every option of every subcommand says what it means, and shows its default."""

import ast
import inspect
import re

import pytest

from gptlab import cli
from gptlab.experiments.centering.run import CenterConfig
from gptlab.experiments.grokking.run import GrokConfig


def help_text(capsys, subcommand: str) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main([subcommand, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("config_cls", [GrokConfig, CenterConfig])
def test_every_config_field_has_its_own_docstring(config_cls):
    """tyro shows a field's docstring as its help; without one it falls back to the comment
    above the field, which for the first field of a section is the section's title."""
    body = ast.parse(inspect.getsource(config_cls)).body[0].body
    undocumented = [
        node.target.id
        for node, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(node, ast.AnnAssign)
        and not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant))
    ]
    assert undocumented == []
    # tyro keeps a docstring's line breaks in --help: one line per field reads as one meaning
    multiline = [
        after.value.value
        for node, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(node, ast.AnnAssign) and "\n" in after.value.value
    ]
    assert multiline == []


@pytest.mark.parametrize("subcommand, config_cls", [("grok", GrokConfig), ("center", CenterConfig)])
def test_config_fields_show_their_docstring_and_default(capsys, subcommand, config_cls):
    text = help_text(capsys, subcommand)
    for field in ("lr", "seed", "dropout"):
        flag = f"--{field.replace('_', '-')}"
        block = text[text.index(flag) :].split("│ --")[0]
        assert "(default:" in block
        words = re.sub(r"\(default:.*", "", block, flags=re.S).split()
        assert len(words) > 3, f"{subcommand} {flag} has no help: {block!r}"


@pytest.mark.parametrize("subcommand", ["center-suite", "sample"])
def test_every_option_of_the_other_subcommands_has_help(capsys, subcommand):
    text = help_text(capsys, subcommand)
    options = text[text.index("options:") :]
    entries = re.split(r"\n  (?=-)", options)[1:]
    for entry in entries:
        flag, _, rest = entry.strip().partition("  ")
        assert rest.strip(), f"gptlab {subcommand} {flag.split()[0]}: no help text"


def help_entries(text: str) -> list[tuple[str, str]]:
    """Each argument a tyro ``--help`` lists (as printed to a pipe): its flag or positional
    name, and its help without tyro's own notes ``(default: ...)``, ``(required)``,
    ``(repeatable)``."""
    entries: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"  \S", line):  # an argument starts two spaces in
            entries.append([line.strip()])
        elif line.startswith("   ") and entries:  # and its help continues further in
            entries[-1].append(line.strip())
    flags_and_help = []
    for entry in entries:
        flag, *first = re.split(r"\s{2,}", entry[0], maxsplit=1)
        words = " ".join([*first, *entry[1:]])
        words = re.sub(r"\((default: [^)]*|required|repeatable)\)", "", words)
        flags_and_help.append((flag, words.strip()))
    return flags_and_help


@pytest.mark.parametrize("subcommand", ["grok-sweep", "grok-mechanism", "grok-claims"])
def test_every_option_of_the_subcommands_parsed_by_parse_options_has_help(capsys, subcommand):
    entries = help_entries(help_text(capsys, subcommand))
    assert len(entries) > 2
    for flag, help_ in entries:
        assert help_, f"gptlab {subcommand} {flag}: no help text"
