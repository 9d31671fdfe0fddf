"""Quadratic bowls, saddles and plateaus: the shapes behind the usual optimizer lessons."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import Surface, register


@register
def quadratic(kappa: float = 10.0) -> Surface:
    """Ill-conditioned bowl 0.5*(x^2 + kappa*y^2); curvatures 1 and kappa."""
    if kappa <= 0:
        raise ValueError(f"quadratic needs kappa > 0, got {kappa}")

    def fn(p: Tensor) -> Tensor:
        return 0.5 * (p[..., 0] ** 2 + kappa * p[..., 1] ** 2)

    return Surface("quadratic", fn, ((-2.0, 2.0), (-1.0, 1.0)),
                   minima=((0.0, 0.0),), min_value=0.0, start=(-1.8, 0.8),
                   log_scale=True, params={"kappa": kappa})


@register
def saddle() -> Surface:
    """x^2 - y^2: a saddle point at the origin, unbounded below along y."""

    def fn(p: Tensor) -> Tensor:
        return p[..., 0] ** 2 - p[..., 1] ** 2

    return Surface("saddle", fn, ((-2.0, 2.0), (-2.0, 2.0)), saddles=((0.0, 0.0),),
                   start=(-1.8, 1e-3))


@register
def monkey_saddle() -> Surface:
    """x^3 - 3xy^2: a flat, three-valleyed saddle at the origin (zero Hessian)."""

    def fn(p: Tensor) -> Tensor:
        x, y = p[..., 0], p[..., 1]
        return x**3 - 3 * x * y**2

    return Surface("monkey_saddle", fn, ((-1.5, 1.5), (-1.5, 1.5)), saddles=((0.0, 0.0),),
                   start=(1.2, 0.05))


@register
def plateau(width: float = 1.0, tilt: float = 0.01) -> Surface:
    """A near-flat plateau that drops off a cliff into a flat-bottomed well at the origin."""
    if width <= 0:
        raise ValueError(f"plateau needs width > 0, got {width}")

    def fn(p: Tensor) -> Tensor:
        r2 = ((p / width) ** 2).sum(-1)  # not width**2: that overflows for a huge width
        return 1 - torch.exp(-(r2**2)) + tilt * r2

    r = 4.0 * width
    return Surface("plateau", fn, ((-r, r), (-r, r)), minima=((0.0, 0.0),), min_value=0.0,
                   start=(3.0 * width, 2.5 * width), params={"width": width, "tilt": tilt})
