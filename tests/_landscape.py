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


def small_mnist(n_train: int, n_test: int):
    """The split of the MNIST test folder, cut to ``n_train`` training and ``n_test``
    held-out images: the tests check behaviour, not convergence."""
    from trajviz.landscape import load_dataset

    d = load_dataset("mnist", data_dir=mnist_root())
    return type(d)(d.name, d.train_x[:n_train], d.train_y[:n_train], d.test_x[:n_test],
                   d.test_y[:n_test], d.meta)
