"""Every check of a ``GrokConfig`` before anything is built or written: types and ranges,
what the task and the model would refuse, and whether the runs fit in memory. Costs no
data and no model, so sweeps check every point before their first run."""

from __future__ import annotations

from gptlab.config import ConfigError, check_finite, check_types, flat_value
from gptlab.experiments.grokking.config import GrokConfig
from gptlab.experiments.grokking.evaluate import EVAL_CHUNK
from gptlab.experiments.grokking.model import transformer_config
from gptlab.train.memory import FLOAT_BYTES, check_fits, parameter_count
from gptlab.train.reproducibility import pick_device

AT_LEAST = {
    "d_model": 1,
    "n_heads": 1,
    "n_layers": 1,
    "d_ff": 1,
    "batch_size": 0,
    "epochs": 1,
    "t_max": 1,
    "eval_every": 1,
    "landscape_every": 0,
    "landscape_resolution": 2,
    "landscape_examples": 1,
    "landscape_plot_every": 0,
    "histogram_every": 0,
    "attention_every": 0,
    "checkpoint_every": 1,
    "snapshot_every": 0,
    "warmup_steps": 0,
    "grad_clip": 0,
    "grad_filter_lambda": 0,
}
POSITIVE = ("lr", "init_scale", "adam_eps", "landscape_span")


def check_config(c: GrokConfig, seeds: int = 1) -> None:
    """A ConfigError naming the bad value and what is allowed, for ``seeds`` stacked runs."""
    check_types(c, GrokConfig)
    check_finite(c)
    check_ranges(c)
    c.task.check()
    try:
        transformer_config(c)  # the model's own checks
    except ValueError as error:
        raise ConfigError(str(error)) from None
    check_fits(memory_parts(c, seeds), pick_device(c.runtime.device))


def check_ranges(c: GrokConfig) -> None:
    for name, low in AT_LEAST.items():
        if flat_value(c, name) < low:
            raise ConfigError(f"{name} = {flat_value(c, name)} must be >= {low}")
    for name in POSITIVE:
        if flat_value(c, name) <= 0:
            raise ConfigError(f"{name} = {flat_value(c, name)} must be > 0")
    o, m = c.optim, c.monitor
    if o.weight_decay < 0:
        raise ConfigError(f"weight_decay = {o.weight_decay} must be >= 0")
    if not 0 <= o.eta_min <= o.lr:
        raise ConfigError(f"eta_min = {o.eta_min} must lie in [0, lr = {o.lr}]")
    if not all(0.0 <= b < 1.0 for b in o.betas):
        raise ConfigError(f"betas = {o.betas} must both lie in [0, 1)")
    if not 0 <= o.grad_filter_alpha < 1:
        raise ConfigError(f"grad_filter_alpha = {o.grad_filter_alpha} must lie in [0, 1)")
    if m.landscape_plot_every and (
        not m.landscape_every or m.landscape_plot_every % m.landscape_every
    ):
        raise ConfigError(
            f"landscape_plot_every = {m.landscape_plot_every} must be a multiple of "
            f"landscape_every = {m.landscape_every} (only computed surfaces can be drawn)"
        )


def memory_parts(c: GrokConfig, seeds: int = 1) -> dict[str, float]:
    """An upper-end estimate, in bytes, of what ``seeds`` stacked runs of ``c`` hold at
    once: the task's data, parameters with gradient, Adam's two moments and the gradient
    filter, one step's activations and the landscape history."""
    task, model, monitor = c.task, c.model, c.monitor
    params = parameter_count(transformer_config(c))
    per_token = model.n_layers * (10 * model.d_model + 2 * model.d_ff + 9 * model.n_heads)
    # logits only at the last position, with their gradient
    per_example = task.sequence_length * per_token + 3 * task.vocab_size
    batch = max(c.optim.batch_size or task.train_count(), EVAL_CHUNK)
    parts = {
        f"the data ({task.title()})": task.data_bytes(seeds),
        "the parameters (d_model, d_ff, n_layers)": seeds * FLOAT_BYTES * 5 * params,
        "one step's activations (batch_size, d_model, d_ff)": seeds
        * FLOAT_BYTES
        * batch
        * per_example,
    }
    if monitor.landscape_every:
        surfaces = c.optim.epochs // monitor.landscape_every + 1
        parts["the loss landscapes (landscape_resolution)"] = (
            surfaces * monitor.landscape_resolution**2 * 8
            + monitor.landscape_examples * per_example
        )
    return parts
