"""Seeded gradient noise on any surface: batch vs mini-batch vs stochastic descent."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from ._base import Surface


def noisy(surface: Surface, sigma: float, *, batch_size: int = 1, seed: int = 0) -> Surface:
    """Adds zero-mean Gaussian noise of std ``sigma / sqrt(batch_size)`` to the gradient.

    It mimics a gradient estimated from a mini-batch: ``batch_size=1`` is stochastic
    gradient descent, larger batches are quieter, and ``sigma=0`` is full-batch descent.
    The loss *value* stays exact; only its gradient is perturbed, with fresh noise at each
    evaluation drawn from a generator seeded once with ``seed``.
    """
    if sigma < 0 or batch_size < 1:
        raise ValueError(f"need sigma >= 0 and batch_size >= 1, got {sigma}, {batch_size}")
    std = sigma / math.sqrt(batch_size)
    generators: dict[torch.device, torch.Generator] = {}

    def fn(p: Tensor) -> Tensor:
        gen = generators.get(p.device)
        if gen is None:
            gen = generators[p.device] = torch.Generator(p.device).manual_seed(seed)
        noise = torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype) * std
        # d/dp of (noise * (p - p.detach())) is noise, and its value is exactly zero.
        return surface.fn(p) + (noise * (p - p.detach())).sum(-1)

    return replace(surface, name=f"{surface.name}+noise", fn=fn,
                   description=f"{surface.description} (gradient noise std {std:g})",
                   params={**surface.params, "sigma": sigma, "batch_size": batch_size})
