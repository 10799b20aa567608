"""One command for the minutes a GPU is lent: does gptlab's GPU path work, and how fast is it?

    python benchmarks/gpu_check.py            # at most ~8 min on one GPU
    python benchmarks/gpu_check.py --quick    # shorter runs and fewer timing rounds

It prints one table: the CUDA-marked tests (``pytest -m cuda``); short char-level runs in
bfloat16 autocast and compiled against float32 (they must train alike); the brief's shape's
step time and MFU against this GPU's own measured bf16 matmul peak; each centering
variant's overhead per training step; and the wall time those steps predict for
``gptlab center-suite --preset brief``. On a machine without CUDA it says so in one line and
exits 0. The text is Tiny Shakespeare where gptlab finds it (``GPTLAB_DATA_DIR``, the cache),
else this repository's own Markdown: any text shows whether the dtypes train alike.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from centering_throughput import interleaved_seconds, training_step
from common import matmul_peak_flops, print_table

from gptlab.analysis.flops import training_flops_per_token
from gptlab.config import replace_flat
from gptlab.experiments.centering.config import model_config
from gptlab.experiments.centering.presets import PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.centering.variants import VARIANTS

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 65
LOSS_TOLERANCE = 0.03  # final val loss, bf16 or compiled vs float32: same training, other rounding
SUITE_SEEDS = 5


def text_file(folder: Path) -> str:
    """Tiny Shakespeare if gptlab can find it without a network, else the repo's Markdown."""
    from gptlab.data.text import resolve_text_file

    try:
        return str(resolve_text_file())
    except ValueError:
        path = folder / "docs.txt"
        path.write_text("\n".join(p.read_text() for p in sorted(ROOT.rglob("*.md"))))
        return str(path)


def cuda_tests() -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    last = (result.stdout.strip().splitlines() or ["no output"])[-1]
    ok = result.returncode == 0
    return row("CUDA-marked tests", last, "all pass", ok, time.perf_counter() - started)


def row(check: str, value: str, target: str, ok: bool | None, seconds: float) -> dict:
    verdict = "-" if ok is None else ("ok" if ok else "FAILED")
    return {"check": check, "value": value, "target": target, "ok": verdict, "s": seconds}


def dtype_rows(folder: Path, iters: int) -> list[dict]:
    """The cpu preset on CUDA, three ways; each must end where float32 ends."""
    base = replace_flat(
        PRESETS["cpu"],
        device="cuda",
        max_iters=iters,
        eval_every=iters,
        data_file=text_file(folder),
        compile="off",
    )
    ways = {
        "float32": replace_flat(base, dtype="float32"),
        "bfloat16 autocast": replace_flat(base, dtype="bfloat16"),
        "bfloat16 + compile": replace_flat(base, dtype="bfloat16", compile="on"),
    }
    losses, rows = {}, []
    for name, config in ways.items():
        started = time.perf_counter()
        summary = run_center(config, folder / name.replace(" ", "-"), progress=False)
        losses[name] = summary["final_val_loss"]
        gap = losses[name] - losses["float32"]
        ok = math.isfinite(gap) and abs(gap) <= LOSS_TOLERANCE
        value = f"val loss {losses[name]:.4f} ({gap:+.4f} vs float32)"
        target = f"within {LOSS_TOLERANCE} of float32"
        rows.append(
            row(f"{iters}-iter run, {name}", value, target, ok, time.perf_counter() - started)
        )
    return rows


def brief_shape_rows(repeats: int) -> list[dict]:
    """Step time, MFU and centering overheads at the brief's shape (batch 64, block 256)."""
    device = torch.device("cuda")
    started = time.perf_counter()
    peak = matmul_peak_flops(device, sizes=(4096, 8192), dtype=torch.bfloat16)
    base = replace_flat(PRESETS["brief"], device="cuda")
    batch, block, max_iters = base.optim.batch_size, base.model.block_size, base.optim.max_iters
    variants = [v for v in VARIANTS if v != "custom"]
    steps = {v: training_step(replace_flat(base, variant=v), device, batch) for v in variants}
    seconds = interleaved_seconds(steps, device, repeats)
    flops = training_flops_per_token(model_config(base, VOCAB), block) * batch * block
    mfu = flops / seconds["baseline"] / peak
    rows = [
        row("bf16 matmul peak (8192^2)", f"{peak / 1e12:,.0f} TFLOP/s", "measured", None, 0.0),
        row(
            "brief-shape step, baseline",
            f"{1000 * seconds['baseline']:.1f} ms, MFU {mfu:.1%}",
            "measured",
            None,
            time.perf_counter() - started,
        ),
    ]
    for variant in variants[1:]:
        overhead = 100 * (seconds[variant] / seconds["baseline"] - 1)
        target = "<= 5%" if variant.startswith("qk_") else "measured"
        ok = overhead <= 5 if variant.startswith("qk_") else None
        rows.append(row(f"overhead, {variant}", f"{overhead:+.1f}% of a step", target, ok, 0.0))
    suite_s = sum(seconds.values()) * SUITE_SEEDS * max_iters
    rows.append(
        row(
            "center-suite --preset brief, predicted",
            f"{suite_s / 60:.0f} min of training steps ({len(variants)} variants x "
            f"{SUITE_SEEDS} seeds x {max_iters} iters)",
            "measured",
            None,
            0.0,
        )
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer rounds")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine; nothing to check")
        return 0
    print(f"gpu_check on {torch.cuda.get_device_name()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        rows = [cuda_tests()]
        rows += dtype_rows(Path(folder), 100 if args.quick else 500)
        rows += brief_shape_rows(3 if args.quick else 10)
    print_table(rows, ["check", "value", "target", "ok", "s"])
    return 0 if all(r["ok"] != "FAILED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
