from pathlib import Path

import pytest
import torch

from gptlab.config import replace_flat
from gptlab.data.text import cache_dir, resolve_text_file

# The test models are tiny: on a small or shared CPU, extra intra-op threads cost more in
# synchronization than they give (several times slower on 2 busy cores).
torch.set_num_threads(1)

# The user's download cache, read before `private_cache` points GPTLAB_CACHE_DIR at each
# test's own folder: the real data is then downloaded once, to where the product keeps it.
USER_CACHE_DIR = cache_dir()


@pytest.fixture(scope="session")
def tiny_shakespeare() -> Path:
    """Tiny Shakespeare found the way the product finds it: GPTLAB_DATA_DIR, else the user's
    cache, else a verified download into it. Missing data is a failure, not a skip: CI must
    run the tests that need it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPTLAB_CACHE_DIR", str(USER_CACHE_DIR))
        try:
            return resolve_text_file()
        except ValueError as error:
            problem = str(error)
    # failed outside the `except`, so the report is this one message, not a chained traceback
    pytest.fail(f"the tests need Tiny Shakespeare: {problem}", pytrace=False)


@pytest.fixture
def text_file(tmp_path, tiny_shakespeare) -> Path:
    """The first 20,000 characters: enough for tiny models, fast to encode."""
    path = tmp_path / "text.txt"
    path.write_text(tiny_shakespeare.read_text()[:20_000])
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Encoded-data caches go to the test's own folder, never the user's."""
    monkeypatch.setenv("GPTLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def tiny_center_config(text_file):
    """Make a ``CenterConfig``: the smoke preset shrunk to seconds, on ``text_file``."""
    from gptlab.experiments.centering.presets import PRESETS

    fields = dict(
        data_file=str(text_file),
        d_model=16,
        block_size=16,
        batch_size=4,
        max_iters=6,
        warmup_iters=2,
        eval_every=3,
        eval_iters=1,
    )

    def make(**changes):
        return replace_flat(PRESETS["smoke"], **(fields | changes))

    return make
