"""No leakage, no train/eval mismatch: for every centering mode and placement, in eval mode,
a position sees only its own past, a sequence sees only itself, and batch size is
irrelevant; in train mode the momentum center of a batch never depends on that batch."""

import copy

import pytest
import torch

from gptlab.experiments.centering.variants import PLACEMENTS
from gptlab.nn import CENTERING_MODES, CenteringConfig, Transformer, TransformerConfig

VOCAB, T = 13, 10


def trained_like(mode: str, placement: str) -> Transformer:
    """A small model whose centering state is not trivial: learned centers and strengths
    moved away from their init, the momentum center filled by a few training batches."""
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=VOCAB,
        block_size=T,
        n_layer=2,
        n_head=2,
        n_embd=16,
        centering=CenteringConfig(PLACEMENTS[placement].sites, mode, strength=0.8),
    )
    model = Transformer(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("center", "strength")):
                p.add_(0.5 * torch.randn_like(p))
        model.train()
        for _ in range(3):
            model(torch.randint(0, VOCAB, (4, T)))
    return model.eval()


MODELS = [(m, p) for m in CENTERING_MODES for p in PLACEMENTS]


@pytest.mark.parametrize("mode, placement", MODELS)
def test_future_tokens_never_change_past_logits(mode, placement):
    model = trained_like(mode, placement)
    idx = torch.randint(0, VOCAB, (3, T))
    for t in (1, 4, T - 1):
        changed = idx.clone()
        changed[:, t:] = (changed[:, t:] + 1 + torch.arange(T - t)) % VOCAB
        with torch.no_grad():
            torch.testing.assert_close(model(idx)[0][:, :t], model(changed)[0][:, :t])


@pytest.mark.parametrize("mode, placement", MODELS)
def test_other_rows_of_the_batch_change_nothing(mode, placement):
    model = trained_like(mode, placement)
    idx = torch.randint(0, VOCAB, (4, T))
    changed = idx.clone()
    changed[1:] = torch.randint(0, VOCAB, (3, T))
    with torch.no_grad():
        torch.testing.assert_close(model(idx)[0][0], model(changed)[0][0])


@pytest.mark.parametrize("mode, placement", MODELS)
def test_batch_one_and_batch_n_give_the_same_logits(mode, placement):
    model = trained_like(mode, placement)
    idx = torch.randint(0, VOCAB, (8, T))
    with torch.no_grad():
        together = model(idx)[0]
        alone = torch.cat([model(idx[i : i + 1])[0] for i in range(8)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode, placement", MODELS)
def test_generation_with_batch_one_matches_the_full_forward(mode, placement):
    model = trained_like(mode, placement)
    out = model.generate(
        torch.zeros(1, 1, dtype=torch.long), T - 1, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (1, T)
    # what generation saw at each step is what a single forward pass over the result gives
    with torch.no_grad():
        full = model(out)[0]
        for t in range(1, T):
            torch.testing.assert_close(model(out[:, :t])[0][0, -1], full[0, t - 1])


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_momentum_in_training_centers_a_batch_only_with_earlier_batches(placement):
    model = trained_like("momentum", placement).train()
    twin = copy.deepcopy(model)
    idx = torch.randint(0, VOCAB, (4, T))
    other = idx.clone()
    other[1:] = torch.randint(0, VOCAB, (3, T))
    logits = model(idx)[0]
    # same state, different batch mates: row 0 is unchanged, so the center used for a batch
    # cannot have come from that batch; and it equals the eval-mode output (no mismatch)
    torch.testing.assert_close(twin(other)[0][0], logits[0])
    evaluated = copy.deepcopy(twin)
    evaluated.load_state_dict(model.state_dict())  # both have now seen one more batch
    with torch.no_grad():
        torch.testing.assert_close(evaluated.eval()(idx)[0], evaluated.train()(idx)[0])
