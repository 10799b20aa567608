"""``keep_freed_memory``: a freed large tensor's memory stays with the process for reuse."""

import subprocess
import sys

import pytest

from gptlab.train import allocator

PROBE = """
import sys
import torch
from gptlab.train.allocator import keep_freed_memory

def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = resident_mib()
x = torch.ones(64 * 2**20 // 4)  # 64 MiB: above every mmap threshold of glibc's malloc
del x
print(resident_mib() - before)
"""


def resident_growth_after_freeing(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


@pytest.mark.skipif(allocator.glibc() is None, reason="glibc's malloc only")
def test_freed_memory_is_kept_for_the_next_tensor_only_when_asked():
    assert resident_growth_after_freeing("default") < 16  # munmap gave it back
    assert resident_growth_after_freeing("keep") > 48  # kept in the heap for reuse


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
