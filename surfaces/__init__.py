"""Analytic two-parameter loss surfaces for watching optimizers.

Each surface is defined once, as a differentiable torch function on ``(..., 2)`` tensors,
with its plotting domain, known minima and saddles, and a teaching start point.
``SurfaceFn`` is the type of that function: ``(..., 2)`` positions to ``(...)`` losses.

Example:
    >>> import surfaces, torch
    >>> s = surfaces.get("quadratic", kappa=50.0)
    >>> float(s(torch.tensor([0.0, 0.0])))
    0.0
"""

from . import classic, multimodal, quadratic  # noqa: F401  (registers the surfaces)
from ._base import Surface, SurfaceFn, closest, defaults, get, names, register
from .stochastic import noisy

__all__ = ["Surface", "SurfaceFn", "closest", "defaults", "get", "names", "noisy", "register"]
