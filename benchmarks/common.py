"""Timing helpers shared by the benchmark scripts (run on demand, never in the test suite)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], object], device: torch.device, warmup: int = 1, repeats: int = 3
) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls: the fastest of ``repeats``.

    The work is deterministic, so other load on the machine only ever adds time; the minimum
    is the least disturbed measurement (on this VM the same step drifted by 20% over minutes).
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak_flops(
    device: torch.device, sizes: tuple[int, ...] = (1024, 2048, 3072), dtype=torch.float32
) -> float:
    """FLOP/s of the fastest of large square matmuls on ``device``: the peak that MFU is
    measured against, taken in the same process so the ratio means the same on any machine.
    Several sizes, because on this VM one size alone once read 30% below another run's."""
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        seconds = time_call(lambda: a @ b, device, warmup=2, repeats=5)  # noqa: B023
        best = max(best, 2 * n**3 / seconds)
    return best


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
