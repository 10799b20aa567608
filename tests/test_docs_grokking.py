"""docs/grokking.md's tables of tasks, operations, options and choices say what the
registries and the config hold: a new task, operation or field fails here until the docs
name it."""

import dataclasses
import re
import typing
from pathlib import Path

from gptlab.data.modular import OPERATIONS
from gptlab.experiments.grokking import PRESETS, TASKS, GrokConfig

DOC = (Path(__file__).resolve().parents[1] / "docs" / "grokking.md").read_text()


def table(name: str) -> dict[str, str]:
    """The rows of the table between ``<!-- name -->`` markers: first cell -> the rest."""
    block = DOC.split(f"<!-- {name} -->")[1].split(f"<!-- /{name} -->")[0]
    rows = [line.split("|")[1:-1] for line in block.strip().splitlines()[2:]]
    return {row[0].strip().strip("`").split("`")[0]: "|".join(row[1:]) for row in rows}


def words(text: str) -> set[str]:
    return {w for quoted in re.findall(r"`([^`]*)`", text) for w in quoted.split()}


def test_every_task_is_documented_with_its_presets_and_options():
    rows = table("tasks")
    assert set(rows) == set(TASKS)
    for kind, task in TASKS.items():
        presets, options = rows[kind].split("|")
        expected = {name for name, c in PRESETS.items() if c.task.kind == kind}
        assert words(presets) == expected, kind
        assert words(options) == {f.name for f in dataclasses.fields(task)}, kind


def test_every_operation_is_named_in_the_modular_section():
    section = DOC.split("### Modular arithmetic")[1].split("##")[0]
    assert set(OPERATIONS) <= words(section)


def test_every_section_lists_its_fields_and_their_choices():
    rows = table("options")
    sections = {f.name: f.type for f in dataclasses.fields(GrokConfig)}
    assert set(rows) == set(sections)
    hints = typing.get_type_hints(GrokConfig)
    for name, row in rows.items():
        if name == "task":
            continue
        section = hints[name]
        fields = typing.get_type_hints(section)
        choices = {
            str(choice)
            for hint in fields.values()
            if typing.get_origin(hint) is typing.Literal
            for choice in typing.get_args(hint)
        }
        assert words(row) == set(fields) | choices, name
