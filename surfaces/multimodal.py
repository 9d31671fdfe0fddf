"""Surfaces with many local minima: where step size and momentum decide the outcome."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._base import Surface, register


@register
def rastrigin(a: float = 10.0) -> Surface:
    """A bowl covered in a regular egg-crate of local minima."""

    def fn(p: Tensor) -> Tensor:
        return 2 * a + (p**2 - a * torch.cos(2 * math.pi * p)).sum(-1)

    return Surface("rastrigin", fn, ((-5.12, 5.12), (-5.12, 5.12)), minima=((0.0, 0.0),),
                   min_value=0.0, start=(-4.2, 3.8), params={"a": a})


@register
def ackley() -> Surface:
    """Nearly flat outer region with ripples and a deep hole at the origin."""

    def fn(p: Tensor) -> Tensor:
        x, y = p[..., 0], p[..., 1]
        r = torch.sqrt(0.5 * (x**2 + y**2) + 1e-30)  # offset keeps the gradient finite at 0
        ripple = 0.5 * (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * y))
        return -20 * torch.exp(-0.2 * r) - torch.exp(ripple) + math.e + 20

    return Surface("ackley", fn, ((-5.0, 5.0), (-5.0, 5.0)), minima=((0.0, 0.0),),
                   min_value=0.0, start=(-4.0, 3.5))


@register
def styblinski_tang() -> Surface:
    """Four basins of different depth; the deepest is at (-2.9035, -2.9035)."""

    def fn(p: Tensor) -> Tensor:
        return 0.5 * (p**4 - 16 * p**2 + 5 * p).sum(-1)

    m = -2.903534027771177
    return Surface("styblinski_tang", fn, ((-5.0, 5.0), (-5.0, 5.0)), minima=((m, m),),
                   min_value=-78.33233140754282, start=(4.5, 4.5))
