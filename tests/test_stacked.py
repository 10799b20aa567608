"""Stacked models: K seeds as one model with a leading seed axis behave exactly like K
separate models."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from gptlab.nn import Transformer, TransformerConfig
from gptlab.nn.centering import CenteringConfig
from gptlab.nn.stacked import StackedModels

CONFIG = TransformerConfig(
    vocab_size=13,
    block_size=3,
    n_layer=1,
    n_head=2,
    n_embd=16,
    activation="relu",
    tie_weights=False,
)


def seeded_models(k: int, config: TransformerConfig = CONFIG) -> list[Transformer]:
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(Transformer(config))
    return models


def test_stacked_forward_equals_each_model_on_its_own_inputs():
    models = seeded_models(3)
    stacked = StackedModels(models).eval()
    x = torch.randint(0, 13, (3, 7, 3))
    expected = torch.stack([m.eval()(x[k])[0] for k, m in enumerate(models)])
    torch.testing.assert_close(stacked(x), expected)


def test_summed_loss_gives_each_seed_exactly_its_own_gradient():
    models = seeded_models(3)
    stacked = StackedModels(models)
    x, y = torch.randint(0, 13, (3, 7, 3)), torch.randint(0, 13, (3, 7))
    logits = stacked(x)[:, :, -1]  # (K, B, vocab)
    per_seed = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(3, 7)
    per_seed.mean(1).sum().backward()
    stacked_grads = {
        n: stacked.model_layout(p, p.grad) for n, p in stacked.model.named_parameters()
    }
    for k, model in enumerate(models):
        model(x[k], y[k])[1].backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(stacked_grads[name][k], p.grad)


def test_unstack_recovers_a_seed_after_training_steps():
    models = seeded_models(2)
    stacked = StackedModels(models)
    opt = torch.optim.AdamW(stacked.parameters(), lr=1e-2)
    x, y = torch.randint(0, 13, (2, 5, 3)), torch.randint(0, 13, (2, 5))
    for _ in range(3):
        opt.zero_grad()
        logits = stacked(x)[:, :, -1]
        F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
        opt.step()
    recovered = stacked.unstack(1, Transformer(CONFIG)).eval()
    torch.testing.assert_close(recovered(x[1])[0], stacked.eval()(x)[1])


def test_a_gpt_with_tied_weights_and_several_blocks_stacks_too():
    gpt = dataclasses.replace(CONFIG, n_layer=2, block_size=8, activation="gelu", tie_weights=True)
    models = seeded_models(2, gpt)
    stacked = StackedModels(models).eval()
    x = torch.randint(0, 13, (2, 4, 8))
    expected = torch.stack([m.eval()(x[k])[0] for k, m in enumerate(models)])
    torch.testing.assert_close(stacked(x), expected)
    # the tie survives: one stacked table, named once, as in each model
    assert len(list(stacked.parameters())) == len(list(models[0].parameters()))
    assert stacked.parameter_dict()["wte.weight"].shape == (2, 13, 16)


def test_optimizer_state_splits_per_seed_and_joins_back():
    models = seeded_models(3)
    stacked = StackedModels(models)
    opt = torch.optim.AdamW(stacked.parameters(), lr=1e-2)
    x, y = torch.randint(0, 13, (3, 5, 3)), torch.randint(0, 13, (3, 5))
    F.cross_entropy(stacked(x)[:, :, -1].flatten(0, 1), y.flatten()).backward()
    opt.step()
    state = opt.state_dict()
    seeds = [stacked.model_optimizer_state(state, k) for k in range(3)]
    # seed 1's moments are shaped like its own model's parameters
    own = [p.shape for p in models[1].parameters()]
    assert [s["exp_avg"].shape for s in seeds[1]["state"].values()] == own
    joined = stacked.stacked_optimizer_state(seeds)
    for i, entries in state["state"].items():
        for name, value in entries.items():
            torch.testing.assert_close(joined["state"][i][name], value)


def test_models_with_per_model_state_outside_the_stacked_layers_are_refused():
    centered = dataclasses.replace(CONFIG, centering=CenteringConfig(sites=("final",)))
    with pytest.raises(ValueError, match="VectorCentering 'final_centering'"):
        StackedModels(seeded_models(2, centered))
