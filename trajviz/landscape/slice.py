"""One way from a plane to its grid of loss values, for `loss_landscape` and
`compute_landscape` alike: the plane made identical on every torchrun rank, the grid's
points shared among the ranks and checkpointed per chunk, the `Grid` written by rank 0."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .directions import Plane
from .distributed import Checkpoints, Context, broadcast, evaluate_shared
from .evaluator import LossFn, Method, PlaneEvaluator
from .grid import Grid, check_extent

log = logging.getLogger(__name__)
Extent = tuple[float, float, float, float]


def shared_plane(plane: Plane, ctx: Context, device: torch.device) -> Plane:
    """Rank 0's plane on every rank, bit for bit (every rank then evaluates the same one)."""
    if not ctx.active:
        return plane
    return dataclasses.replace(plane, centre=broadcast(plane.centre, ctx, device),
                               d1=broadcast(plane.d1, ctx, device),
                               d2=broadcast(plane.d2, ctx, device))


def digest(*parts: Tensor | np.ndarray | Any) -> str:
    """SHA-256 of tensors' bytes and of JSON-ready facts: a key of everything a grid
    depends on."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, (Tensor, np.ndarray)):
            arr = part.detach().cpu().contiguous().numpy() if isinstance(part, Tensor) else part
            h.update(np.ascontiguousarray(arr).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class SliceValues:
    """A plane's grid values and the evaluator that made them (for more points).

    Attributes:
        alpha, beta: ``(G,)`` the grid's coordinates.
        loss, accuracy: ``(G, G)``, ``[i, j]`` at ``(alpha[j], beta[i])`` (NaN on ranks
            other than 0 under torchrun).
        reused_points: points taken from the checkpoints of an interrupted run.
        evaluator: the `PlaneEvaluator` of the plane.
    """

    alpha: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    reused_points: int
    evaluator: PlaneEvaluator


def evaluate_slice(model: nn.Module, plane: Plane, x: Tensor, y: Tensor, *, extent: Extent,
                   size: int, loss_fn: LossFn, device: torch.device, ctx: Context,
                   method: Method, memory_mb: float, save: str | os.PathLike[str] | None,
                   key: str, chunk: int | None, progress: bool | None) -> SliceValues:
    """The loss and accuracy on a ``size`` x ``size`` grid over ``extent`` of ``plane``.

    With ``save``, finished chunks are checkpointed in ``<save>.chunks`` (tagged with
    ``key``) and an interrupted run resumes from them.
    """
    extent = check_extent(extent)  # a sane span: distinct, finite grid points
    alpha = np.linspace(extent[0], extent[1], size)
    beta = np.linspace(extent[2], extent[3], size)
    evaluator = PlaneEvaluator(model, plane, x, y, loss_fn=loss_fn, device=device,
                               method=method, memory_mb=memory_mb)
    result = evaluate_shared(evaluator, alpha, beta, ctx,
                             checkpoint=f"{save}.chunks" if save else None, key=key,
                             chunk=chunk, progress=progress)
    if result.reused_points:
        log.warning("resumed: reused %d of %d grid points from the checkpoints in %s.chunks",
                    result.reused_points, size * size, save)
    shape = (size, size)
    nan = np.full(shape, np.nan)
    loss = result.loss.reshape(shape) if result.loss is not None else nan
    acc = result.accuracy.reshape(shape) if result.accuracy is not None else nan.copy()
    return SliceValues(alpha, beta, loss, acc, result.reused_points, evaluator)


def write_grids(grids: Sequence[Grid], paths: Sequence[str | os.PathLike[str]], ctx: Context
                ) -> None:
    """Rank 0 writes each grid, then removes its chunk checkpoints."""
    if not ctx.main:
        return
    for grid, path in zip(grids, paths, strict=True):
        grid.save(path)
        Checkpoints(f"{path}.chunks", grid.meta.get("key", "")).clear()


__all__ = ["SliceValues", "digest", "evaluate_slice", "shared_plane", "write_grids"]
