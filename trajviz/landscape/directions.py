"""Planes through weight space: filter-normalized random directions, PCA of the training
paths, and the projection of every path onto the plane with what the plane misses (the
Hessian plane is in `hessian`).

All vectors are flat float32 CPU tensors in ``torch.nn.utils.parameters_to_vector`` order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UsageError

log = logging.getLogger(__name__)
BiasMode = Literal["zero", "copy", "filter"]
BIAS_MODES = ("zero", "copy", "filter")
DIRECTIONS = ("pca", "pca-each", "random", "hessian")


@dataclass(frozen=True, eq=False)
class Plane:
    """The plane ``theta(a, b) = centre + a * d1 + b * d2``.

    Attributes:
        centre, d1, d2: flat float32 vectors in ``parameters_to_vector`` order.
        kind: ``pca``, ``pca-each``, ``random``, ``hessian`` or ``line`` (``d2`` is zero).
        explained: for PCA, the fraction of the paths' variance along ``d1`` and ``d2``.
        meta: how the plane was made (seed, bias handling, centre), JSON-ready.
    """

    centre: Tensor
    d1: Tensor
    d2: Tensor
    kind: str
    explained: tuple[float, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def point(self, a: float, b: float) -> Tensor:
        return self.centre + a * self.d1 + b * self.d2


@dataclass(frozen=True, eq=False)
class Projection:
    """A path's coordinates in the plane and the share of its movement the plane misses.

    Attributes:
        coords: ``(r, 2)`` least-squares (alpha, beta) of each recorded point.
        missed_steps: share of the path's squared step lengths orthogonal to the plane.
        missed_net: the same for the net displacement, first point to last.
        residual: ``(r,)`` distance of each point from the plane.
    """

    coords: np.ndarray
    missed_steps: float
    missed_net: float
    residual: np.ndarray


def _shapes(model: nn.Module) -> list[torch.Size]:
    return [p.shape for p in model.parameters()]


def _check(model: nn.Module, centre: Tensor) -> None:
    n = sum(s.numel() for s in _shapes(model))
    if centre.ndim != 1 or centre.numel() != n:
        raise UsageError(f"centre has {centre.numel()} values but the model has {n} parameters")


def filter_normalize(direction: Tensor, weights: Tensor, model: nn.Module, *,
                     bias: BiasMode = "zero") -> Tensor:
    """Li et al. (2018) filter normalization of a flat ``direction`` against ``weights``.

    Each filter (output row of a linear layer, output channel of a convolution) of the
    direction is rescaled to the norm of the same filter of the weights. One-dimensional
    parameters (biases, BatchNorm scales) follow ``bias``: ``zero`` leaves them out of the
    direction (the paper's ``biasbn`` choice), ``copy`` sets them to the weights themselves
    (the reference code's default), ``filter`` normalizes them as one filter.
    """
    if bias not in BIAS_MODES:
        raise UsageError(f"unknown bias handling {bias!r}; valid: {', '.join(BIAS_MODES)}")
    out, offset = torch.empty_like(direction), 0
    for shape in _shapes(model):
        n = shape.numel()
        d, w = direction[offset:offset + n], weights[offset:offset + n]
        if len(shape) <= 1:
            if bias == "zero":
                d = torch.zeros_like(d)
            elif bias == "copy":
                d = w.clone()
            else:
                d = d * (w.norm() / d.norm().clamp_min(1e-12))
        else:
            d2, w2 = d.reshape(shape[0], -1), w.reshape(shape[0], -1)
            d = (d2 * (w2.norm(dim=1, keepdim=True)
                       / d2.norm(dim=1, keepdim=True).clamp_min(1e-12))).reshape(-1)
        out[offset:offset + n] = d
        offset += n
    return out


def random_plane(model: nn.Module, centre: Tensor, *, seed: int = 0,
                 bias: BiasMode = "zero") -> Plane:
    """Two seeded Gaussian directions, each filter-normalized against ``centre``."""
    _check(model, centre)
    gen = torch.Generator().manual_seed(seed)
    d1, d2 = (filter_normalize(torch.randn(centre.numel(), generator=gen), centre, model,
                               bias=bias) for _ in range(2))
    cos = float(d1 @ d2 / (d1.norm() * d2.norm()).clamp_min(1e-12))
    return Plane(centre.float(), d1.float(), d2.float(), "random",
                 meta={"direction_seed": seed, "bias": bias, "cosine_d1_d2": cos})


def pca_plane(paths: Sequence[Tensor], centre: Tensor) -> Plane:
    """The two principal directions of all recorded weights of all ``paths`` jointly.

    The points are stacked and mean-centred (as Li et al. do with scikit-learn's PCA of the
    path relative to its final weights: the mean-centring makes the reference point
    irrelevant); the plane passes through ``centre``. Each direction is a unit vector whose
    sign makes the mean path's net displacement positive along it.
    """
    points = torch.cat([p for p in paths]).double()
    if len(points) < 3:
        raise UsageError(f"PCA needs at least 3 recorded points, got {len(points)}")
    m = points - points.mean(0)
    gram = m @ m.T
    evals, evecs = torch.linalg.eigh(gram)
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    total = float(evals.sum())
    if total <= 0 or evals[1] <= total * 1e-12:
        raise UsageError("the training paths span fewer than two dimensions; use "
                         "--directions random")
    drift = torch.stack([p[-1] - p[0] for p in paths]).double().mean(0)
    dirs = []
    for k in range(2):
        d = m.T @ evecs[:, k] / evals[k].sqrt()
        d = d / d.norm()
        dirs.append(-d if float(d @ drift) < 0 else d)
    explained = (float(evals[0]) / total, float(evals[1]) / total)
    log.info("PCA: %.1f%% and %.1f%% of the paths' variance", 100 * explained[0],
             100 * explained[1])
    return Plane(centre.float(), dirs[0].float(), dirs[1].float(), "pca", explained,
                 meta={"n_points": len(points)})


def line(start: Tensor, end: Tensor) -> Plane:
    """The straight line ``start + a * (end - start)`` (``d2`` is zero): 1-D interpolation."""
    return Plane(start.float(), (end - start).float(), torch.zeros_like(start, dtype=torch.float32),
                 "line")


def project(plane: Plane, params: Tensor) -> Projection:
    """Least-squares coordinates of ``params`` ``(r, n)`` in the plane, with the residuals."""
    d = torch.stack([plane.d1, plane.d2]).double()
    rel = params.double() - plane.centre.double()
    gram = d @ d.T
    coords = torch.linalg.lstsq(gram, d @ rel.T).solution.T  # (r, 2)
    resid = rel - coords @ d
    steps, steps_resid = rel.diff(dim=0), resid.diff(dim=0)
    net, net_resid = rel[-1] - rel[0], resid[-1] - resid[0]
    moved = float(steps.square().sum())
    return Projection(
        coords=coords.numpy(),
        missed_steps=float(steps_resid.square().sum()) / moved if moved > 0 else 0.0,
        missed_net=float(net_resid.square().sum() / net.square().sum()) if moved > 0 else 0.0,
        residual=resid.norm(dim=1).numpy(),
    )


def choose_centre(init: Tensor, finals: Sequence[Tensor], labels: Sequence[str],
                  losses: Sequence[float], centre: str = "best") -> tuple[Tensor, str]:
    """The plane's centre: ``best`` (final weights of the lowest final loss), ``init``,
    ``mean`` (of the final weights) or an optimizer label. Returns it and a description."""
    if centre == "init":
        return init.clone(), "initial weights"
    if centre == "mean":
        return torch.stack(list(finals)).mean(0), "mean of the final weights"
    if centre == "best":
        i = int(np.nanargmin(np.asarray(losses, dtype=float)))
        return finals[i].clone(), f"final weights of {labels[i]} (lowest final loss)"
    if centre in labels:
        return finals[list(labels).index(centre)].clone(), f"final weights of {centre}"
    raise UsageError(f"unknown centre {centre!r}; valid: best, init, mean, or an optimizer "
                     f"label ({', '.join(labels)})")
