"""The shared transformer: shapes, causality, the trace path, config errors."""

import re

import pytest
import torch

from gptlab.nn import SITES, CenteringConfig, Transformer, TransformerConfig, VectorCentering
from gptlab.nn.transformer import SITE_MODULES


def tiny(**overrides) -> Transformer:
    torch.manual_seed(0)
    fields = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    fields.update(overrides)
    return Transformer(TransformerConfig(**fields)).eval()


@pytest.mark.parametrize("pos_encoding", ["learned", "sinusoidal"])
@pytest.mark.parametrize("layer_norm", [True, False])
def test_logits_shape_and_loss_for_sequence_and_last_token_targets(pos_encoding, layer_norm):
    model = tiny(pos_encoding=pos_encoding, layer_norm=layer_norm, activation="relu")
    idx = torch.randint(0, 11, (3, 8))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 8, 11)
    assert loss.ndim == 0 and torch.isfinite(loss)
    _, last_loss = model(idx, idx[:, 0])
    expected = torch.nn.functional.cross_entropy(logits[:, -1], idx[:, 0])
    torch.testing.assert_close(last_loss, expected)


def test_future_tokens_do_not_change_past_logits():
    model = tiny()
    idx = torch.randint(0, 11, (2, 8))
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    torch.testing.assert_close(model(idx)[0][:, :5], model(changed)[0][:, :5])


def test_trace_matches_forward_and_exposes_every_head():
    model = tiny(centering=CenteringConfig(("q", "k", "final")))
    idx = torch.randint(0, 11, (2, 8))
    trace = model.trace(idx)
    torch.testing.assert_close(trace.logits, model(idx)[0], atol=1e-5, rtol=1e-5)
    assert len(trace.attention) == 2
    assert trace.attention[0].shape == (2, 2, 8, 8)
    torch.testing.assert_close(trace.attention[0].sum(-1), torch.ones(2, 2, 8))
    assert torch.all(trace.attention[0].triu(1) == 0)  # nothing attends to the future
    assert trace.final_embedding.shape == (2, 8, 16)


def test_weight_tying_shares_the_embedding_with_the_head():
    model = tiny()
    assert model.wte.weight.data_ptr() == model.lm_head.weight.data_ptr()
    untied = tiny(tie_weights=False)
    assert untied.wte.weight.data_ptr() != untied.lm_head.weight.data_ptr()


def test_sequence_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="exceeds block_size 8"):
        tiny()(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(n_embd=10, n_head=4), "n_embd = 10 must be divisible by n_head = 4"),
        (dict(activation="tanh"), "activation 'tanh'"),
        (dict(pos_encoding="rope"), "pos_encoding 'rope'"),
        (dict(dropout=1.5), "dropout = 1.5"),
    ],
)
def test_bad_config_values_are_named(overrides, message):
    fields = dict(vocab_size=11, block_size=8, n_embd=16, n_head=2) | overrides
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**fields)


def test_generate_appends_tokens_with_batch_one():
    model = tiny()
    start = torch.zeros(1, 1, dtype=torch.long)
    out = model.generate(start, 12, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 13)


def test_generate_samples_in_eval_mode_and_restores_the_callers_mode():
    centering = CenteringConfig(("final",), mode="momentum")
    model = tiny(centering=centering, dropout=0.5)
    start = torch.zeros(1, 3, dtype=torch.long)
    expected = model.generate(start, 6, generator=torch.Generator().manual_seed(0))
    model.train()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    out = model.generate(start, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, expected)  # no dropout in the samples
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())  # center kept
    assert model.training


@pytest.mark.parametrize(
    "centering",
    [CenteringConfig(), CenteringConfig(("q", "k", "v")), CenteringConfig(("block", "final"))],
    ids=["plain", "qkv-centered", "block-final-centered"],
)
@pytest.mark.parametrize("fused", [True, False])
def test_last_only_equals_the_full_forward_at_the_last_position(centering, fused):
    model = tiny(centering=centering, fused_attention=fused)
    idx = torch.randint(0, 11, (4, 7))
    targets = torch.randint(0, 11, (4,))
    full = model(idx)[0]
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 1, 11)
    torch.testing.assert_close(logits, full[:, -1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(idx, last_only=True)[0], logits)
    # and so are the gradients
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(idx)[0][:, -1], targets).backward()
    for skipped, reference in zip(grads, (p.grad for p in model.parameters()), strict=True):
        torch.testing.assert_close(skipped, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("T", [1, 3, 8])
def test_chunked_explicit_attention_equals_the_fused_kernel(T):
    fused = tiny(n_head=4, n_embd=32)
    explicit = tiny(n_head=4, n_embd=32, fused_attention=False)
    idx = torch.randint(0, 11, (3, T))
    torch.testing.assert_close(explicit(idx)[0], fused(idx)[0], atol=1e-5, rtol=1e-5)


def test_dropout_training_takes_the_explicit_path_on_cpu_and_stays_causal():
    model = tiny(dropout=0.3).train()
    idx = torch.randint(0, 11, (2, 8))
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    torch.manual_seed(1)
    a = model(idx)[0]
    torch.manual_seed(1)
    b = model(changed)[0]
    torch.testing.assert_close(a[:, :5], b[:, :5])  # same masks: the past cannot see the future
    assert not torch.equal(a, model(idx)[0])  # new masks: dropout is on


def test_the_last_query_alone_drops_attention_weights_in_training_only():
    attention = tiny(dropout=0.5).blocks[0].attn
    q, k = torch.randn(2, 3, 2, 1, 4), torch.randn(2, 3, 2, 5, 4)
    v = torch.ones(2, 3, 2, 5, 4)  # the output is then the sum of the (dropped) weights
    attention.eval()
    torch.testing.assert_close(
        attention._lone_query_attention(q, k, v, 0.5), torch.ones(2, 3, 2, 1, 4)
    )
    attention.train()
    dropped = attention._lone_query_attention(q, k, v, 0.5)
    assert not torch.allclose(dropped, torch.ones_like(dropped))


def centering_modules(model: Transformer) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, VectorCentering)]


def test_a_site_not_centered_has_no_module_and_changes_nothing():
    plain, idx = tiny(), torch.randint(0, 11, (2, 8))
    assert centering_modules(plain) == []
    assert not plain.blocks[0].attn.learned_temperature
    assert set(SITE_MODULES) == set(SITES)
    values_only = tiny(centering=CenteringConfig(("v",)))
    assert centering_modules(values_only) == [
        "blocks.0.attn.v_centering",
        "blocks.1.attn.v_centering",
    ]
    # values alone keep the usual 1/sqrt(hs) scale: no temperature
    assert not values_only.blocks[0].attn.learned_temperature
    assert values_only.state_dict().keys() - plain.state_dict().keys() == {
        f"blocks.{i}.attn.v_centering.strength" for i in (0, 1)
    }
    assert not torch.allclose(values_only(idx)[0], plain(idx)[0])


@pytest.mark.parametrize("site", SITES)
def test_the_trace_records_what_each_centering_module_was_given(site):
    model = tiny(centering=CenteringConfig((site,)))
    trace = model.trace(torch.randint(0, 11, (2, 8)))
    assert list(trace.centering_inputs) == centering_modules(model)
    for name, x in trace.centering_inputs.items():
        assert re.fullmatch(SITE_MODULES[site], name)
        assert x.shape == ((2, 8, 2, 8) if site in "qkv" else (2, 8, 16))
