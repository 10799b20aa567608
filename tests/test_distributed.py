"""Data parallel without code changes: 2 gloo processes under torchrun train exactly like one
process with the same global batch, and like one process accumulating gradients; an
interrupted 2-process run with dropout resumes exactly, and only with 2 processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptlab import cli
from gptlab.train.reproducibility import rng_state, set_rank_rng_state

CRASH_AT_STEP = "GPTLAB_TEST_CRASH_AT_STEP"


def gptlab(
    args: list[str], out: Path, processes: int = 1, crash_at_step: int | None = None
) -> subprocess.CompletedProcess:
    """Run ``gptlab ARGS`` (under torchrun for processes > 1); ``crash_at_step`` runs it
    through this file's ``__main__``, which makes every process fail when it reaches that step."""
    program = ["-m", "gptlab"] if crash_at_step is None else [__file__]
    launcher = [sys.executable, *program]
    if processes > 1:
        torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        launcher = [sys.executable, *torchrun, *program]
    env = os.environ | {"OMP_NUM_THREADS": "1", "GPTLAB_CACHE_DIR": str(out.parent / "cache")}
    if crash_at_step is not None:
        env[CRASH_AT_STEP] = str(crash_at_step)
    return subprocess.run(
        [*launcher, *args], check=crash_at_step is None, env=env, capture_output=True, timeout=300
    )


def train(
    out: Path, text_file: Path, *options: str, processes: int = 1, crash_at_step: int | None = None
) -> list[dict]:
    args = [
        "center",
        "--preset",
        "smoke",
        "--data-file",
        str(text_file),
        "--max-iters",
        "8",
        "--eval-interval",
        "2",
        "--eval-iters",
        "2",
        "--out",
        str(out),
        *options,
    ]
    gptlab(args, out, processes, crash_at_step)
    return metrics(out)


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_same_curves(a: list[dict], b: list[dict], rel: float = 1e-4) -> None:
    assert [r["iter"] for r in a] == [r["iter"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        for key in ("train_loss", "val_loss"):
            assert ra[key] == pytest.approx(rb[key], rel=rel), (ra["iter"], key)


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path, text_file):
    one = train(tmp_path / "one", text_file, "--batch-size", "8")
    two = train(tmp_path / "two", text_file, "--batch-size", "4", processes=2)
    accumulated = train(tmp_path / "accum", text_file, "--batch-size", "4", "--grad-accum", "2")
    assert_same_curves(one, two)
    assert_same_curves(one, accumulated)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2


def test_interrupted_two_process_run_with_dropout_resumes_exactly(tmp_path, text_file, capsys):
    # with dropout every rank draws its own masks, so every rank's RNG state must resume
    options = ("--batch-size", "4", "--dropout", "0.1")
    unbroken = train(tmp_path / "a", text_file, *options, processes=2)
    cut = tmp_path / "b"
    train(cut, text_file, *options, processes=2, crash_at_step=5)
    assert not (cut / "summary.json").exists()
    checkpoint = torch.load(cut / "checkpoint.pt", weights_only=True)
    assert checkpoint["counters"]["step"] == 4
    assert len(checkpoint["state"]["rng"]) == 2  # one state per rank

    # another number of processes is refused, naming both, before training starts
    assert cli.main(["center", "--resume", str(cut)]) == 2
    assert "written by 2 process(es) but this run has 1" in capsys.readouterr().err

    gptlab(["center", "--resume", str(cut)], cut, processes=2)
    assert_same_curves(metrics(cut), unbroken, rel=1e-6)


def test_single_process_checkpoints_hold_one_state_or_a_bare_dict(tmp_path):
    state = rng_state()
    expected = torch.rand(3)
    for saved in (state, [state]):  # a bare dict: checkpoints written before the list
        set_rank_rng_state(saved, rank=0, world=1)
        assert torch.equal(torch.rand(3), expected)
    with pytest.raises(ValueError, match="written by 1 process.*this run has 2"):
        set_rank_rng_state(state, rank=0, world=2)


if __name__ == "__main__":
    # run by torchrun in the resume test: every process fails as it reaches the step, after
    # a barrier, so rank 0 has written the previous checkpoint before anyone stops
    import torch.distributed as dist

    from gptlab.experiments.centering import run as center

    crash_step, real_lr = int(os.environ[CRASH_AT_STEP]), center.warmup_cosine_lr

    def crash_at_step(step: int, *args: float) -> float:
        if step == crash_step:
            if dist.is_initialized():
                dist.barrier()
            raise RuntimeError(f"simulated crash at step {step}")
        return real_lr(step, *args)

    center.warmup_cosine_lr = crash_at_step
    sys.exit(cli.main(sys.argv[1:]))
