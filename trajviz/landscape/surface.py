"""A plane of a real net as a `surfaces.Surface`, so the engine's optimizers can race on it."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from surfaces import Surface

from .directions import Plane
from .evaluator import LossFn
from .grid import Grid


def plane_surface(model: nn.Module, plane: Plane, x: Tensor, y: Tensor, *,
                  loss_fn: LossFn = F.cross_entropy,
                  extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0),
                  name: str = "landscape", start: tuple[float, float] = (0.0, 0.0),
                  max_samples: int | None = 1000) -> Surface:
    """``(alpha, beta) -> loss_fn(model at centre + alpha d1 + beta d2 on x, y)``.

    Differentiable in ``(alpha, beta)`` and batched over points (``functional_call`` under
    ``vmap``), on the device of the points it is given. The loss is the full-batch mean over
    the first ``max_samples`` samples (all with ``None``), so every evaluation is the same
    deterministic function.

    Example:
        >>> s = plane_surface(model, grid.plane, x, y)  # doctest: +SKIP
        >>> run = trajviz.run(s, "sgd:lr=0.1,adam:lr=0.05", steps=100)  # doctest: +SKIP
    """
    net = copy.deepcopy(model).cpu()
    for p in net.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    buffers = dict(net.named_buffers())
    n = len(x) if max_samples is None else min(max_samples, len(x))
    xs, ys = x[:n].detach().cpu(), y[:n].detach().cpu()
    vectors = torch.stack([plane.centre, plane.d1, plane.d2]).float()
    on: dict[torch.device, tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]] = {}

    def moved(device: torch.device) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        if device not in on:
            on[device] = (vectors.to(device), xs.to(device), ys.to(device),
                          {k: v.to(device) for k, v in buffers.items()})
        return on[device]

    def fn(xy: Tensor) -> Tensor:
        v, xd, yd, bufs = moved(xy.device)
        flat = xy.reshape(-1, 2).to(v.dtype)
        w = v[0] + flat[:, :1] * v[1] + flat[:, 1:] * v[2]
        params, offset = {}, 0
        for nm, shape in zip(names, shapes, strict=True):
            k = shape.numel()
            params[nm] = w[:, offset:offset + k].reshape(len(w), *shape)
            offset += k

        def one(p: dict[str, Tensor]) -> Tensor:
            return loss_fn(functional_call(net, {**p, **bufs}, (xd,)), yd)

        return vmap(one)(params).to(xy.dtype).reshape(xy.shape[:-1])

    a0, a1, b0, b1 = extent
    return Surface(name, fn, domain=((a0, a1), (b0, b1)), start=start,
                   description=f"loss on a {plane.kind} plane of a {type(model).__name__}",
                   params={})


def grid_extent(alpha: np.ndarray, beta: np.ndarray) -> tuple[float, float, float, float]:
    return (float(alpha[0]), float(alpha[-1]), float(beta[0]), float(beta[-1]))


def grid_surface(grid: Grid, *, name: str = "landscape") -> Surface:
    """The grid's loss, bilinearly interpolated, as a `Surface` (what the figure shows;
    cheap, and constant beyond the grid's edge)."""
    z = torch.as_tensor(grid.loss, dtype=torch.float64)
    a0, a1, b0, b1 = grid_extent(grid.alpha, grid.beta)
    ga, gb = len(grid.alpha) - 1, len(grid.beta) - 1

    def fn(xy: Tensor) -> Tensor:
        zz = z.to(xy.device, xy.dtype)
        u = ((xy[..., 0] - a0) / (a1 - a0) * ga).clamp(0, ga)
        v = ((xy[..., 1] - b0) / (b1 - b0) * gb).clamp(0, gb)
        j0, i0 = u.floor().long().clamp(max=ga - 1), v.floor().long().clamp(max=gb - 1)
        fu, fv = u - j0, v - i0
        top = zz[i0, j0] * (1 - fu) + zz[i0, j0 + 1] * fu
        bottom = zz[i0 + 1, j0] * (1 - fu) + zz[i0 + 1, j0 + 1] * fu
        return top * (1 - fv) + bottom * fv

    return Surface(name, fn, domain=((a0, a1), (b0, b1)),
                   description="a grid of a loss landscape, interpolated")
