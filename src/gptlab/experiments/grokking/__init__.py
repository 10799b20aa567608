"""The grokking lab. What other code and users import, from one place:

- ``GrokConfig`` (``config.py``: sections task/model/optim/monitor/runtime) and ``PRESETS``;
- ``TASKS``, the task registry (``tasks/``: one module a task);
- ``check_config``, ``run_grok``, ``run_seeds``, ``seed_configs`` (``checks.py``, ``run.py``);
- the model and its training step (``model.py``, ``train.py``), the per-evaluation measures
  (``evaluate.py``), figures and TensorBoard (``render.py``), summaries (``summary.py``);
- subcommands: ``cli.py`` (gptlab grok), ``sweep.py``, ``mechanism.py``, ``claims/`` (the
  brief's claims).
"""

from gptlab.experiments.grokking.checks import check_config, memory_parts
from gptlab.experiments.grokking.config import GrokConfig
from gptlab.experiments.grokking.evaluate import GENERALIZED, MEASURES, MEMORIZED, evaluate
from gptlab.experiments.grokking.model import build_model, transformer_config
from gptlab.experiments.grokking.presets import PRESETS
from gptlab.experiments.grokking.render import save_snapshot
from gptlab.experiments.grokking.run import GrokRun, run_grok, run_seeds, seed_configs
from gptlab.experiments.grokking.summary import summary_line
from gptlab.experiments.grokking.tasks import TASKS, ModularTask
from gptlab.experiments.grokking.train import build_optimizer, steps_per_epoch, train_epoch

__all__ = [
    "GENERALIZED", "MEASURES", "MEMORIZED", "PRESETS", "TASKS", "GrokConfig", "GrokRun",
    "ModularTask", "build_model", "build_optimizer", "check_config", "evaluate",
    "memory_parts", "run_grok", "run_seeds", "save_snapshot", "seed_configs",
    "steps_per_epoch", "summary_line", "train_epoch", "transformer_config",
]  # fmt: skip
