"""Torch's CPU thread count, set for a piece of work and restored after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Runs the body with ``n`` intra-op CPU threads (torch's process-wide setting, which
    threads started in the body also take) and restores the previous number after it."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            torch.set_num_threads(before)
