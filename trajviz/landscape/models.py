"""The small image classifiers the landscape command trains, built from a seed."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from surfaces import closest

from ..errors import UsageError


def mlp(hidden: int = 100) -> nn.Sequential:
    """The seeds' feed-forward net: 784 -> 100 ReLU -> 10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def logreg() -> nn.Sequential:
    """Multinomial logistic regression: 784 -> 10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def cnn() -> nn.Sequential:
    """A small CNN: two 3x3 conv + ReLU + 2x2 max-pool blocks (8, 16 channels), then 10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


MODELS: dict[str, Callable[[], nn.Module]] = {"mlp": mlp, "logreg": logreg, "cnn": cnn}


def build_model(name: str, *, seed: int = 0) -> nn.Module:
    """The model ``name`` with its weights initialised from ``seed`` (global RNG untouched).

    Raises:
        UsageError: for an unknown name, listing the valid ones.
    """
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}{closest(name, list(MODELS))}; "
                         f"valid models: {', '.join(MODELS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name]()
