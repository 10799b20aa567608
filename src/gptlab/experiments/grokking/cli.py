"""``gptlab grok``: train a small transformer on a grokking task and watch it grok.

A run composes the pieces: the task's seeded split (``tasks/``), the shared
:class:`Transformer` (``model.py``), AdamW (or Adam) and its schedule (``train.py``), an
evaluation of the full train and test sets every ``eval_every`` epochs (``evaluate.py``),
a loss landscape every ``landscape_every`` epochs, TensorBoard and PNG plots
(``render.py``), and a checkpoint from which ``--resume`` continues exactly (``run.py``).
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import tyro

from gptlab.config import ConfigError, flat_value, to_dict
from gptlab.experiments.grokking.checks import check_config
from gptlab.experiments.grokking.config import GrokConfig
from gptlab.experiments.grokking.presets import PRESETS
from gptlab.experiments.grokking.run import run_grok, run_seeds, seed_configs
from gptlab.experiments.grokking.summary import summary_line
from gptlab.experiments.options import RunOptions, RunRequest, parse_run_request
from gptlab.train.lifecycle import EXIT_STOPPED, RunEnded
from gptlab.train.run_folder import RunFolder, read_json_object, write_json

DESCRIPTION = (
    "Train a transformer on a grokking task and watch it grok. The task comes with the\n"
    "preset (modular arithmetic unless the preset says otherwise); the config options are\n"
    "that task's and the run's.\n"
    "How long, on a 2-core CPU (2026-12-01 and -02): --preset grok about 1 min; --preset fast\n"
    "about 30 s; --preset nanda about 36 min; --preset brief about 16 min\n"
    "(see docs/grokking.md)."
)


@dataclass
class GrokCommand(RunOptions):
    seeds: int = 1
    """K seeds (seed+i, split_seed+i), one folder each under --out"""
    # a flag without a value, as before the options were a dataclass
    batched: tyro.conf.UseCounterAction[int] = 0
    """train the K seeds as one model with a leading model axis"""
    config: GrokConfig = field(default_factory=lambda: PRESETS["grok"])
    """the run's config, --preset's values changed by these options"""


# The `grok` preset's recipe (what its measured p 23 table in docs/grokking.md varied only
# the data of) and the fewest training pairs with which it generalized there in 5/5 seeds.
RECIPE_FIELDS = (
    "d_model", "n_heads", "n_layers", "d_ff", "dropout", "layer_norm", "init", "init_scale",
    "optimizer", "lr", "weight_decay", "batch_size", "scheduler",
)  # fmt: skip
GROK_RECIPE_MIN_PAIRS = 370  # p 23: 0/5 seeds at 40-55% of the pairs, 2/5 at 60%, 5/5 at 70%


def expected_failure_note(c: GrokConfig) -> str | None:
    """A one-line warning for a run set up where our measurements say it will not
    generalize, naming the setting that does; None where we know of no such measurement."""
    grok = PRESETS["grok"]
    if c.task.kind != grok.task.kind:
        return None
    same_recipe = all(flat_value(c, f) == flat_value(grok, f) for f in RECIPE_FIELDS)
    n_train = c.task.train_count()
    if not same_recipe or n_train >= GROK_RECIPE_MIN_PAIRS:
        return None
    enough = math.ceil(GROK_RECIPE_MIN_PAIRS / c.task.example_count() * 100) / 100
    advice = f"--train-fraction {enough:g}" if enough < 1 else "a larger --p"
    return (
        f"note: {n_train} training pairs; with this recipe runs with fewer than "
        f"{GROK_RECIPE_MIN_PAIRS} did not generalize stably here (p 23: 0/5 seeds at 40-55% "
        f"of the pairs, 5/5 at 70%; docs/grokking.md): try {advice}"
    )


def main(argv: list[str]) -> int:
    request = parse_run_request(argv, "gptlab grok", GrokCommand, PRESETS, "grok", DESCRIPTION)
    seeds, batched = request.options.seeds, bool(request.options.batched)
    if not request.resume:
        check_config(request.config)  # before the note reads the task's sizes
    note = None if request.resume else expected_failure_note(request.config)
    if note:
        print(note, file=sys.stderr)
    if seeds != 1 or batched or (request.run_dir / "seeds.json").exists():
        return main_seeds(request, seeds, batched)
    summary = run_grok(request.config, request.run_dir, resume=request.resume)
    print(summary_line(request.run_dir, summary))
    return 0


def main_seeds(request: RunRequest[GrokConfig], count: int, batched: bool) -> int:
    """``gptlab grok --seeds K [--batched]``; the group folder keeps the base config and
    ``seeds.json``, so ``--resume OUT`` needs no other option."""
    group = RunFolder(request.run_dir)
    if request.resume:
        count, batched = read_seeds_file(group.path / "seeds.json")
    else:
        start_group(group, request.config, count, batched)
    started = time.perf_counter()
    try:
        summaries = run_seeds(request.config, count, group.path, batched, request.resume)
    except RunEnded as ended:  # one seed's hint would resume that seed alone
        if ended.exit_code != EXIT_STOPPED:
            raise
        resume = shlex.join(["gptlab", "grok", "--resume", str(group.path)])
        raise RunEnded(
            f"{str(ended).split(';')[0]}; resume every seed with: {resume}",
            ended.exit_code,
            ended.summaries,
        ) from None
    for config, summary in zip(seed_configs(request.config, count), summaries, strict=True):
        print(summary_line(group.path / f"seed-{config.runtime.seed}", summary))
    print(
        f"{count} seeds ({'batched' if batched else 'one by one'}): "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 0


def start_group(group: RunFolder, config: GrokConfig, count: int, batched: bool) -> None:
    """A new group folder, after every seed's checks: nothing is written for a refused one."""
    group.check_new()
    for c in seed_configs(config, count):
        check_config(c, seeds=count if batched else 1)
    group.create()
    group.write_config(to_dict(config))
    write_json(group.path / "seeds.json", {"seeds": count, "batched": batched})


def read_seeds_file(path: Path) -> tuple[int, bool]:
    """(count, batched) of a multi-seed group folder, checked."""
    if not path.exists():
        raise ConfigError(f"{path.parent} is not a multi-seed run folder: no seeds.json")
    stored = read_json_object(path, "a seed count and whether batched")
    count, batched = stored.get("seeds"), stored.get("batched")
    if set(stored) != {"seeds", "batched"} or not isinstance(batched, bool):
        raise ConfigError(f"{path} must hold exactly {{seeds: integer, batched: true/false}}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"{path}: seeds = {count!r} must be an integer >= 1")
    return count, batched
