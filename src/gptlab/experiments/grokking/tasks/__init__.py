"""The grokking lab's tasks, one module each; a new task is its module and one entry in
``TASKS`` (see docs/design.md, "How to add a task")."""

from __future__ import annotations

from typing import Union

from gptlab.experiments.grokking.tasks.base import Split, Task
from gptlab.experiments.grokking.tasks.modular import ModularTask
from gptlab.experiments.grokking.tasks.sparse_parity import SparseParityTask

TASKS: dict[str, type] = {task.kind: task for task in (ModularTask, SparseParityTask)}

# the task section of GrokConfig: one of the registered tasks (config.json names it by kind)
TaskConfig = Union[tuple(TASKS.values())]  # noqa: UP007 (built from the registry)

__all__ = ["TASKS", "ModularTask", "SparseParityTask", "Split", "Task", "TaskConfig"]
