"""The grokking transformer: its shape from the config's task and model sections, and the
initializations the literature uses."""

from __future__ import annotations

import math

import torch

from gptlab.experiments.grokking.config import GrokConfig
from gptlab.nn.transformer import Transformer, TransformerConfig


def transformer_config(c: GrokConfig) -> TransformerConfig:
    m = c.model
    return TransformerConfig(
        vocab_size=c.task.vocab_size,
        block_size=c.task.sequence_length,
        n_layer=m.n_layers,
        n_head=m.n_heads,
        n_embd=m.d_model,
        d_ff=m.d_ff,
        dropout=m.dropout,
        activation="relu",
        layer_norm=m.layer_norm,
        tie_weights=False,  # inputs and answers are different roles of the same tokens
    )


def build_model(c: GrokConfig) -> Transformer:
    """The transformer, initialized as ``init`` says, then every weight multiplied by
    ``init_scale``: the initial weight norm sets how long grokking is delayed (Omnigrok,
    Liu et al., 2022)."""
    m = c.model
    model = Transformer(transformer_config(c))
    with torch.no_grad():
        if m.init == "nanda":
            nanda_init(model, m.d_model, c.task.vocab_size)
        elif m.init == "torch":
            torch_default_init(model)
        if m.init_scale != 1.0:
            for param in model.parameters():
                param.mul_(m.init_scale)
    return model


def nanda_init(model: Transformer, d_model: int, vocab_size: int) -> None:
    """Nanda et al.'s initialization: every weight matrix and embedding N(0, 1/d_model), the
    unembedding N(0, 1/vocab); biases zero, norm gains one. Several times GPT-2's 0.02."""
    for name, param in model.named_parameters():
        if param.dim() < 2:
            continue  # biases were zeroed and gains set to one by the model's own init
        std = 1 / math.sqrt(vocab_size if name == "lm_head.weight" else d_model)
        param.normal_(0.0, std)


def torch_default_init(model: torch.nn.Module) -> None:
    """Each layer's own PyTorch initialization (embeddings N(0, 1), linear layers
    Kaiming-uniform), as the reference grokking code leaves them. The embeddings start ~50x
    larger than GPT-2's, which slows their relative learning rate: a long grokking delay."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.reset_parameters()
