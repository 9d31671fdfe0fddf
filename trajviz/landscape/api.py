"""`loss_landscape`: the grid of any ``nn.Module``, any data and any loss, in one call.

Runs unchanged under ``torchrun`` (the grid's points are shared among the ranks, rank 0
gathers them and alone writes ``save``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from .. import __version__
from ..errors import UsageError
from ..resolve import resolve_device
from .directions import BiasMode, Plane, random_plane
from .distributed import Checkpoints, broadcast, context, evaluate_shared, process_group
from .evaluator import DEFAULT_MEMORY_MB, LossFn, Method, PlaneEvaluator
from .grid import Grid, check_grid_size
from .pipeline import model_vector

log = logging.getLogger(__name__)
BatchNormMode = Literal["fixed", "exclude"]
BATCHNORM_MODES = ("fixed", "exclude")
Data = TorchDataset | Iterable[tuple[Tensor, Tensor]] | tuple[Tensor, Tensor]


def as_tensors(data: Data, *, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """``(x, y)`` from a pair of tensors, a map-style ``Dataset`` or an iterable of
    ``(inputs, targets)`` batches (a ``DataLoader``), concatenated (first ``limit`` samples)."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        x, y = data
        return (x, y) if limit is None else (x[:limit], y[:limit])
    if isinstance(data, TorchDataset) and hasattr(data, "__len__"):
        data = DataLoader(data, batch_size=1000, shuffle=False)
    xs, ys, n = [], [], 0
    try:
        for batch in data:
            xb, yb = batch[0], batch[1]
            xs.append(torch.as_tensor(xb))
            ys.append(torch.as_tensor(yb))
            n += len(xs[-1])
            if limit is not None and n >= limit:
                break
    except (TypeError, IndexError) as e:
        raise UsageError(f"data must be (x, y) tensors, a Dataset or an iterable of (inputs, "
                         f"targets) batches: {e}") from None
    if not xs:
        raise UsageError("the data is empty")
    x, y = torch.cat(xs), torch.cat(ys)
    return (x, y) if limit is None else (x[:limit], y[:limit])


def batchnorm_mask(model: nn.Module) -> Tensor:
    """``True`` for the entries of ``parameters_to_vector(model.parameters())`` that belong
    to BatchNorm layers."""
    owner = {id(p): isinstance(m, _BatchNorm) for m in model.modules()
             for p in m.parameters(recurse=False)}
    return torch.cat([torch.full((p.numel(),), owner[id(p)]) for p in model.parameters()])


def loss_landscape(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    directions: str | Plane = "random",
    grid: int = 41,
    extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0),
    seed: int = 0,
    bias: BiasMode = "zero",
    batchnorm: BatchNormMode = "fixed",
    samples: int | None = None,
    device: str | torch.device = "auto",
    method: Method = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    save: str | os.PathLike[str] | None = None,
    chunk: int | None = None,
    progress: bool | None = None,
) -> Grid:
    """The loss (and accuracy, for class labels) of ``model`` on a plane through its weights.

    Args:
        model: any module; its current weights are the centre. A model in ``eval()`` mode
            is evaluated in eval mode (one in training mode in training mode, except
            BatchNorm, see ``batchnorm``).
        loss_fn: ``loss_fn(output, target)``, the batch mean (e.g. ``F.cross_entropy``).
        data: ``(x, y)`` tensors, a ``Dataset`` or an iterable of batches.
        directions: ``random`` (filter-normalized, seeded) or a `Plane`.
        grid: points per side.
        extent: ``(alpha_min, alpha_max, beta_min, beta_max)``.
        seed: seeds the random directions.
        bias: one-dimensional parameters in random directions (see `filter_normalize`).
        batchnorm: BatchNorm layers always use their running statistics, kept fixed over
            the plane (batch statistics would depend on how the data is blocked);
            ``exclude`` also leaves their scale and shift out of the directions.
        samples: use the first this many samples (default: all).
        device: ``auto`` uses CUDA when present (each torchrun rank its own GPU).
        method: grid evaluation method (see `PlaneEvaluator`).
        memory_mb: working-memory budget of one chunk of points.
        save: write the grid here (rank 0 only), checkpointing chunks in ``<save>.chunks``
            so an interrupted run resumes.
        chunk: grid points per chunk (checkpoints, ranks' shares; default from memory).
        progress: progress bar (``None``: only on a terminal).

    Returns:
        The `Grid` (on ranks other than 0 under torchrun its values are NaN).

    Example:
        >>> g = loss_landscape(model, F.cross_entropy, loader, grid=21)  # doctest: +SKIP
        >>> g.save("grid.npz")  # doctest: +SKIP
    """
    if batchnorm not in BATCHNORM_MODES:
        raise UsageError(f"unknown batchnorm handling {batchnorm!r}; valid: "
                         f"{', '.join(BATCHNORM_MODES)}")
    check_grid_size(grid)
    if not (extent[0] < extent[1] and extent[2] < extent[3]):
        raise UsageError(f"extent must be (amin, amax, bmin, bmax) with min < max: {extent}")
    ctx = context()
    dev = ctx.device(resolve_device(device))
    x, y = as_tensors(data, limit=samples)
    centre = model_vector(model)
    if isinstance(directions, Plane):
        plane = directions
    elif directions == "random":
        plane = random_plane(model, centre, seed=seed, bias=bias)
    else:
        raise UsageError(f"unknown directions {directions!r}; valid: random, or a Plane "
                         "(PCA planes come from training paths: compute_landscape)")
    if batchnorm == "exclude":
        mask = batchnorm_mask(model)
        plane = dataclasses.replace(plane, d1=plane.d1.masked_fill(mask, 0),
                                    d2=plane.d2.masked_fill(mask, 0))
    alpha = np.linspace(extent[0], extent[1], grid)
    beta = np.linspace(extent[2], extent[3], grid)
    with process_group(ctx, dev):
        if ctx.active:
            plane = dataclasses.replace(plane, centre=broadcast(plane.centre, ctx, dev),
                                        d1=broadcast(plane.d1, ctx, dev),
                                        d2=broadcast(plane.d2, ctx, dev))
        evaluator = PlaneEvaluator(model, plane, x, y, loss_fn=loss_fn, device=dev,
                                   method=method, memory_mb=memory_mb)
        h = hashlib.sha256()
        for t in (plane.centre, plane.d1, plane.d2, x, y):
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        key = h.hexdigest() + json.dumps([grid, list(extent), repr(model), str(loss_fn),
                                          evaluator.model.training])
        key = hashlib.sha256(key.encode()).hexdigest()
        result = evaluate_shared(evaluator, alpha, beta, ctx,
                                 checkpoint=f"{save}.chunks" if save else None, key=key,
                                 chunk=chunk, progress=progress)
    if result.reused_points:
        log.warning("resumed: reused %d of %d grid points from %s.chunks", result.reused_points,
                    grid * grid, save)
    shape = (grid, grid)
    nan = np.full(shape, np.nan)
    meta: dict[str, Any] = {
        "model": type(model).__name__, "directions": plane.kind, "plane": plane.meta,
        "bias": bias, "batchnorm": batchnorm, "direction_seed": seed, "extent": list(extent),
        "grid_samples": len(x), "loss_fn": getattr(loss_fn, "__qualname__", repr(loss_fn)),
        "eval_mode": not evaluator.model.training, "processes": ctx.world,
        "reused_points": result.reused_points, "key": key, "labels": [],
        "torch_version": torch.__version__, "trajviz_version": __version__,
    }
    out = Grid(alpha, beta,
               result.loss.reshape(shape) if result.loss is not None else nan,
               result.accuracy.reshape(shape) if result.accuracy is not None else nan.copy(),
               plane.centre.numpy(), plane.d1.numpy(), plane.d2.numpy(), meta=meta)
    if save is not None and ctx.main:
        out.save(save)
        Checkpoints(f"{save}.chunks", key).clear()
    return out


__all__ = ["BATCHNORM_MODES", "as_tensors", "batchnorm_mask", "loss_landscape"]
