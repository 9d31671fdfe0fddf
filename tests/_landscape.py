"""Shared helpers of the landscape tests: the real MNIST test split, small sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MNIST_ROOT = Path(os.environ.get("TRAJVIZ_TEST_DATA",
                                 Path(__file__).resolve().parents[2] / "shared" / "data"))


def mnist_root() -> Path:
    """The torchvision root holding MNIST/raw/t10k-*; the tests need it (no skipping)."""
    if not (MNIST_ROOT / "MNIST" / "raw").is_dir():
        pytest.fail(f"the landscape tests need the MNIST test split in {MNIST_ROOT}/MNIST/raw "
                    "(set TRAJVIZ_TEST_DATA to its torchvision root)")
    return MNIST_ROOT
