"""``--help``: every option of every subcommand says what it means, and shows its default."""

import ast
import inspect
import re

import pytest

from gptlab import cli
from gptlab.config import sections
from gptlab.experiments.centering.config import CenterConfig
from gptlab.experiments.grokking import TASKS, GrokConfig


def help_text(capsys, subcommand: str) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main([subcommand, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def section_classes(config_cls: type) -> list[type]:
    """The config class and the class of every section (every registered task too)."""
    classes = [type(section) for section in sections(config_cls())]
    return classes + [t for t in TASKS.values() if t not in classes] * (config_cls is GrokConfig)


@pytest.mark.parametrize(
    "section_cls",
    [*section_classes(GrokConfig), *section_classes(CenterConfig)],
    ids=lambda cls: cls.__name__,
)
def test_every_config_field_has_its_own_docstring(section_cls):
    """tyro shows a field's docstring as its help; without one it falls back to the comment
    above the field, which for the first field of a section is the section's title."""
    body = ast.parse(inspect.getsource(section_cls)).body[0].body
    undocumented = [
        node.target.id
        for node, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(node, ast.AnnAssign)
        and "ClassVar" not in ast.unparse(node.annotation)
        and not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant))
    ]
    assert undocumented == []
    # tyro keeps a docstring's line breaks in --help: one line per field reads as one meaning
    multiline = [
        after.value.value
        for node, after in zip(body, [*body[1:], None], strict=True)
        if isinstance(node, ast.AnnAssign)
        and isinstance(after, ast.Expr)
        and "\n" in after.value.value
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


def help_entries(text: str) -> list[tuple[str, str]]:
    """Each argument a tyro ``--help`` lists (as printed to a pipe): its flag or positional
    name, and its help without tyro's own notes ``(default: ...)``, ``(required)``,
    ``(repeatable)``."""
    entries: list[list[str]] = []
    lines = text.splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if re.fullmatch(r"\s*-{10,}\s*", after) or re.fullmatch(r"\s*-{10,}\s*", line):
            continue  # a group's title or description, and the rule of dashes under it
        flag_goes_on = entries and entries[-1][0].count("{") > entries[-1][0].count("}")
        if flag_goes_on:  # a list of choices wrapped onto the next line
            entries[-1][0] += line.strip()
        elif re.match(r"  \S", line):  # an argument starts two spaces in
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


@pytest.mark.parametrize(
    "subcommand", ["grok-sweep", "grok-mechanism", "grok-claims", "center-suite", "sample"]
)
def test_every_option_of_the_subcommands_parsed_by_parse_options_has_help(capsys, subcommand):
    entries = help_entries(help_text(capsys, subcommand))
    assert len(entries) > 2
    for flag, help_ in entries:
        assert help_, f"gptlab {subcommand} {flag}: no help text"
