"""The geometry of a centering suite's trained models, over every seed, with CIs.

For each model (every variant x seed) and each of ``PASSAGES`` separate validation passages:
the residual stream after each block, the final embeddings, and the queries and keys of
every layer (per head, then averaged over heads), each described by
:func:`gptlab.analysis.geometry.describe` (mean angle and cosine, effective rank, top-PC
share, mean-direction share) and by the angle widening the brief's own operation would give.
A seed's value is its mean over the passages; the CI is over seeds (the models are the
independent units, the passages only average out which text was read).

Besides the summary, a sample of the raw distributions for the figures: query-key angles of
causal pairs per layer, and pairwise cosines of the last residual stream and the final
embeddings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gptlab.analysis.geometry import (
    before_after_centering,
    describe,
    head_rows,
    layer_vectors,
    pairwise_cosines,
    query_key_angles_degrees,
)
from gptlab.analysis.statistics import mean_ci
from gptlab.config import ConfigError
from gptlab.experiments.centering.data import load_data
from gptlab.experiments.centering.run import load_run
from gptlab.nn import Trace

PASSAGES = 4  # separate validation passages per model
PASSAGE_WINDOWS = 16  # windows of block_size tokens per passage
MAX_VECTORS = 1024  # vectors per set (pairwise measures are quadratic in this)
SAMPLE = 4000  # values per model kept for the distribution figures
TOP_K = 3

Measures = dict[str, dict[str, float]]  # set name -> measure -> value


def trace_measures(trace: Trace) -> Measures:
    """Every measure of every vector set of one traced passage."""
    measures: Measures = {}
    for name, vectors in layer_vectors(trace, MAX_VECTORS).items():
        both = before_after_centering(vectors, TOP_K)
        measures[name] = both["before"] | {"angle_widening": both["angle_widening"]}
    for i, (q, k) in enumerate(zip(trace.queries, trace.keys, strict=True)):
        for kind, tensor in (("q", q), ("k", k)):
            heads = [describe(rows[:MAX_VECTORS], TOP_K) for rows in head_rows(tensor)]
            measures[f"layer{i}.{kind}"] = {
                m: float(np.mean([h[m] for h in heads])) for m in heads[0]
            }
        measures[f"layer{i}.q"]["qk_angle_deg"] = query_key_angles_degrees(q, k).mean().item()
    return measures


def sample_distributions(trace: Trace, seed: int) -> dict[str, np.ndarray]:
    """Raw values for the figures: query-key angles per layer, residual and final cosines."""
    vectors = layer_vectors(trace, MAX_VECTORS)
    last = f"block{len(trace.residual) - 1}"
    pairs = enumerate(zip(trace.queries, trace.keys, strict=True))
    values = {f"layer{i} query-key angle": query_key_angles_degrees(q, k) for i, (q, k) in pairs}
    values[f"{last} residual cosine"] = pairwise_cosines(vectors[last])
    values["final embedding cosine"] = pairwise_cosines(vectors["final"])
    generator = torch.Generator().manual_seed(seed)
    return {
        name: v[torch.randperm(len(v), generator=generator)[:SAMPLE]].numpy()
        for name, v in values.items()
    }


def summarize_over_seeds(per_seed: list[Measures]) -> dict[str, dict[str, dict[str, float]]]:
    """set -> measure -> {mean, low, high, n}: the 95% CI over seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in per_seed[0]:
        out[name] = {}
        for measure in per_seed[0][name]:
            mean, low, high = mean_ci([s[name][measure] for s in per_seed])
            out[name][measure] = {"mean": mean, "low": low, "high": high, "n": len(per_seed)}
    return out


@dataclass
class SuiteGeometry:
    summary: dict[str, Any]  # variant -> set -> measure -> {mean, low, high, n}
    distributions: dict[str, dict[str, np.ndarray]]  # figure panel -> variant -> values
    windows: int  # windows per passage (fewer than PASSAGE_WINDOWS on a short text)


def windows_per_passage(val_tokens: int, block_size: int) -> int:
    windows = min(PASSAGE_WINDOWS, (val_tokens - 1) // (PASSAGES * block_size))
    if windows < 1:
        raise ConfigError(
            f"the validation split ({val_tokens} tokens) is too short for {PASSAGES} "
            f"passages of block_size {block_size}"
        )
    return windows


@torch.no_grad()
def suite_geometry(run_dirs: dict[str, list[Path]]) -> SuiteGeometry:
    """For ``run_dirs[variant]`` (one finished run per seed): the summary with CIs, and the
    pooled distributions ``distributions[figure panel][variant]``."""
    summary: dict[str, Any] = {}
    pooled: dict[str, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    windows = PASSAGE_WINDOWS
    for variant, dirs in run_dirs.items():
        per_seed = []
        for run_dir in dirs:
            model, _, config = load_run(run_dir)
            data = load_data(config)
            block_size = config.model.block_size
            windows = windows_per_passage(len(data.val), block_size)
            passages = data.passages("val", PASSAGES, windows, block_size)
            traces = [model.trace(p) for p in passages]
            each = [trace_measures(t) for t in traces]
            per_seed.append(
                {
                    name: {m: float(np.mean([e[name][m] for e in each])) for m in each[0][name]}
                    for name in each[0]
                }
            )
            for name, values in sample_distributions(traces[0], config.runtime.seed).items():
                pooled[name][variant].append(values)
        summary[variant] = summarize_over_seeds(per_seed)
    distributions = {
        name: {v: np.concatenate(arrays) for v, arrays in by_variant.items()}
        for name, by_variant in pooled.items()
    }
    return SuiteGeometry(summary, distributions, windows)
