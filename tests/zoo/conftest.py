"""Zoo tests run full-size backbones on tiny clips: one intra-op thread per test module.

On a shared 2-core machine, two OpenMP threads per process competing with other processes make
these networks several times slower than one thread; the setting is restored after each module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
