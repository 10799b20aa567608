"""Whether ``torch.compile`` makes a whole run faster, compile time included.

``--compile auto`` decides from the device, the model's width and the run's length, by
rules measured with ``benchmarks/run_all.py`` (docs/performance.md):

- CUDA: compiled kernels fuse the many small elementwise operations of these models, and
  a minute of compiling is small against a run of hundreds of steps (nanoGPT compiles by
  default on a GPU); below ``MIN_CUDA_ITERATIONS`` the run stays eager.
- CPU: on the 2-core VM a compiled step of the ``cpu`` preset's model (d_model 128) was
  1.04-1.09x faster than eager, and at the brief's width (384) no faster (slower with
  dropout): most of the step is matrix products that compiling does not change. The first
  compile of a graph took ~23 s, so it pays only for narrow models and runs of more than
  ``MIN_CPU_ITERATIONS``. Later compiles of the same graph (the other seeds of a suite)
  take ~2 s: PyTorch keeps compiled graphs in its on-disk caches (FX graph and AOTAutograd
  caches, on by default, under ``TORCHINDUCTOR_CACHE_DIR``), shared by every process.
- elsewhere (MPS): eager.
"""

from __future__ import annotations

from typing import Literal

import torch

CompileChoice = Literal["auto", "on", "off"]
MIN_CUDA_ITERATIONS = 500
MIN_CPU_ITERATIONS = 10_000  # ~23 s of compiling over ~2.5 ms saved per step
MAX_CPU_WIDTH = 256  # wider, the step is matrix products that compiling does not speed up


def compile_decision(
    choice: CompileChoice, device: torch.device, width: int, iterations: int
) -> tuple[bool, str]:
    """Whether to compile, and why in a few words (shown when the run starts)."""
    if choice != "auto":
        return choice == "on", f"--compile {choice}"
    if device.type == "cuda":
        if iterations >= MIN_CUDA_ITERATIONS:
            return True, f"auto: CUDA, {iterations} iterations"
        return False, f"auto: CUDA, fewer than {MIN_CUDA_ITERATIONS} iterations"
    if device.type == "cpu":
        if width <= MAX_CPU_WIDTH and iterations >= MIN_CPU_ITERATIONS:
            return True, f"auto: CPU, d_model {width}, {iterations} iterations"
        return False, (
            f"auto: CPU, compiling pays only at d_model <= {MAX_CPU_WIDTH} over "
            f">= {MIN_CPU_ITERATIONS} iterations"
        )
    return False, f"auto: eager on {device.type}"
