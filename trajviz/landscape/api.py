"""`loss_landscape`: the grid of any ``nn.Module``, any data and any loss, in one call.

Runs unchanged under ``torchrun`` (the grid's points are shared among the ranks, rank 0
gathers them and alone writes ``save``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import uuid
from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from .. import __version__
from .._resolve import resolve_device
from ..errors import UsageError, UsageTypeError, guarded, user_code
from .directions import BiasMode, Plane, random_plane
from .distributed import context, process_group
from .evaluator import DEFAULT_MEMORY_MB, LossFn, Method, is_cross_entropy
from .grid import Grid, check_extent, check_grid_size
from .hessian import curvature_extent, hessian_plane
from .identity import describe
from .pipeline import model_vector
from .slice import digest, evaluate_slice, shared_plane, write_grids

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


def check_model(model: Any, loss_fn: Any) -> None:
    """A module with parameters (the plane varies them) and a callable loss."""
    if not isinstance(model, nn.Module):
        raise UsageTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.numel() for p in model.parameters()):
        raise UsageError(f"the model ({type(model).__name__}) has no parameters: a loss "
                         "landscape varies a model's weights")
    if not callable(loss_fn):
        raise UsageTypeError(f"loss_fn must be a callable loss_fn(output, target), got "
                             f"{type(loss_fn).__name__}")


def probe_model(model: nn.Module, x: Tensor, device: torch.device) -> None:
    """One forward pass on the first sample, on a copy (the model is left as it was), so
    that a model that fails on this data is reported as the user's before any work.
    BatchNorm uses its running statistics, as in the evaluation."""
    if len(x) == 0:
        return  # the evaluator names the empty data
    # (the global random state too: a forward pass that draws must not shift later draws)
    with user_code("model", _name(model)), torch.random.fork_rng(devices=[]):
        net = copy.deepcopy(model).to(device)
        for m in net.modules():
            if isinstance(m, _BatchNorm):
                m.eval()
        with torch.no_grad():
            net(x[:1].to(device))


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


UNIQUE = "unique-"  # starts a key that no other run shares: its checkpoints are never reused


def checkpoint_key(plane: Plane, x: Tensor, y: Tensor, facts: list[Any], model: nn.Module,
                   loss_fn: LossFn, save: str | os.PathLike[str]) -> str:
    """What a checkpointed chunk must match: the plane, the data, the grid, and the model
    and loss described by their types and state (`describe`). A model or loss that cannot
    be described gets a key of its own: its chunks are written but never reused."""
    model_id, loss_id = describe(model), describe(loss_fn)
    if model_id is None or loss_id is None:
        what = "model" if model_id is None else "loss"
        log.warning("the checkpoints in %s.chunks will not be reused by a rerun: the %s "
                    "cannot be identified across runs (a lambda, closure, partial, or state "
                    "that is not plain data); define it at a module's top level", save, what)
        return UNIQUE + uuid.uuid4().hex
    return digest(plane.centre, plane.d1, plane.d2, x, y, [*facts, model_id, loss_id])


def loss_landscape(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    directions: str | Plane = "random",
    grid: int = 41,
    extent: tuple[float, float, float, float] | None = None,
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
        directions: ``random`` (filter-normalized, seeded), ``hessian`` (the top two
            eigenvectors of the Hessian of ``loss_fn`` on ``data`` at the model's weights,
            eigenvalues in ``meta["plane"]``) or a `Plane`.
        grid: points per side.
        extent: ``(alpha_min, alpha_max, beta_min, beta_max)``; default [-1, 1] on both
            axes, for ``hessian`` where the quadratic model's loss rises by 1.
        seed: seeds the random directions (the Lanczos start vector for ``hessian``).
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
    check_model(model, loss_fn)
    if batchnorm not in BATCHNORM_MODES:
        raise UsageError(f"unknown batchnorm handling {batchnorm!r}; valid: "
                         f"{', '.join(BATCHNORM_MODES)}")
    check_grid_size(grid)
    if extent is not None:
        extent = check_extent(extent)
    ctx = context()
    dev = ctx.device(resolve_device(device))
    x, y = as_tensors(data, limit=samples)
    probe_model(model, x, dev)
    user_loss = loss_fn
    if not is_cross_entropy(loss_fn):  # the in-place cross-entropy does not call it
        loss_fn = guarded(loss_fn, "loss", _name(loss_fn))
    centre = model_vector(model)
    if isinstance(directions, Plane):
        plane = directions
    elif directions == "random":
        plane = random_plane(model, centre, seed=seed, bias=bias)
        plane = dataclasses.replace(plane, meta={
            **plane.meta, "made": "two seeded Gaussian directions, filter-normalized against "
                                  "the model's weights"})
    elif directions == "hessian":
        plane = hessian_plane(model, centre, x.to(dev), y.to(dev), loss_fn, seed=seed)
        plane = dataclasses.replace(plane, meta={
            **plane.meta, "made": "top two eigenvectors of the Hessian of the loss on the data "
                                  "at the model's weights (Lanczos on Hessian-vector products)"})
    else:
        raise UsageError(f"unknown directions {directions!r}; valid: random, hessian, or a "
                         "Plane (PCA planes come from training paths: compute_landscape)")
    if extent is None:
        reach = (curvature_extent(plane.meta["eigenvalues"]) if plane.kind == "hessian"
                 else (1.0, 1.0))
        extent = (-reach[0], reach[0], -reach[1], reach[1])
    if batchnorm == "exclude":
        mask = batchnorm_mask(model)
        plane = dataclasses.replace(plane, d1=plane.d1.masked_fill(mask, 0),
                                    d2=plane.d2.masked_fill(mask, 0))
    with process_group(ctx, dev):
        plane = shared_plane(plane, ctx, dev)
        mode = not model.training
        # what a checkpointed chunk must match; hashing the data costs time, so only to save
        key = "" if save is None else checkpoint_key(plane, x, y, [
            grid, list(extent), mode], model, user_loss, save)
        values = evaluate_slice(model, plane, x, y, extent=extent, size=grid, loss_fn=loss_fn,
                                device=dev, ctx=ctx, method=method, memory_mb=memory_mb,
                                save=save, key=key, chunk=chunk, progress=progress)
    meta: dict[str, Any] = {
        "model": type(model).__name__, "directions": plane.kind, "plane": plane.meta,
        "bias": bias, "batchnorm": batchnorm, "direction_seed": seed, "extent": list(extent),
        "grid_samples": len(x),
        "loss_fn": getattr(user_loss, "__qualname__", repr(user_loss)),
        "eval_mode": mode, "processes": ctx.world, "reused_points": values.reused_points,
        "labels": [], "torch_version": torch.__version__, **({"key": key} if key else {}),
        **({"resumable": not key.startswith(UNIQUE)} if key else {}),
        "trajviz_version": __version__,
    }
    out = Grid(values.alpha, values.beta, values.loss, values.accuracy, plane.centre.numpy(),
               plane.d1.numpy(), plane.d2.numpy(), meta=meta)
    if save is not None:
        write_grids([out], [save], ctx)
    return out


__all__ = ["BATCHNORM_MODES", "as_tensors", "batchnorm_mask", "loss_landscape"]
