"""Geometry measures: what centering moves by construction, and what it does not."""

import math

import pytest
import torch

from gptlab.analysis.geometry import (
    before_after_centering,
    center_and_normalize,
    effective_rank,
    head_rows,
    layer_vectors,
    mean_direction_share,
    pairwise_angles_degrees,
    pairwise_cosines,
    query_key_angles_degrees,
    top_pc_variance_share,
)
from gptlab.nn import Transformer, TransformerConfig


def anisotropic_cloud(n=400, d=16, offset=4.0) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(n, d) + offset  # a shared offset along (1, ..., 1)


def test_pairwise_cosines_cover_each_pair_once():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    cos = pairwise_cosines(x)
    assert cos.tolist() == pytest.approx([0.0, 1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert pairwise_angles_degrees(x).tolist() == pytest.approx([90.0, 45.0, 45.0], abs=1e-3)


def test_centering_widens_angles_to_about_90_degrees_by_construction():
    report = before_after_centering(anisotropic_cloud())
    assert report["before"]["mean_angle_deg"] < 40
    assert report["after"]["mean_angle_deg"] == pytest.approx(90.0, abs=1.0)
    assert report["angle_widening"] > 2
    assert center_and_normalize(anisotropic_cloud()).norm(dim=1).sub(1).abs().max() < 1e-5


def test_rank_and_pc_measures_ignore_the_offset_that_angles_react_to():
    x = anisotropic_cloud()
    shifted = x + 10.0
    assert effective_rank(shifted) == pytest.approx(effective_rank(x), rel=1e-4)
    assert top_pc_variance_share(shifted, 3) == pytest.approx(top_pc_variance_share(x, 3))
    assert mean_direction_share(shifted) > mean_direction_share(x) > 0.5


def test_effective_rank_and_top_pc_share_on_known_clouds():
    torch.manual_seed(0)
    isotropic = torch.randn(4000, 8)
    assert 7.5 < effective_rank(isotropic) <= 8.0
    plane = torch.randn(500, 2) @ torch.randn(2, 10)  # rank 2 in 10 dimensions
    assert top_pc_variance_share(plane, 2) == pytest.approx(1.0, abs=1e-5)
    line = torch.randn(500, 1) * torch.randn(1, 10)
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-3)


def test_mean_direction_share_bounds():
    same = torch.ones(5, 3)
    assert mean_direction_share(same) == pytest.approx(1.0)
    assert mean_direction_share(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(0.0)


def test_layer_vectors_take_every_block_and_the_final_embeddings():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(vocab_size=7, block_size=6, n_layer=2, n_embd=8))
    trace = model.eval().trace(torch.randint(0, 7, (3, 6)))
    vectors = layer_vectors(trace, max_vectors=10)
    assert list(vectors) == ["block0", "block1", "final"]
    assert all(v.shape == (10, 8) for v in vectors.values())
    assert layer_vectors(trace, 10)["final"].equal(vectors["final"])  # a fixed subset


def test_query_key_angles_cover_exactly_the_causal_pairs():
    B, nh, T, hs = 2, 3, 5, 4
    q, k = torch.randn(B, nh, T, hs), torch.randn(B, nh, T, hs)
    angles = query_key_angles_degrees(q, k)
    assert angles.shape == (B * nh * T * (T + 1) // 2,)
    # query t = 1 sees keys 0 and 1 only: a key at a later position never enters
    later = k.clone()
    later[:, :, 2:] = torch.randn(B, nh, T - 2, hs)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    pair_index = torch.zeros(T, T, dtype=torch.long)
    pair_index[mask] = torch.arange(int(mask.sum()))
    early = pair_index[:2, :2][mask[:2, :2]]
    changed = query_key_angles_degrees(q, later).view(B, nh, -1)
    torch.testing.assert_close(changed[..., early], angles.view(B, nh, -1)[..., early])


def test_query_key_angles_on_known_vectors():
    q = torch.tensor([1.0, 0.0]).expand(1, 1, 2, 2)
    k = torch.tensor([[1.0, 0.0], [0.0, 3.0]]).view(1, 1, 2, 2)
    # pairs (t, s): (0, 0) 0 deg, (1, 0) 0 deg, (1, 1) 90 deg
    assert query_key_angles_degrees(q, k).tolist() == pytest.approx([0.0, 0.0, 90.0], abs=1e-3)


def test_head_rows_split_queries_per_head():
    t = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    rows = head_rows(t)
    assert len(rows) == 3 and rows[1].shape == (8, 5)
    torch.testing.assert_close(rows[1][4], t[1, 1, 0])
