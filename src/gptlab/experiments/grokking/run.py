"""``GrokRun``: K >= 1 grokking runs of one configuration trained together, as the run
lifecycle (``gptlab.train.lifecycle``) drives them; and the functions that start them."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from gptlab.analysis.landscape import LandscapeSeries
from gptlab.config import ConfigError, replace_flat, to_dict
from gptlab.experiments.grokking.checks import check_config
from gptlab.experiments.grokking.config import GrokConfig
from gptlab.experiments.grokking.evaluate import evaluate, metrics_keys
from gptlab.experiments.grokking.model import build_model
from gptlab.experiments.grokking.render import (
    due,
    log_histograms,
    log_scalars,
    render_attention,
    render_curves,
    render_landscape,
    render_landscapes_on_one_scale,
    run_title,
    save_landscapes,
    save_snapshot,
)
from gptlab.experiments.grokking.summary import summarize
from gptlab.experiments.grokking.train import build_optimizer, steps_per_epoch, train_epoch
from gptlab.nn.stacked import StackedModels
from gptlab.nn.transformer import Transformer
from gptlab.plots.grokking import plot_attention_evolution
from gptlab.train.checkpoint import Value
from gptlab.train.grad_filter import EmaGradFilter
from gptlab.train.lifecycle import Counters, run_experiment
from gptlab.train.reproducibility import pick_device, rng_state, seed_everything, set_rng_state
from gptlab.train.run_folder import RunFolder

NO_LANDSCAPES: dict[str, list] = {"epochs": [], "losses": []}


class GrokRun:
    """K >= 1 seeds of one configuration trained together, each writing its own folder.

    K = 1 trains the plain :class:`Transformer`; K > 1 a :class:`StackedModels` whose
    weights carry a leading model axis, which gives the same numbers as K separate runs (up
    to float rounding; dropout masks are drawn differently). Every folder's checkpoint is
    that model's own, so any seed of a batched run can be continued alone. Landscapes,
    histograms, snapshots and attention during training need one model at a time: they
    run for K = 1 only; a batched run draws each model's attention at the end.
    """

    command, unit = "grok", "epoch"
    config_type = GrokConfig

    def __init__(self, configs: list[GrokConfig], run_dirs: list[Path]) -> None:
        for c in configs:
            check_config(c, seeds=len(configs))
        check_stackable(configs)
        self.model_configs = configs
        c = self.c = configs[0]
        self.total, self.checkpoint_every = c.optim.epochs, c.monitor.checkpoint_every
        self.folders = [RunFolder(d) for d in run_dirs]
        self.configs = [to_dict(ci) for ci in configs]
        self.metrics_keys = metrics_keys()
        self.is_main = True
        self.postfix: dict[str, str] = {}
        self.device = pick_device(c.runtime.device)
        self.data = [ci.task.build().to(self.device) for ci in configs]
        self.models = []
        for ci in configs:
            seed_everything(ci.runtime.seed)  # a model's initialization is its own run's
            self.models.append(build_model(ci).to(self.device))
        self.stack_models()
        self.shuffles = [torch.Generator().manual_seed(ci.runtime.seed) for ci in configs]
        self.single = len(configs) == 1
        self.landscapes = landscape_series(self.models[0], self.data[0], c) if self.single else None
        self.timers = {"landscape": 0.0, "render": 0.0}
        self.grad_norms = [math.nan] * len(configs)
        self.attention_epochs: list[int] = []  # mean attention maps so far (K = 1)
        self.attention_history: list[np.ndarray] = []

    def stack_models(self) -> None:
        """The trained module over ``self.models``' current weights, and its optimizer."""
        if len(self.models) == 1:
            self.model = self.models[0]
        else:
            self.model = StackedModels(self.models).to(self.device)
        o = self.c.optim
        per_epoch = steps_per_epoch(o, len(self.data[0].train_targets))
        self.optimizer, self.scheduler = build_optimizer(self.model, o, per_epoch)
        self.grad_filter = None
        if o.grad_filter == "ema":
            params = self.model.parameters()
            self.grad_filter = EmaGradFilter(params, o.grad_filter_alpha, o.grad_filter_lambda)

    def model_at(self, k: int) -> Transformer:
        """Model k alone (a copy out of the stack for K > 1)."""
        if self.single:
            return self.model
        with torch.random.fork_rng(devices=[]):  # a throwaway init must not move dropout's RNG
            fresh = build_model(self.c).to(self.device)
        return self.model.unstack(k, fresh)

    def components(self) -> dict[str, Value]:
        """By name, in the order a resume restores them. Each folder's state is its model's
        own (a stack splits and joins it here), so one seed of a batched run can continue
        alone."""
        return {
            "model": Value(self.model_states, self.load_models),
            "optimizer": Value(self.optimizer_states, self.load_optimizer_states),
            "scheduler": self.shared(lambda: self.scheduler),
            "shuffle": Value(
                lambda: [g.get_state() for g in self.shuffles],
                lambda states: [g.set_state(s) for g, s in zip(self.shuffles, states, strict=True)],
            ),
            "rng": self.same_for_all(rng_state, set_rng_state),  # global: dropout masks
            "landscapes": Value(self.landscape_states, self.load_landscapes),
            "attention": self.same_for_all(self.attention_state, self.load_attention),
            "grad_filter": Value(self.filter_states, self.load_filter_states),
            "timers": self.same_for_all(lambda: dict(self.timers), self.set_timers),
        }

    def same_for_all(self, get, put) -> Value:
        """A state every model shares: saved in each folder, restored from the first."""
        return Value(lambda: [get() for _ in self.folders], lambda states: put(states[0]))

    def shared(self, get) -> Value:
        return self.same_for_all(lambda: get().state_dict(), lambda s: get().load_state_dict(s))

    def model_states(self) -> list[dict[str, Any]]:
        return [self.model_at(k).state_dict() for k in range(len(self.folders))]

    def load_models(self, states: list[dict[str, Any]]) -> None:
        for model, state in zip(self.models, states, strict=True):
            model.load_state_dict(state)
        self.stack_models()  # a stack copies its models' weights; a new optimizer follows

    def optimizer_states(self) -> list[dict[str, Any]]:
        optimizer = self.optimizer.state_dict()
        if self.single:
            return [optimizer]
        params = self.optimized_params()
        return [
            self.model.model_optimizer_state(optimizer, k, params) for k in range(len(self.folders))
        ]

    def load_optimizer_states(self, states: list[dict[str, Any]]) -> None:
        optimizer = states[0]
        if not self.single:
            optimizer = self.model.stacked_optimizer_state(states, self.optimized_params())
        self.optimizer.load_state_dict(optimizer)

    def landscape_states(self) -> list[dict[str, Any]]:
        if self.single:
            return [self.landscapes.state()]
        return [NO_LANDSCAPES for _ in self.folders]

    def load_landscapes(self, states: list[dict[str, Any]]) -> None:
        if self.single:
            self.landscapes.load(states[0])

    def attention_state(self) -> dict[str, Any]:
        return {
            "epochs": list(self.attention_epochs),
            "maps": [torch.from_numpy(m) for m in self.attention_history],
        }

    def load_attention(self, state: dict[str, Any]) -> None:
        self.attention_epochs = list(state["epochs"])
        self.attention_history = [m.numpy() for m in state["maps"]]

    def set_timers(self, timers: dict[str, float]) -> None:
        self.timers = dict(timers)

    def optimized_params(self) -> list[torch.nn.Parameter]:
        """The parameters in the order the optimizer numbers its state."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def filter_states(self) -> list[dict[str, Any] | None]:
        """Each model's gradient-filter EMA, laid out as in its own run (a stack stores some
        weights transposed: the optimizer-state helpers know how to split them)."""
        if self.grad_filter is None:
            return [None] * len(self.folders)
        state = self.grad_filter.state_dict()
        if self.single:
            return [state]
        as_optimizer = {"state": {i: {"ema": t} for i, t in state["ema"].items()}}
        states = []
        for k in range(len(self.folders)):
            split = self.model.model_optimizer_state(as_optimizer | {"param_groups": []}, k)
            states.append(state | {"ema": {i: e["ema"] for i, e in split["state"].items()}})
        return states

    def load_filter_states(self, states: list[dict[str, Any] | None]) -> None:
        if self.grad_filter is None:
            return
        state = dict(states[0])
        if not self.single:
            as_optimizer = [
                {"state": {i: {"ema": t} for i, t in s["ema"].items()}, "param_groups": []}
                for s in states
            ]
            joined = self.model.stacked_optimizer_state(as_optimizer)
            state["ema"] = {i: entry["ema"] for i, entry in joined["state"].items()}
        self.grad_filter.load_state_dict(state)

    def train_unit(self, counters: Counters) -> list[float]:
        steps, self.grad_norms = train_epoch(
            self.model,
            self.optimizer,
            self.scheduler,
            self.data,
            self.c.optim,
            self.shuffles,
            self.grad_filter,
        )
        counters.step += steps
        return self.grad_norms

    def due(self, epoch: int, every: int) -> bool:
        return due(epoch, every, self.c.optim.epochs)

    def monitor(self, counters: Counters, writers: list[SummaryWriter]) -> None:
        epoch = counters.unit
        if self.due(epoch, self.c.monitor.eval_every):
            rows = evaluate(self.model, self.data)
            for folder, writer, row, grad_norm in zip(
                self.folders, writers, rows, self.grad_norms, strict=True
            ):
                row = {"epoch": epoch, "step": counters.step, **row, "grad_norm": grad_norm}
                row |= {"lr": self.optimizer.param_groups[0]["lr"], "time_s": counters.wall_s}
                folder.append_metrics(row)
                log_scalars(writer, row)
            self.postfix = {
                "train": f"{np.mean([r['train_acc'] for r in rows]):.3f}",
                "test": f"{np.mean([r['test_acc'] for r in rows]):.3f}",
            }
        if self.single:
            self.monitor_one_model(epoch, writers[0])

    def monitor_one_model(self, epoch: int, writer: SummaryWriter) -> None:
        m, folder, model = self.c.monitor, self.folders[0], self.model
        if self.due(epoch, m.landscape_every):
            grid = self.timed("landscape", self.landscapes.compute, model, epoch)
            writer.add_scalar("landscape/center_loss", grid[len(grid) // 2, len(grid) // 2], epoch)
            writer.add_scalar("landscape/mean_loss", grid.mean(), epoch)
            if self.due(epoch, m.landscape_plot_every):
                self.timed("render", render_landscape, writer, folder, self.landscapes, epoch)
            if self.due(epoch, m.checkpoint_every):
                save_landscapes(folder, self.landscapes)
        if self.due(epoch, m.histogram_every):
            self.timed("render", log_histograms, writer, model, epoch)
        if self.due(epoch, m.attention_every):
            mean = self.timed("render", render_attention, writer, folder, model, self.c, epoch)
            if mean is not None:
                self.attention_epochs.append(epoch)
                self.attention_history.append(mean)
        if self.due(epoch, m.snapshot_every):
            save_snapshot(folder, model, epoch)

    def timed(self, key: str, fn, *args):
        started = time.perf_counter()
        result = fn(*args)
        self.timers[key] += time.perf_counter() - started
        return result

    def render(self, counters: Counters, writers: list[SummaryWriter]) -> None:
        """End-of-run figures per model: curves with spikes and the stable epoch; for a
        single run also the landscapes on one scale and the attention's evolution."""
        for k, (folder, writer) in enumerate(zip(self.folders, writers, strict=True)):
            c, rows = self.model_configs[k], folder.read_metrics()
            if not self.single:
                render_attention(writer, folder, self.model_at(k), c, counters.unit)
            render_curves(folder, c, rows)
        if self.single:
            folder, c, rows = self.folders[0], self.c, self.folders[0].read_metrics()
            if self.landscapes.losses:
                save_landscapes(folder, self.landscapes)
                render_landscapes_on_one_scale(folder, c, self.landscapes, rows)
            if len(self.attention_history) > 1:
                fig = plot_attention_evolution(
                    self.attention_history, self.attention_epochs, title=run_title(c)
                )
                fig.savefig(folder.plots_dir / "attention_evolution.png", dpi=110)

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        summaries = []
        for folder in self.folders:
            summary = summarize(folder.read_metrics(), counters, self.timers)
            summary["num_parameters"] = self.models[0].num_parameters()
            if not self.single:
                summary["batched_seeds"] = len(self.folders)
            summaries.append(summary)
        return summaries

    def agree(self, flag: bool) -> bool:
        return flag


def landscape_series(model: torch.nn.Module, data: Any, c: GrokConfig) -> LandscapeSeries:
    m = c.monitor
    return LandscapeSeries(
        model,
        data.train_inputs,
        data.train_targets,
        m.landscape_span,
        m.landscape_resolution,
        m.landscape_examples,
        m.landscape_seed,
    )


def seed_configs(config: GrokConfig, count: int) -> list[GrokConfig]:
    """Seed i of a multi-seed run: ``seed + i`` for initialization, dropout and batch order,
    ``split_seed + i`` for its train/test split."""
    if count < 1:
        raise ConfigError(f"seeds = {count} must be >= 1")
    return [
        replace_flat(config, seed=config.runtime.seed + i, split_seed=config.task.split_seed + i)
        for i in range(count)
    ]


def check_stackable(configs: list[GrokConfig]) -> None:
    shared = [replace_flat(c, seed=0, split_seed=0) for c in configs]
    if any(s != shared[0] for s in shared):
        raise ConfigError("batched seeds must share every config field but seed and split_seed")


def run_grok(
    config: GrokConfig, run_dir: Path | str, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or continue) the run in ``run_dir``; return its summary."""
    return run_experiment(GrokRun([config], [Path(run_dir)]), resume, progress)[0]


def run_seeds(
    config: GrokConfig,
    count: int,
    out_dir: Path | str,
    batched: bool,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``count`` seeds of ``config`` into ``out_dir/seed-*``, as one stacked model
    (``batched``) or one after another; return their summaries."""
    configs = seed_configs(config, count)
    run_dirs = [Path(out_dir) / f"seed-{c.runtime.seed}" for c in configs]
    if batched:
        return run_experiment(GrokRun(configs, run_dirs), resume, progress)
    return [
        run_experiment(GrokRun([c], [d]), resume and (d / "config.json").exists(), progress)[0]
        for c, d in zip(configs, run_dirs, strict=True)
    ]
