"""Character-level text: Tiny Shakespeare (downloaded once, verified), or any UTF-8 file.

The text is encoded once (vocabulary = the sorted set of its characters, first 90% train,
last 10% val, as nanoGPT's shakespeare_char does) and the encoded splits are cached as
uint16 ``.bin`` files keyed by the text's hash; batches are read from a ``np.memmap``.

Where the text comes from, first match wins:
``data_file`` > ``data_dir`` > ``$GPTLAB_DATA_DIR`` > the download cache
(``$GPTLAB_CACHE_DIR``, default ``~/.cache/gptlab``). A data folder holds
``tinyshakespeare/input.txt``. A missing, unreadable or unsuitable text is a ConfigError
(the CLI's one-line exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gptlab.config import ConfigError
from gptlab.train.run_folder import atomic_write

TINY_SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINY_SHAKESPEARE_MD5 = "6fb458f1232090904fb40fe944165e91"
TINY_SHAKESPEARE_PATH = Path("tinyshakespeare") / "input.txt"
TRAIN_FRACTION = 0.9


def cache_dir() -> Path:
    return Path(os.environ.get("GPTLAB_CACHE_DIR", Path.home() / ".cache" / "gptlab"))


def md5_of(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def data_record(path: Path) -> dict[str, str | int]:
    """What identifies a run's text: its absolute path, size and SHA-256. Recorded when a
    run starts, so that a resume reads the same text (not an edited file, nor another
    file of the same relative name)."""
    path = Path(path).resolve()
    raw = path.read_bytes()
    return {"path": str(path), "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def download_verified(url: str, target: Path, md5: str, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``target`` unless a copy with checksum ``md5`` is already there."""
    target = Path(target)
    if target.exists() and md5_of(target) == md5:
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ConfigError(
            f"could not download {url} ({error}); offline? Put the file at {target}, "
            "or point --data-dir / GPTLAB_DATA_DIR at a folder holding "
            f"{TINY_SHAKESPEARE_PATH}, or pass --data-file"
        ) from error
    actual = hashlib.md5(payload).hexdigest()
    if actual != md5:
        raise ConfigError(f"{url} has md5 {actual}, expected {md5}; refusing to use it")
    atomic_write(target, lambda tmp: tmp.write_bytes(payload))
    return target


def resolve_text_file(data_file: str = "", data_dir: str = "") -> Path:
    """The text file to train on (see the module docstring for the order)."""
    if data_file:
        path = Path(data_file)
        if not path.is_file():
            raise ConfigError(f"data file {path} does not exist")
        return path
    folder = data_dir or os.environ.get("GPTLAB_DATA_DIR", "")
    if folder:
        path = Path(folder) / TINY_SHAKESPEARE_PATH
        if not path.is_file():
            raise ConfigError(
                f"{path} does not exist (data folder from --data-dir/GPTLAB_DATA_DIR)"
            )
        return path
    return download_verified(
        TINY_SHAKESPEARE_URL, cache_dir() / TINY_SHAKESPEARE_PATH, TINY_SHAKESPEARE_MD5
    )


@dataclass
class Vocabulary:
    chars: str

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ConfigError(f"characters {unknown} are not in the vocabulary of this text")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def check_holdout_fraction(value: float) -> None:
    if not 0.0 <= value < 0.5:
        raise ConfigError(f"holdout_fraction = {value} must lie in [0, 0.5)")


class CharDataset:
    """The encoded train/val splits of one text, memory-mapped from the cache.

    ``holdout_fraction`` > 0 cuts the end of the train split off into a "holdout" split that
    training never reads: a place to choose hyperparameters without looking at val."""

    def __init__(self, text_file: Path | str, holdout_fraction: float = 0.0) -> None:
        check_holdout_fraction(holdout_fraction)
        self.text_file = Path(text_file)
        raw = self.text_file.read_bytes()
        if not raw:  # np.memmap of an empty split fails with "cannot mmap an empty file"
            raise ConfigError(f"data file {self.text_file} is empty")
        folder = cache_dir() / "encoded" / hashlib.sha256(raw).hexdigest()[:16]
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ConfigError(
                    f"data file {self.text_file} is not UTF-8 text ({error})"
                ) from None
            encode_to(folder, text)
        meta = json.loads(meta_path.read_text())
        self.vocab = Vocabulary(meta["chars"])
        train = np.memmap(folder / "train.bin", dtype=np.uint16, mode="r")
        cut = len(train) - int(len(train) * holdout_fraction)
        self.train, self.holdout = train[:cut], train[cut:]
        self.val = np.memmap(folder / "val.bin", dtype=np.uint16, mode="r")

    def split(self, name: str) -> np.ndarray:
        return {"train": self.train, "val": self.val, "holdout": self.holdout}[name]

    def check_block_size(self, block_size: int) -> None:
        splits = [self.train, self.val] + ([self.holdout] if len(self.holdout) else [])
        shortest = min(len(s) for s in splits)
        if block_size + 1 > shortest:
            raise ConfigError(
                f"block_size {block_size} needs splits of > {block_size} tokens; "
                f"{self.text_file} gives train {len(self.train)}, val {len(self.val)}"
            )

    def batch(
        self, split: str, batch_size: int, block_size: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` random windows: inputs and next-token targets, (B, T) int64."""
        data = self.split(split)
        starts = rng.integers(0, len(data) - block_size, size=batch_size)
        x = np.stack([data[s : s + block_size] for s in starts]).astype(np.int64)
        y = np.stack([data[s + 1 : s + 1 + block_size] for s in starts]).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    def passages(self, split: str, count: int, windows: int, block_size: int) -> list[torch.Tensor]:
        """``count`` separate passages of ``split``, evenly spaced, each ``windows``
        consecutive windows of ``block_size`` tokens: (windows, block_size) each."""
        data = self.split(split)
        length = windows * block_size
        stride = (len(data) - 1) // count
        if count < 1 or windows < 1 or stride < length:
            raise ConfigError(
                f"the {split} split ({len(data)} tokens) cannot hold {count} separate passages "
                f"of {windows} windows x {block_size} tokens"
            )
        starts = [i * stride for i in range(count)]
        return [
            torch.from_numpy(data[s : s + length].astype(np.int64)).view(windows, block_size)
            for s in starts
        ]

    def full_pass(
        self, split: str, block_size: int, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every target of ``split`` exactly once, in order: consecutive non-overlapping
        windows of ``block_size`` (the last one shorter), in batches of equal length."""
        data = self.split(split)
        n_targets = len(data) - 1
        n_full = n_targets // block_size
        for first in range(0, n_full, batch_size):
            windows = range(first, min(first + batch_size, n_full))
            x = np.stack([data[w * block_size : (w + 1) * block_size] for w in windows])
            y = np.stack([data[w * block_size + 1 : (w + 1) * block_size + 1] for w in windows])
            yield torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
        tail = n_full * block_size
        if tail < n_targets:
            x = data[tail:n_targets].astype(np.int64)[None]
            y = data[tail + 1 : n_targets + 1].astype(np.int64)[None]
            yield torch.from_numpy(x), torch.from_numpy(y)


def encode_to(folder: Path, text: str) -> None:
    """Write train.bin, val.bin and meta.json (the vocabulary) for ``text`` into ``folder``."""
    vocab = Vocabulary("".join(sorted(set(text))))
    if len(vocab) > np.iinfo(np.uint16).max:
        raise ConfigError(f"{len(vocab)} distinct characters do not fit uint16 token ids")
    ids = np.array(vocab.encode(text), dtype=np.uint16)
    n_train = int(len(ids) * TRAIN_FRACTION)
    atomic_write(folder / "train.bin", lambda tmp: ids[:n_train].tofile(tmp))
    atomic_write(folder / "val.bin", lambda tmp: ids[n_train:].tofile(tmp))
    # meta.json last: its presence says the cache entry is complete
    meta = {"chars": vocab.chars, "n_train": n_train, "n_val": len(ids) - n_train}
    atomic_write(folder / "meta.json", lambda tmp: tmp.write_text(json.dumps(meta)))
