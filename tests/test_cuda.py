"""The GPU path, where there is one: ``pytest -m cuda`` (``benchmarks/gpu_check.py`` runs
them). On a machine without CUDA every test here is skipped."""

import pytest
import torch

from gptlab.config import replace_flat
from gptlab.experiments.centering.config import model_config
from gptlab.experiments.centering.presets import PRESETS as CENTER_PRESETS
from gptlab.experiments.centering.run import run_center
from gptlab.experiments.grokking import PRESETS as GROK_PRESETS
from gptlab.experiments.grokking import run_grok
from gptlab.nn import Transformer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("variant", ["baseline", "qk_centered", "full_centered"])
def test_the_gpt_on_cuda_computes_what_it_computes_on_the_cpu(variant):
    config = replace_flat(CENTER_PRESETS["cpu"], variant=variant)
    torch.manual_seed(0)
    model = Transformer(model_config(config, 65)).eval()
    x = torch.randint(0, 65, (4, config.block_size))
    expected = model(x)[0]
    on_gpu = model.to("cuda")(x.to("cuda"))[0].cpu()
    assert torch.allclose(on_gpu, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_center_run_on_cuda_trains(tmp_path, tiny_center_config, dtype):
    config = tiny_center_config(device="cuda", dtype=dtype, max_iters=30, eval_every=10)
    summary = run_center(config, tmp_path / "run", progress=False)
    assert summary["device"].startswith("cuda") and summary["status"] == "finished"
    assert 0 < summary["final_val_loss"] < 4.0  # from ~log(vocab) at the start


def test_a_grok_run_on_cuda_follows_the_cpu_run(tmp_path):
    config = replace_flat(GROK_PRESETS["smoke"], epochs=50)
    on_cpu = run_grok(config, tmp_path / "cpu", progress=False)
    on_gpu = run_grok(replace_flat(config, device="cuda"), tmp_path / "gpu", progress=False)
    assert on_gpu["final"]["train_loss"] == pytest.approx(on_cpu["final"]["train_loss"], rel=0.05)
