"""The grokking lab's presets: starting values that ``--preset`` names (its task included:
a preset is how a run picks its task) and every other option overrides."""

from __future__ import annotations

from gptlab.experiments.grokking.config import (
    GrokConfig,
    ModelSection,
    MonitorSection,
    OptimSection,
    RuntimeSection,
)
from gptlab.experiments.grokking.tasks import ModularTask, SparseParityTask

PRESETS = {
    # Exactly the brief: p 97, add, 500 training pairs, 1 layer, 4 heads, d_model 64, d_ff
    # 1024, dropout 0.05, LayerNorm, AdamW lr 3e-3 wd 1e-3, batch 16, cosine T_max 10000.
    "brief": GrokConfig(),
    # Groks, and stays grokked, in seconds on a CPU: p 47, 40% of the pairs, full batch,
    # weight decay 1. With LayerNorm and weight decay the training loss spikes every ~100
    # epochs at a constant lr (Lobacheva et al., 2021: the effective step grows as the
    # decay shrinks the weights); a higher lr that decays along a cosine groks as early and
    # then stops spiking (benchmarks/grok_stability.py, docs/grokking.md).
    "grok": GrokConfig(
        task=ModularTask(p=47, train_size=0, train_fraction=0.4),
        model=ModelSection(d_model=64, d_ff=256, dropout=0.0),
        optim=OptimSection(
            lr=5e-3, weight_decay=1.0, betas=(0.9, 0.98), batch_size=0, epochs=2000,
            scheduler="cosine", t_max=2000, eta_min=3e-4,
        ),
        monitor=MonitorSection(
            eval_every=10, landscape_every=50, landscape_plot_every=500, histogram_every=100,
            attention_every=500, checkpoint_every=100,
        ),
    ),
    # Nanda et al. (2023): p 113, 30% of the pairs, d_model 128, 4 heads, d_ff 512, no
    # LayerNorm, their initialization, AdamW lr 1e-3 (10-step warmup), wd 1, betas (0.9,
    # 0.98), full batch. It memorizes first and generalizes thousands of epochs later.
    "nanda": GrokConfig(
        task=ModularTask(p=113, train_size=0, train_fraction=0.3),
        model=ModelSection(
            d_model=128, n_heads=4, d_ff=512, dropout=0.0, layer_norm=False, init="nanda"
        ),
        optim=OptimSection(
            lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98), warmup_steps=10, batch_size=0,
            epochs=15000, scheduler="constant",
        ),
        monitor=MonitorSection(
            eval_every=50, landscape_every=500, landscape_plot_every=5000,
            histogram_every=1000, attention_every=2500, checkpoint_every=500,
            snapshot_every=500,
        ),
    ),
    # Grokfast (Lee et al., 2024) on p 97: their optimizer, batch, lr warmup and PyTorch's
    # default initialization (embeddings N(0, 1)), their EMA filter (alpha 0.98, lambda 5)
    # with Adam's L2 0.005, as their README runs it. Stable in 5/5 seeds at a median 2200
    # steps; with the filter off it does not learn within 5x that, and with the filter off
    # and the L2 divided by (1 + lambda) it is stable 5.6x later
    # (benchmarks/grokfast_speedup.py).
    "fast": GrokConfig(
        task=ModularTask(p=97, train_size=0, train_fraction=0.5),
        model=ModelSection(d_model=64, d_ff=256, dropout=0.0, init="torch"),
        optim=OptimSection(
            optimizer="adam", lr=1e-3, weight_decay=0.005, betas=(0.9, 0.98),
            warmup_steps=10, grad_filter="ema", grad_filter_alpha=0.98,
            grad_filter_lambda=5.0, batch_size=512, epochs=400, scheduler="constant",
        ),
        monitor=MonitorSection(
            eval_every=10, landscape_every=50, landscape_plot_every=200, histogram_every=100,
            attention_every=200, checkpoint_every=100,
        ),
    ),
    # Sparse parity (Barak et al., 2022): the parity of 4 of 14 bits from 450 fixed training
    # inputs; the grok preset's width with d_ff 1024, weights initialized 2x larger, full
    # batch, weight decay 2, lr 1e-3 on a cosine to 1e-5. It memorizes by epoch ~200 and
    # generalizes for good hundreds of epochs later (docs/grokking.md, "Sparse parity").
    "parity": GrokConfig(
        task=SparseParityTask(n_bits=14, k=4, n_train=450, n_test=1000),
        model=ModelSection(d_model=64, d_ff=1024, dropout=0.0, init_scale=2.0),
        optim=OptimSection(
            lr=1e-3, weight_decay=2.0, betas=(0.9, 0.98), batch_size=0, epochs=1500,
            scheduler="cosine", t_max=1500, eta_min=1e-5,
        ),
        monitor=MonitorSection(
            eval_every=10, landscape_every=50, landscape_plot_every=500, histogram_every=100,
            attention_every=0, checkpoint_every=100,
        ),
    ),
    # Seconds, for tests: a tiny model that groks (test acc >= 0.99 at epochs 700-1000 for
    # most seeds) when run for ~1000 epochs.
    "smoke": GrokConfig(
        task=ModularTask(p=23, train_size=0, train_fraction=0.7),
        model=ModelSection(d_model=32, n_heads=2, d_ff=64, dropout=0.0),
        optim=OptimSection(
            lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98), batch_size=0, epochs=20,
            scheduler="constant",
        ),
        monitor=MonitorSection(
            eval_every=5, landscape_every=10, landscape_resolution=5, landscape_examples=32,
            landscape_plot_every=10, histogram_every=10, attention_every=10,
            checkpoint_every=10,
        ),
        runtime=RuntimeSection(device="cpu"),
    ),
}  # fmt: skip
