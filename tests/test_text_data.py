"""Character-level text data: the canonical file, download checks, split, cache, batches."""

import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from gptlab.config import ConfigError
from gptlab.data import text
from gptlab.data.text import CharDataset, download_verified, md5_of, resolve_text_file


def small_text(source_file: Path, tmp_path: Path, n: int = 3000) -> Path:
    path = tmp_path / "small.txt"
    source = source_file.read_text()
    path.write_text(source[:n])
    return path


def test_the_shared_copy_is_the_canonical_char_rnn_file(tiny_shakespeare):
    assert md5_of(tiny_shakespeare) == text.TINY_SHAKESPEARE_MD5


def test_tiny_shakespeare_splits_90_10_and_decodes_back(tiny_shakespeare):
    path = tiny_shakespeare
    raw = path.read_text()
    data = CharDataset(path)
    assert len(raw) == 1_115_394 and len(data.vocab) == 65
    assert (len(data.train), len(data.val)) == (1_003_854, 111_540)
    assert data.vocab.decode(data.train[:200]) == raw[:200]
    assert data.vocab.decode(data.val[-100:]) == raw[-100:]
    assert isinstance(data.train, np.memmap)


def test_encoding_is_cached_by_content(tmp_path, monkeypatch, tiny_shakespeare):
    path = small_text(tiny_shakespeare, tmp_path)
    first = CharDataset(path)
    monkeypatch.setattr(text, "encode_to", lambda *a: pytest.fail("encoded twice"))
    again = CharDataset(path)
    assert np.array_equal(first.val, again.val)


def test_encode_decode_round_trip_and_unknown_characters():
    vocab = text.Vocabulary("\n !abc")
    assert vocab.decode(vocab.encode("a b!\nc")) == "a b!\nc"
    with pytest.raises(ConfigError, match="'z'"):
        vocab.encode("abz")


def test_random_batches_are_next_token_windows_and_reproducible(tmp_path, tiny_shakespeare):
    data = CharDataset(small_text(tiny_shakespeare, tmp_path))
    x, y = data.batch("train", 5, 16, np.random.default_rng(0))
    assert x.shape == y.shape == (5, 16)
    assert np.array_equal(x[:, 1:], y[:, :-1])
    x2, _ = data.batch("train", 5, 16, np.random.default_rng(0))
    assert np.array_equal(x, x2)


def test_full_pass_scores_every_validation_target_exactly_once(tmp_path, tiny_shakespeare):
    data = CharDataset(small_text(tiny_shakespeare, tmp_path))
    pairs = list(data.full_pass("val", block_size=7, batch_size=4))
    targets = np.concatenate([y.flatten().numpy() for _, y in pairs])
    inputs = np.concatenate([x.flatten().numpy() for x, _ in pairs])
    assert np.array_equal(targets, data.val[1:])
    assert np.array_equal(inputs, data.val[:-1])
    assert pairs[-1][0].shape[1] < 7  # the shorter last window


def test_block_size_longer_than_a_split_is_refused(tmp_path, tiny_shakespeare):
    data = CharDataset(small_text(tiny_shakespeare, tmp_path, n=500))
    with pytest.raises(ConfigError, match="block_size 64 needs splits"):
        data.check_block_size(64)


def test_data_file_then_data_dir_then_environment(tmp_path, monkeypatch, tiny_shakespeare):
    own = small_text(tiny_shakespeare, tmp_path)
    monkeypatch.setenv("GPTLAB_DATA_DIR", str(tiny_shakespeare.parent.parent))
    assert resolve_text_file(str(own), "/nowhere") == own
    assert resolve_text_file("", str(tiny_shakespeare.parent.parent)).name == "input.txt"
    assert resolve_text_file().parent.parent == tiny_shakespeare.parent.parent
    with pytest.raises(ConfigError, match="data file /nowhere/x.txt does not exist"):
        resolve_text_file("/nowhere/x.txt")
    with pytest.raises(ConfigError, match="/nowhere/tinyshakespeare/input.txt does not exist"):
        resolve_text_file("", "/nowhere")


def test_download_verifies_the_checksum(tmp_path, tiny_shakespeare):
    source = small_text(tiny_shakespeare, tmp_path)
    url, md5 = source.as_uri(), md5_of(source)  # a local file:// URL: no network needed
    target = tmp_path / "cache" / "input.txt"
    assert download_verified(url, target, md5).read_bytes() == source.read_bytes()
    # a verified copy is not fetched again, even if the URL is gone
    assert download_verified("http://127.0.0.1:9/gone", target, md5) == target
    with pytest.raises(ConfigError, match="refusing to use it"):
        download_verified(url, tmp_path / "other.txt", "0" * 32)
    assert not (tmp_path / "other.txt").exists()


def serve_as_tiny_shakespeare(monkeypatch, tmp_path: Path, payload: bytes, md5: str) -> None:
    """No data folder, and the canonical URL replaced by a local file:// one serving
    ``payload`` with expected checksum ``md5``: the download path runs without a network."""
    monkeypatch.delenv("GPTLAB_DATA_DIR", raising=False)
    source = tmp_path / "served.txt"
    source.write_bytes(payload)
    monkeypatch.setattr(text, "TINY_SHAKESPEARE_URL", source.as_uri())
    monkeypatch.setattr(text, "TINY_SHAKESPEARE_MD5", md5)


def test_without_a_data_folder_the_verified_download_lands_in_the_cache(tmp_path, monkeypatch):
    payload = b"First Citizen:\nBefore we proceed any further, hear me speak.\n"
    serve_as_tiny_shakespeare(monkeypatch, tmp_path, payload, hashlib.md5(payload).hexdigest())
    path = resolve_text_file()
    assert path == text.cache_dir() / "tinyshakespeare" / "input.txt"
    assert path.read_bytes() == payload
    # the cached copy is used from then on: the URL is not read again
    monkeypatch.setattr(text, "TINY_SHAKESPEARE_URL", "http://127.0.0.1:9/gone")
    assert resolve_text_file() == path


def test_a_download_with_the_wrong_checksum_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    canonical_md5 = text.TINY_SHAKESPEARE_MD5
    serve_as_tiny_shakespeare(monkeypatch, tmp_path, b"not Shakespeare\n", canonical_md5)
    with pytest.raises(ConfigError, match=f"expected {canonical_md5}; refusing"):
        resolve_text_file()
    cache = text.cache_dir()
    assert not cache.exists() or not any(cache.rglob("*"))


def test_offline_download_fails_with_a_clear_message(monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.delenv("GPTLAB_DATA_DIR", raising=False)
    monkeypatch.setattr(text.urllib.request, "urlopen", offline)
    with pytest.raises(ConfigError, match="could not download .* offline") as error:
        resolve_text_file()
    expected = text.cache_dir() / "tinyshakespeare" / "input.txt"
    assert f"Put the file at {expected}" in str(error.value)
    assert "GPTLAB_DATA_DIR at a folder holding tinyshakespeare/input.txt" in str(error.value)
    assert not expected.exists()


def test_passages_are_separate_evenly_spaced_windows(tmp_path, tiny_shakespeare):
    data = CharDataset(tiny_shakespeare)
    passages = data.passages("val", 4, 16, 64)
    val = data.split("val")
    stride = (len(val) - 1) // 4
    assert [p.shape for p in passages] == [(16, 64)] * 4
    for i, p in enumerate(passages):
        expected = val[i * stride : i * stride + 16 * 64].astype("int64")
        assert p.flatten().tolist() == expected.tolist()
    with pytest.raises(ConfigError, match="cannot hold 4000 separate passages"):
        data.passages("val", 4000, 16, 64)
