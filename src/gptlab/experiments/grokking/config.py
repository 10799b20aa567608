"""``GrokConfig``: one grokking run's settings, in sections (task, model, optim, monitor,
runtime). Field names are unique across sections, so each has one flat name: ``--lr`` on
the command line, ``lr`` in a sweep's grid (``gptlab.config.flat_value``/``replace_flat``).
Choices are ``Literal`` types: ``--help`` lists them and the parser refuses others."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gptlab.config import nest_flat
from gptlab.experiments.grokking.tasks import ModularTask, TaskConfig

Init = Literal["gpt2", "nanda", "torch"]
Optimizer = Literal["adamw", "adam"]
Decay = Literal["all", "matrices"]
GradFilter = Literal["none", "ema"]
Scheduler = Literal["cosine", "constant"]
TMaxUnit = Literal["epochs", "steps"]


@dataclass
class ModelSection:
    d_model: int = 64
    """width of the residual stream"""
    n_heads: int = 4
    """attention heads"""
    n_layers: int = 1
    """transformer blocks"""
    d_ff: int = 1024
    """hidden width of the ReLU MLP"""
    dropout: float = 0.05
    """dropout probability, in [0, 1)"""
    layer_norm: bool = True
    """LayerNorm before attention, MLP and the output (False: no normalization at all)"""
    # nanda: std 1/sqrt(d_model), unembedding 1/sqrt(vocab); torch: as the reference code of
    # Power et al. 2022 and Grokfast leaves its layers
    init: Init = "gpt2"
    """gpt2 (std 0.02), nanda (Nanda et al. 2023) or torch (PyTorch's: embeddings N(0, 1))"""
    init_scale: float = 1.0
    """multiplies every initial weight after init; Omnigrok's knob (Liu et al., 2022)"""


@dataclass
class OptimSection:
    optimizer: Optimizer = "adamw"
    """adamw (decoupled weight decay) or adam (weight decay as an L2 term in the gradient)"""
    lr: float = 3e-3
    """learning rate (peak, after warmup)"""
    weight_decay: float = 1e-3
    """weight decay: decoupled (adamw) or L2 coefficient (adam)"""
    # matrices: weight matrices and embeddings, not biases and LayerNorm gains, as nanoGPT
    decay: Decay = "all"
    """what weight decay acts on: all (every parameter, as the brief) or matrices (not biases)"""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam (beta1, beta2)"""
    adam_eps: float = 1e-8
    """Adam epsilon: larger values damp the steps when gradients are tiny"""
    warmup_steps: int = 0
    """linear learning-rate warmup over this many optimizer steps"""
    grad_clip: float = 0.0
    """clip the gradient norm to this value before the step; 0 = no clipping"""
    grad_filter: GradFilter = "none"
    """none, or ema: Grokfast's filter, grad += lambda * EMA(grad) (Lee et al., 2024)"""
    grad_filter_alpha: float = 0.98
    """Grokfast: EMA decay of past gradients, in [0, 1)"""
    grad_filter_lambda: float = 2.0
    """Grokfast: how much of the EMA is added to the gradient"""
    batch_size: int = 16
    """training examples per step; 0 = full batch (one step per epoch)"""
    epochs: int = 10000
    """passes over the training set"""
    scheduler: Scheduler = "cosine"
    """cosine (CosineAnnealingLR) or constant"""
    t_max: int = 10000
    """CosineAnnealingLR period, counted in t_max_unit"""
    t_max_unit: TMaxUnit = "epochs"
    """unit of t_max: epochs or steps"""
    eta_min: float = 0.0
    """CosineAnnealingLR's final learning rate, in [0, lr]"""


@dataclass
class MonitorSection:
    eval_every: int = 10
    """evaluate the full train and test sets every N epochs"""
    landscape_every: int = 10
    """compute the loss landscape every N epochs; 0 = never"""
    landscape_span: float = 1.0
    """landscape grid over [-span, span]^2, in filter-normalized units"""
    landscape_resolution: int = 11
    """landscape grid points per side"""
    landscape_examples: int = 128
    """fixed random subset of training examples the landscape is computed on"""
    landscape_seed: int = 0
    """seed of the landscape's two random directions and its subset"""
    landscape_plot_every: int = 1000
    """draw the landscape (PNG and TensorBoard) every N epochs; 0 = never"""
    histogram_every: int = 100
    """weight and gradient histograms in TensorBoard every N epochs; 0 = never"""
    attention_every: int = 1000
    """attention maps (PNG per epoch and TensorBoard) every N epochs; 0 = never"""
    checkpoint_every: int = 100
    """write checkpoint.pt every N epochs (and at the end, or when stopped)"""
    snapshot_every: int = 0
    """save the parameters under snapshots/ every N epochs, for gptlab grok-mechanism"""


@dataclass
class RuntimeSection:
    seed: int = 0
    """seed of the initialization, dropout masks and batch order"""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps"""


@dataclass
class GrokConfig:
    task: TaskConfig = field(default_factory=ModularTask)
    """what is learned: one of the registered tasks (tasks/), chosen by the preset"""
    model: ModelSection = field(default_factory=ModelSection)
    """the transformer and its initialization"""
    optim: OptimSection = field(default_factory=OptimSection)
    """optimizer, batches, schedule, epochs"""
    monitor: MonitorSection = field(default_factory=MonitorSection)
    """evaluations, landscapes, pictures, checkpoints"""
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    """the random seed and the device"""

    @classmethod
    def upgrade(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """A config.json written before the sections (one flat object, modular arithmetic
        the only task) as the sectioned one; a sectioned one as it is."""
        if "task" in raw or not raw:
            return raw
        upgraded = nest_flat(raw, SECTIONS)
        upgraded.setdefault("task", {})["kind"] = ModularTask.kind
        return upgraded


SECTIONS = {
    "task": ModularTask,  # the only task of a flat config.json
    "model": ModelSection,
    "optim": OptimSection,
    "monitor": MonitorSection,
    "runtime": RuntimeSection,
}
