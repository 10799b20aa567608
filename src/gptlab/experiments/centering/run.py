"""One ``gptlab center`` run for the lifecycle (``CenterRun``), started or resumed by
``run_center``; ``load_run`` reads a run folder's trained model back.

The final validation loss is one fixed, full, deterministic pass over the validation split;
the random-batch estimates in metrics.jsonl are for watching progress only.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import torch

from gptlab.analysis.centering_stats import centering_statistics
from gptlab.config import ConfigError, from_dict, to_dict
from gptlab.data.text import CharDataset
from gptlab.experiments.centering.config import (
    CenterConfig,
    check_config,
    describe_centering,
    memory_parts,
    model_config,
)
from gptlab.experiments.centering.data import (
    DATA_RECORD,
    TRAIN_BATCHES,
    load_data,
    local_batch,
    run_text,
)
from gptlab.experiments.centering.evaluate import autocast_for, estimate_loss, full_pass_loss
from gptlab.nn import Transformer
from gptlab.train.allocator import keep_freed_memory
from gptlab.train.checkpoint import Value, per_model
from gptlab.train.compile import compile_decision
from gptlab.train.distributed import (
    DistributedContext,
    gather_to_main,
    init_distributed,
    mean_across_processes,
    shutdown_distributed,
)
from gptlab.train.lifecycle import Counters, run_experiment
from gptlab.train.memory import check_fits
from gptlab.train.optim import adamw
from gptlab.train.reproducibility import (
    pick_device,
    rng_state,
    seed_everything,
    set_rank_rng_state,
)
from gptlab.train.run_folder import RunFolder, check_state_shapes
from gptlab.train.schedules import warmup_cosine_lr

STATS_WINDOWS = 8  # validation windows the centering statistics are measured on


def run_center(
    config: CenterConfig, run_dir: Path | str, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train one run into ``run_dir`` (or finish it, with ``resume``); return its summary."""
    check_config(config)
    text = run_text(config, Path(run_dir), resume)
    data = load_data(config, Path(text["path"]))
    device = pick_device(config.runtime.device)
    if device.type == "cpu":
        keep_freed_memory()  # large CPU tensors reused, not refaulted every step
    context = init_distributed(device.type)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
    try:
        run = CenterRun(config, Path(run_dir), data, device, context, text)
        return run_experiment(run, resume, progress)[0]
    finally:
        shutdown_distributed()


class CenterRun:
    """One char-level GPT run for the lifecycle (``gptlab.train.lifecycle``); under
    torchrun every process builds one, and only the main process writes the folder."""

    command, unit = "center", "iter"
    config_type = CenterConfig
    retired_state = ("model_config",)  # the model is built from config.json, checked
    metrics_keys = ("iter", "train_loss", "val_loss")

    def __init__(
        self,
        config: CenterConfig,
        run_dir: Path,
        data: CharDataset,
        device: torch.device,
        context: DistributedContext,
        text: dict[str, str | int],
    ) -> None:
        """``text``: the record of ``data``'s file (``run_text``), written as data.json."""
        self.config, self.data, self.device, self.context = config, data, device, context
        block_size = config.model.block_size
        self.total, self.checkpoint_every = config.optim.max_iters, config.monitor.eval_every
        self.folders, self.configs = [RunFolder(run_dir)], [to_dict(config)]
        self.start_files = {DATA_RECORD: text}
        self.is_main = context.is_main
        self.postfix: dict[str, str] = {}
        if config.runtime.num_threads:
            # on a shared or small CPU, fewer threads than cores can be several times faster
            torch.set_num_threads(config.runtime.num_threads)
        seed_everything(config.runtime.seed + context.rank)  # each process its own dropout masks
        self.model_config = model_config(config, len(data.vocab))
        self.model = Transformer(self.model_config).to(device)
        o = config.optim
        self.optimizer = adamw(self.model, o.lr, o.weight_decay, (o.beta1, o.beta2), device.type)
        self.compiled, self.compile_reason = compile_decision(
            config.runtime.compile, device, config.model.d_model, o.max_iters
        )
        trained = self.model
        if self.compiled:
            # a fresh start for this run's model: after 8 compiles of Transformer.forward in
            # one process (a suite's worker runs many) dynamo would quietly run the rest
            # eager; the on-disk caches keep recompiling a known graph cheap
            torch._dynamo.reset()
            trained = torch.compile(self.model)
        if context.enabled:
            ids = [device.index] if device.type == "cuda" else None
            trained = torch.nn.parallel.DistributedDataParallel(trained, device_ids=ids)
        self.trained = trained
        self.tokens_per_step = o.batch_size * o.grad_accum * block_size * context.world_size
        self.train_time = 0.0  # seconds in training steps alone, summed over resumes
        # the same validation windows at every evaluation, so the statistics compare over time
        self.stats_windows = next(data.full_pass("val", block_size, STATS_WINDOWS))[0].to(device)
        self.interval_time, self.interval_steps, self.lr = 0.0, 0, 0.0

    def components(self) -> dict[str, Value]:
        """By name, in the order a resume restores them: the text's characters first (a
        run must continue on its own text), then the RNG (a different number of processes
        stops the run before anything changes)."""
        return {
            "vocab": Value(lambda: [self.data.vocab.chars], self.check_vocab),
            # one per rank: each process has its own dropout masks; gathered by every rank
            "rng": Value(
                lambda: [gather_to_main(rng_state(), self.context)],
                lambda states: set_rank_rng_state(
                    states[0], self.context.rank, self.context.world_size
                ),
            ),
            "model": per_model(lambda: self.model),
            "optimizer": per_model(lambda: self.optimizer),
            "train_time": Value(lambda: [self.train_time], self.set_train_time),
        }

    def check_vocab(self, states: list[Any]) -> None:
        if states[0] != self.data.vocab.chars:
            raise ConfigError(
                f"{self.folders[0].checkpoint_path} was trained on a text with other "
                f"characters than {self.data.text_file}; restore the run's data"
            )

    def set_train_time(self, states: list[Any]) -> None:
        self.train_time = states[0]

    def train_unit(self, counters: Counters) -> list[float]:
        """One optimizer step over grad_accum micro-batches; its gradient norm."""
        config, context, device = self.config, self.context, self.device
        o = config.optim
        self.lr = warmup_cosine_lr(
            counters.step, o.lr, o.min_lr, o.warmup_iters, o.lr_decay_iters or o.max_iters
        )
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        x, y = local_batch(self.data, "train", config, context, counters.step, TRAIN_BATCHES)
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for micro, (xm, ym) in enumerate(
            zip(x.split(o.batch_size), y.split(o.batch_size), strict=True)
        ):
            # DDP averages gradients across processes only on the last micro-step
            last = micro == o.grad_accum - 1
            sync = contextlib.nullcontext()
            if context.enabled and not last:
                sync = self.trained.no_sync()
            with sync, autocast_for(config, device):
                loss = self.trained(xm.to(device), ym.to(device))[1] / o.grad_accum
            loss.backward()
        # the norm is taken after DDP's all-reduce: every process sees the same number
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip or math.inf)
        self.optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        self.train_time += elapsed
        self.interval_time += elapsed
        self.interval_steps += 1
        counters.step += 1
        return [grad_norm.item()]

    def monitor(self, counters: Counters, writers: list[Any]) -> None:
        """A random-batch loss estimate at iteration 0 and every ``eval_every``."""
        step = counters.unit
        if step % self.checkpoint_every and step != self.total:
            return
        losses = estimate_loss(self.model, self.data, self.config, step, self.device, self.context)
        row = {"iter": step, "train_loss": losses["train"], "val_loss": losses["val"]}
        if step:
            row["lr"] = self.lr
            row["tokens_per_sec"] = self.tokens_per_step * self.interval_steps / self.interval_time
        self.interval_time, self.interval_steps = 0.0, 0
        self.postfix = {"train": f"{losses['train']:.3f}", "val": f"{losses['val']:.3f}"}
        if self.is_main:
            row |= centering_statistics(self.model, self.stats_windows)
            self.folders[0].append_metrics(row)
            for key, value in row.items():
                if key != "iter":
                    writers[0].add_scalar(key, value, step)

    def render(self, counters: Counters, writers: list[Any]) -> None:
        pass  # center-suite draws the comparisons across runs

    def summaries(self, counters: Counters, finished: bool) -> list[dict[str, Any]]:
        config = self.config
        # the result: one fixed full pass over the validation split, for a finished run only
        final = (
            full_pass_loss(self.model, self.data, "val", config, self.device) if finished else None
        )
        summary = {
            "variant": config.centering.variant,
            "centering": describe_centering(self.model_config.centering),
            "seed": config.runtime.seed,
            "iters": counters.unit,
            "final_val_loss": final,
            "final_val_tokens": len(self.data.val) - 1,
            "final_val_perplexity": math.exp(final) if final is not None else None,
            "final_holdout_loss": (
                full_pass_loss(self.model, self.data, "holdout", config, self.device)
                if finished and config.data.holdout_fraction
                else None
            ),
            "tokens_per_sec": self.tokens_per_step * counters.step / max(self.train_time, 1e-9),
            "train_time_s": self.train_time,
            "wall_time_s": counters.wall_s,
            "num_parameters": self.model.num_parameters(),
            "device": str(self.device),
            "world_size": self.context.world_size,
            "compiled": self.compiled,
            "compile_reason": self.compile_reason,
        }
        return [summary]

    def agree(self, flag: bool) -> bool:
        if not self.context.enabled:
            return flag
        return bool(
            mean_across_processes(
                torch.tensor(float(flag), device=self.device), self.context
            ).item()
            > 0
        )


def load_run(run_dir: Path | str, device: str = "cpu") -> tuple[Transformer, str, CenterConfig]:
    """The trained model of a run folder (eval mode), its vocabulary and its config. The
    model is built from the checked config.json and the checkpoint's tensors must fit it
    (checked on the meta device first): a crafted checkpoint cannot make it allocate."""
    folder = RunFolder(run_dir)
    config = from_dict(CenterConfig, folder.read_config())
    check_config(config)
    state = folder.load_checkpoint(map_location="cpu")["state"]
    chars = state.get("vocab") if isinstance(state, dict) else None
    if not isinstance(chars, str) or not chars:
        raise ConfigError(f"{folder.checkpoint_path} has no vocabulary: not a center checkpoint")
    structure = model_config(config, len(chars))
    check_fits(memory_parts(config, len(chars)), pick_device(device))
    with torch.device("meta"):
        expected = Transformer(structure).state_dict()
    check_state_shapes(expected, state.get("model"), folder.checkpoint_path)
    model = Transformer(structure).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), chars, config
