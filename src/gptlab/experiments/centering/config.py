"""``CenterConfig``: a ``gptlab center`` run's settings in sections (data, model, centering,
optim, monitor, runtime), their checks, and what the model and the memory check make of
them. Field names are unique across sections: every field is one flat option
(``--lr 1e-3``, ``--variant qk_centered``)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import tyro

from gptlab.config import ConfigError, check_finite, check_types, flat_value, nest_flat
from gptlab.data.text import check_holdout_fraction
from gptlab.experiments.centering.variants import (
    PLACEMENTS,
    VARIANTS,
    PlacementName,
    VariantName,
    placements,
    placements_at,
    sites_of,
    variant_spec,
)
from gptlab.nn import CenteringConfig, TransformerConfig
from gptlab.nn.centering import CenteringMode
from gptlab.train.compile import CompileChoice
from gptlab.train.memory import FLOAT_BYTES, check_fits, parameter_count
from gptlab.train.reproducibility import pick_device


@dataclass
class DataSection:
    data_file: str = ""
    """a UTF-8 text file to train on ('' = Tiny Shakespeare from data_dir, env or download)"""
    data_dir: str = ""
    """a folder holding tinyshakespeare/input.txt ('' = GPTLAB_DATA_DIR, cache, download)"""
    # for choosing hyperparameters without reading val
    holdout_fraction: float = 0.0
    """share of the train split (its end) never trained on, scored as the holdout loss; 0 = none"""


@dataclass
class ModelSection:
    # the brief's shape: 6 layers, 6 heads, 384 wide, block 256
    n_layer: int = 6
    """transformer blocks"""
    n_head: int = 6
    """attention heads per block"""
    d_model: Annotated[int, tyro.conf.arg(aliases=("--n-embd",))] = 384
    """width of the residual stream (nanoGPT's n_embd)"""
    block_size: int = 256
    """context length in characters"""
    dropout: float = 0.2
    """dropout probability, in [0, 1)"""
    bias: bool = False
    """biases in Linear layers and LayerNorms"""


@dataclass
class CenteringSection:
    # a named variant (variants.py); the fields after it override it when set
    variant: VariantName = "baseline"
    """what is centered, and how; each *_normalized variant is its placement's strength-0 control"""
    center: tuple[PlacementName, ...] | None = None
    """override the variant's placements: center these ('--center' alone: nothing)"""
    centering_mode: CenteringMode | None = None
    """override the variant's mode"""
    centering_strength: float | None = None
    """override the variant's share of the center removed, in [0, 1]; 0 = re-normalize only"""
    centering_momentum: float = 0.99
    """EMA decay of the running center (mode momentum), in [0, 1)"""
    centering_eps: float = 1e-6
    """added to norms before dividing"""


@dataclass
class OptimSection:
    # nanoGPT's recipe
    batch_size: int = 64
    """sequences per process per micro-step"""
    grad_accum: int = 1
    """micro-steps per optimizer step (global batch: batch_size x grad_accum x processes)"""
    max_iters: int = 500
    """optimizer steps to train"""
    lr: Annotated[float, tyro.conf.arg(aliases=("--learning-rate",))] = 1e-3
    """peak learning rate, after warmup"""
    min_lr: float = 1e-4
    """learning rate at the end of the cosine decay, in (0, lr]"""
    warmup_iters: int = 100
    """linear warmup steps"""
    lr_decay_iters: int = 0
    """steps of the cosine decay; 0 = max_iters"""
    weight_decay: float = 0.1
    """AdamW weight decay on weight matrices and embeddings (not biases, gains, temperatures)"""
    beta1: float = 0.9
    """AdamW beta1, in [0, 1)"""
    beta2: float = 0.99
    """AdamW beta2, in [0, 1)"""
    grad_clip: float = 1.0
    """clip the gradient norm to this value; 0 = no clipping"""


@dataclass
class MonitorSection:
    eval_every: Annotated[int, tyro.conf.arg(aliases=("--eval-interval",))] = 100
    """a random-batch loss estimate and a checkpoint every this many iterations"""
    eval_iters: int = 20
    """batches per random-batch loss estimate"""
    final_eval_batch_size: int = 64
    """windows per batch of the final full validation pass"""


@dataclass
class RuntimeSection:
    seed: int = 0
    """seed of the initialization, dropout and batches"""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps"""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """auto: bfloat16 autocast on CUDA, float32 elsewhere"""
    compile: CompileChoice = "auto"
    """torch.compile the model: on, off, or auto (where that makes the run faster)"""
    num_threads: int = 0
    """CPU threads for torch; 0 = torch's default (all cores)"""


# config.json before the sections: the per-placement overrides, now one `center`
OLD_OVERRIDES = {"center_qk": "qk", "center_block": "block", "center_final": "final"}


@dataclass
class CenterConfig:
    data: DataSection = field(default_factory=DataSection)
    """the text"""
    model: ModelSection = field(default_factory=ModelSection)
    """the GPT"""
    centering: CenteringSection = field(default_factory=CenteringSection)
    """what is centered, and how"""
    optim: OptimSection = field(default_factory=OptimSection)
    """AdamW, its schedule and the batches"""
    monitor: MonitorSection = field(default_factory=MonitorSection)
    """the loss estimates and the final evaluation"""
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    """seed, device and speed"""

    @classmethod
    def upgrade(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """A config.json written before the sections (one flat object, with
        center_qk/center_block/center_final) as sections, so old run folders resume; a
        sectioned one as it is. Keys it does not know stay where they are, for ``from_dict``
        to refuse. ``center`` becomes a tuple (JSON holds a list), and ``compile``, once
        true/false, on/off."""
        if any(key in OLD_OVERRIDES or key in FLAT_NAMES for key in raw):
            raw = nest_flat(old_center(dict(raw)), SECTIONS)
        centering = raw.get("centering")
        if isinstance(centering, dict) and isinstance(centering.get("center"), list):
            raw = raw | {"centering": centering | {"center": tuple(centering["center"])}}
        runtime = raw.get("runtime")
        if isinstance(runtime, dict) and isinstance(runtime.get("compile"), bool):
            # before --compile auto: true/false
            raw = raw | {"runtime": runtime | {"compile": "on" if runtime["compile"] else "off"}}
        return raw


SECTIONS = typing.get_type_hints(CenterConfig)  # section name -> its dataclass
FLAT_NAMES = {f.name for section in SECTIONS.values() for f in dataclasses.fields(section)}


def old_center(raw: dict[str, Any]) -> dict[str, Any]:
    """The old per-placement overrides (True adds the placement to the variant's, False
    removes it) as the placements to center, or None where none was set."""
    given = {OLD_OVERRIDES[k]: raw.pop(k) for k in list(raw) if k in OLD_OVERRIDES}
    if any(value not in (None, True, False) for value in given.values()):
        raise ConfigError("center_qk/center_block/center_final must be true, false or null")
    if all(value is None for value in given.values()):
        return raw
    variant = raw.get("variant", "baseline")
    where = set(placements(variant)) if variant in VARIANTS else set()
    where |= {name for name, value in given.items() if value is True}
    where -= {name for name, value in given.items() if value is False}
    return raw | {"center": tuple(name for name in PLACEMENTS if name in where)}


def centering_config(config: CenterConfig) -> CenteringConfig:
    """The variant's centering with the explicit overrides applied on top."""
    c = config.centering
    spec = variant_spec(c.variant)
    where = placements(c.variant) if c.center is None else c.center
    return CenteringConfig(
        sites=sites_of(where),
        mode=c.centering_mode or spec.mode,
        strength=spec.strength if c.centering_strength is None else c.centering_strength,
        eps=c.centering_eps,
        momentum=c.centering_momentum,
    )


def describe_centering(centering: CenteringConfig) -> str:
    """``qk+final (simple, strength 1)``: the placements centered, mode and strength."""
    places = placements_at(centering.sites)
    if not places:
        return "none"
    return f"{'+'.join(places)} ({centering.mode}, strength {centering.strength:g})"


def model_config(config: CenterConfig, vocab_size: int) -> TransformerConfig:
    m = config.model
    return TransformerConfig(
        vocab_size=vocab_size,
        block_size=m.block_size,
        n_layer=m.n_layer,
        n_head=m.n_head,
        n_embd=m.d_model,
        dropout=m.dropout,
        bias=m.bias,
        activation="gelu",
        layer_norm=True,
        pos_encoding="learned",
        tie_weights=True,
        centering=centering_config(config),
    )


AT_LEAST_ONE = (
    "batch_size",
    "grad_accum",
    "max_iters",
    "eval_every",
    "eval_iters",
    "final_eval_batch_size",
)


def check_config(config: CenterConfig) -> None:
    """A ConfigError for anything wrong with ``config`` that needs no data: types,
    ranges, the model's own checks, and whether it fits in the device's memory."""
    check_types(config, CenterConfig)
    check_finite(config)
    for name in AT_LEAST_ONE:
        if flat_value(config, name) < 1:
            raise ConfigError(f"{name} = {flat_value(config, name)} must be >= 1")
    o = config.optim
    if o.warmup_iters < 0 or o.lr_decay_iters < 0:
        raise ConfigError("warmup_iters and lr_decay_iters must be >= 0")
    if not 0 < o.min_lr <= o.lr:
        raise ConfigError(f"need 0 < min_lr ({o.min_lr}) <= lr ({o.lr})")
    for name in ("weight_decay", "grad_clip"):
        if getattr(o, name) < 0:
            raise ConfigError(f"{name} = {getattr(o, name)} must be >= 0")
    for name in ("beta1", "beta2"):
        if not 0 <= getattr(o, name) < 1:
            raise ConfigError(f"{name} = {getattr(o, name)} must lie in [0, 1)")
    check_holdout_fraction(config.data.holdout_fraction)
    if config.runtime.num_threads < 0:
        raise ConfigError(f"num_threads = {config.runtime.num_threads} must be >= 0")
    try:  # the model's and the machine's checks of these settings
        model_config(config, vocab_size=1)
        check_fits(memory_parts(config), pick_device(config.runtime.device))
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(str(error)) from None


ASSUMED_VOCAB = 256  # characters: Tiny Shakespeare has 65; the text is not read yet


def memory_parts(config: CenterConfig, vocab_size: int = ASSUMED_VOCAB) -> dict[str, float]:
    """An upper-end estimate, in bytes, of what one process holds at once: parameters with
    gradient and AdamW's two moments, one micro-batch's activations (attention
    probabilities included), and one batch of the final evaluation."""
    params = parameter_count(model_config(config, vocab_size))
    m = config.model
    d, t, heads = m.d_model, m.block_size, m.n_head
    per_token = m.n_layer * (16 * d + 3 * heads * t) + 3 * vocab_size
    final_batch = config.monitor.final_eval_batch_size
    return {
        "the parameters (d_model, n_layer)": FLOAT_BYTES * 4 * params,
        "one step's activations (batch_size, block_size, d_model)": FLOAT_BYTES
        * config.optim.batch_size
        * t
        * per_token,
        "the final evaluation (final_eval_batch_size)": FLOAT_BYTES
        * final_batch
        * t
        * (2 * vocab_size + 16 * d),
    }
