"""From a model and data to a `Landscape`: trained paths, a plane, the grid, the 1-D view."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from .. import __version__
from ..errors import UsageError
from ..optimizers import OptimizerSpec
from ..resolve import resolve_device
from ..run import Run
from .data import Dataset
from .directions import (
    BIAS_MODES,
    DIRECTIONS,
    Plane,
    Projection,
    choose_centre,
    line,
    pca_plane,
    project,
    random_plane,
)
from .distributed import (
    Checkpoints,
    Context,
    broadcast,
    context,
    evaluate_shared,
    process_group,
)
from .evaluator import DEFAULT_MEMORY_MB, LossFn, Method, PlaneEvaluator
from .grid import Grid, check_grid_size, grid_points
from .train import SEED_SETTINGS, TrainConfig, Training, train

log = logging.getLogger(__name__)
LINE_T = np.linspace(-0.25, 1.25, 31)


@dataclass(frozen=True)
class PlaneConfig:
    """How the plane and its grid are chosen.

    Attributes:
        directions: ``pca`` (of all paths jointly) or ``random`` (filter-normalized).
        bias: one-dimensional parameters in random directions (see `filter_normalize`).
        centre: ``best``, ``init``, ``mean`` or an optimizer label (see `choose_centre`).
        seed: seeds the random directions.
        size: grid points per side.
        extent: ``(alpha_min, alpha_max, beta_min, beta_max)``; by default the paths with
            a margin (PCA) or [-1, 1] on both axes (random, as in Li et al.).
        samples: evaluate the grid on the first this many training images (default: all).
    """

    directions: str = "pca"
    bias: str = "zero"
    centre: str = "best"
    seed: int = 0
    size: int = 41
    extent: tuple[float, float, float, float] | None = None
    samples: int | None = None

    def __post_init__(self) -> None:
        if self.directions not in DIRECTIONS:
            raise UsageError(f"unknown directions {self.directions!r}; valid: "
                             f"{', '.join(DIRECTIONS)}")
        if self.bias not in BIAS_MODES:
            raise UsageError(f"unknown bias handling {self.bias!r}; valid: "
                             f"{', '.join(BIAS_MODES)}")
        check_grid_size(self.size)
        if self.extent is not None:
            a0, a1, b0, b1 = self.extent
            if not (a0 < a1 and b0 < b1) or not np.isfinite(self.extent).all():
                raise UsageError(f"extent must be 'amin,amax,bmin,bmax' with min < max, got "
                                 f"{self.extent}")
        if self.samples is not None and self.samples < 1:
            raise UsageError(f"grid samples must be at least 1, got {self.samples}")


@dataclass(frozen=True, eq=False)
class Landscape:
    """Everything `compute_landscape` made.

    Attributes:
        grid: the grid, paths and 1-D view, as saved to ``.npz``.
        training: the trajectories (full weights).
        projections: each path's projection onto the plane.
        reused: whether the grid values came from a cached file.
        reused_points: grid points taken from the checkpoints of an interrupted run.
        rank: this process's rank under torchrun (only rank 0 has the grid's values).
        world: the number of processes that shared the grid.
    """

    grid: Grid
    training: Training
    projections: tuple[Projection, ...]
    reused: bool = False
    reused_points: int = 0
    rank: int = 0
    world: int = 1

    def to_run(self) -> Run:
        """The projected paths as a `Run` (one trajectory per optimizer, one step per
        record), for `trajviz.plot`: positions in (alpha, beta), loss on the plane."""
        g = self.grid
        pos = g.paths
        n, r = pos.shape[:2]
        loss = np.asarray(g.meta["path_plane_loss"], dtype=float)
        updates = np.diff(pos, axis=1)
        steps = g.path_steps
        valid = steps >= 0
        last = valid.sum(1) - 1
        diverged = np.array([t.diverged_at >= 0 for t in self.training.trajectories])
        lr = np.array([[t.lr] * (r - 1) for t in self.training.trajectories], dtype=float)
        return Run(
            positions=pos, loss=loss, grads=np.full((n, r - 1, 2), np.nan), updates=updates,
            lr=lr, diverged_at=np.where(diverged, last + 1, -1),
            evals=np.ones((n, r - 1), dtype=np.int32),
            meta={"labels": g.labels, "n_starts": 1, "surface": "landscape",
                  "steps": r - 1, "record_steps": g.path_steps.tolist(),
                  "optimizers": self.training.meta["optimizers"]},
        )


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _tensor_hash(*tensors: Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def auto_extent(coords: Sequence[np.ndarray], kind: str) -> tuple[float, float, float, float]:
    """The paths' bounding box with a 25% margin (PCA), or [-1, 1] squared (random)."""
    if kind == "random":
        return (-1.0, 1.0, -1.0, 1.0)
    pts = np.concatenate([c[np.isfinite(c).all(1)] for c in coords])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-3 * max(1.0, float(np.abs(pts).max())))
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def compute_landscape(
    model: nn.Module,
    data: Dataset,
    *,
    optimizers: str | Sequence[str | OptimizerSpec] = SEED_SETTINGS,
    train_config: TrainConfig | None = None,
    plane: PlaneConfig | None = None,
    loss_fn: LossFn = F.cross_entropy,
    device: str | torch.device = "auto",
    method: Method = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    cache: str | os.PathLike[str] | None = None,
    meta: dict[str, Any] | None = None,
    chunk: int | None = None,
    progress: bool | None = None,
) -> Landscape:
    """Trains ``model`` with every optimizer, cuts a plane, evaluates the loss on its grid.

    Args:
        model: the initial model; every optimizer starts from its weights.
        data: training and held-out data (`load_dataset`).
        optimizers: optimizer specs (default: the seed tutorial's eight).
        train_config: iterations, batch size, recording interval, batch-order seed.
        plane: directions, centre, grid size and extent, grid samples.
        loss_fn: ``loss_fn(output, target)``, the batch mean.
        device: ``auto`` uses CUDA when present.
        method: grid evaluation method (see `PlaneEvaluator`).
        memory_mb: working-memory budget for the grid.
        cache: a grid file; reused when it was made from the same inputs (and its plane
            matches the one computed now), else the new grid is written there.
        meta: extra JSON-ready facts for the file (model name, ...).
        chunk: grid points per chunk, the unit of checkpoints and of the ranks' shares
            (default: from ``memory_mb``).
        progress: progress bars (``None``: only on a terminal).
    """
    ctx = context()
    dev = ctx.device(resolve_device(device))
    with process_group(ctx, dev):
        return _compute(model, data, optimizers=optimizers,
                        train_config=train_config or TrainConfig(), plane=plane or PlaneConfig(),
                        loss_fn=loss_fn, dev=dev, ctx=ctx, method=method, memory_mb=memory_mb,
                        cache=cache, meta=meta, chunk=chunk, progress=progress)


def _compute(model: nn.Module, data: Dataset, *, optimizers: str | Sequence[str | OptimizerSpec],
             train_config: TrainConfig, plane: PlaneConfig, loss_fn: LossFn,
             dev: torch.device, ctx: Context, method: Method, memory_mb: float,
             cache: str | os.PathLike[str] | None, meta: dict[str, Any] | None,
             chunk: int | None, progress: bool | None) -> Landscape:
    data = data.to(dev)
    model = model.to(dev)
    training = train(model, optimizers, (data.train_x, data.train_y),
                     (data.test_x, data.test_y), config=train_config, loss_fn=loss_fn,
                     progress=progress)
    trajs = training.trajectories
    n_eval = len(data.train_x) if plane.samples is None else min(plane.samples,
                                                                  len(data.train_x))
    x, y = data.train_x[:n_eval], data.train_y[:n_eval]
    model_cpu = model.cpu() if dev.type != "cpu" else model
    losses = [_mean_loss(model_cpu, t.final, x, y, loss_fn) for t in trajs]
    centre, centre_text = choose_centre(training.init, [t.final for t in trajs],
                                        training.labels, losses, plane.centre)
    if plane.directions == "pca":
        p = pca_plane([t.params for t in trajs], centre)
    else:
        p = random_plane(model_cpu, centre, seed=plane.seed, bias=plane.bias)
    if ctx.active:  # every rank evaluates rank 0's plane, bit for bit
        p = dataclasses.replace(p, centre=broadcast(p.centre, ctx, dev),
                                d1=broadcast(p.d1, ctx, dev), d2=broadcast(p.d2, ctx, dev))
    projections = tuple(project(p, t.params) for t in trajs)
    for t, pr in zip(trajs, projections, strict=True):
        log.info("%s: the plane misses %.1f%% of its movement", t.label,
                 100 * pr.missed_steps)
    extent = plane.extent or auto_extent([pr.coords for pr in projections], p.kind)
    alpha = np.linspace(extent[0], extent[1], plane.size)
    beta = np.linspace(extent[2], extent[3], plane.size)
    evaluator = PlaneEvaluator(model_cpu, p, x, y, loss_fn=loss_fn, device=dev, method=method,
                               memory_mb=memory_mb)

    r = max(len(t.steps) for t in trajs)
    paths = np.full((len(trajs), r, 2), np.nan)
    steps = np.full((len(trajs), r), -1, dtype=np.int64)
    path_loss = np.full((len(trajs), r), np.nan)
    for i, (t, pr) in enumerate(zip(trajs, projections, strict=True)):
        paths[i, :len(t.steps)] = pr.coords
        steps[i, :len(t.steps)] = t.steps
        path_loss[i, :len(t.steps)] = evaluator.evaluate(pr.coords)[0]

    key_facts = {
        "trajviz": __version__, "model": repr(model_cpu), "init": _tensor_hash(training.init),
        "data": data.meta, "eval": _tensor_hash(x, y), "train": training.meta,
        "plane": {**dataclasses.asdict(plane), "extent": extent}, "loss_fn": getattr(
            loss_fn, "__qualname__", repr(loss_fn)),
    }
    key = _hash(key_facts)
    cached = _reuse(cache, key, p)
    reused_points = 0
    if cached is not None:
        loss, acc = cached.loss, cached.accuracy
        log.info("reusing the grid in %s (same model, data, paths and plane)", cache)
    else:
        result = evaluate_shared(evaluator, alpha, beta, ctx,
                                 checkpoint=f"{cache}.chunks" if cache else None, key=key,
                                 chunk=chunk, progress=progress)
        reused_points = result.reused_points
        if reused_points:
            log.warning("resumed: reused %d of %d grid points from the checkpoints in %s",
                        reused_points, plane.size**2, f"{cache}.chunks")
        shape = (plane.size, plane.size)
        loss = (result.loss if ctx.main else np.full(plane.size**2, np.nan)).reshape(shape)
        acc = (result.accuracy if ctx.main else np.full(plane.size**2, np.nan)).reshape(shape)

    line_loss = np.stack([
        PlaneEvaluator(model_cpu, line(training.init, t.final), x, y, loss_fn=loss_fn,
                       device=dev, method=method, memory_mb=memory_mb)
        .evaluate(np.stack([LINE_T, np.zeros_like(LINE_T)], 1))[0] for t in trajs])

    grid_meta = {
        **(meta or {}),
        "key": key, "labels": training.labels, "directions": p.kind,
        "explained": list(p.explained) if p.explained else None,
        "plane": p.meta, "centre": centre_text, "centre_option": plane.centre,
        "bias": plane.bias, "direction_seed": plane.seed, "extent": list(extent),
        "data": data.meta, "grid_samples": n_eval, "train": training.meta,
        "final_accuracy": [t.final_acc for t in trajs],
        "final_loss": losses,
        "missed_steps": [pr.missed_steps for pr in projections],
        "missed_net": [pr.missed_net for pr in projections],
        "path_plane_loss": path_loss.tolist(),
        "test_accuracy": [t.test_acc.tolist() for t in trajs],
        "train_loss": [t.train_loss.tolist() for t in trajs],
        "device": str(dev), "processes": ctx.world, "torch_version": torch.__version__,
        "trajviz_version": __version__,
    }
    grid = Grid(alpha, beta, loss, acc, p.centre.numpy(), p.d1.numpy(), p.d2.numpy(),
                paths, steps, LINE_T.copy(), line_loss, grid_meta)
    if cache is not None and cached is None and ctx.main:
        grid.save(cache)
        Checkpoints(f"{cache}.chunks", key).clear()
    return Landscape(grid, training, projections, reused=cached is not None,
                     reused_points=reused_points, rank=ctx.rank, world=ctx.world)


def _reuse(cache: str | os.PathLike[str] | None, key: str, plane: Plane) -> Grid | None:
    if cache is None or not Path(cache).exists():
        return None
    try:
        old = Grid.load(cache)
    except UsageError as e:
        log.warning("not reusing %s: %s", cache, e)
        return None
    if old.meta.get("key") != key:
        log.info("%s was made from other inputs; computing the grid again", cache)
        return None
    same = all(np.allclose(getattr(old, name), getattr(plane, name).numpy(), rtol=1e-5,
                           atol=1e-7) for name in ("centre", "d1", "d2"))
    if not same:
        log.info("%s has a different plane (training not reproducible here?); computing "
                 "the grid again", cache)
        return None
    return old


def _mean_loss(model: nn.Module, weights: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn,
               block: int = 1000) -> float:
    """The plain mean loss of ``model`` with ``weights`` over ``x``: one forward pass."""
    net = copy.deepcopy(model).to(x.device)
    vector_to_parameters(weights.to(x.device), net.parameters())
    with torch.no_grad():
        total = sum(float(loss_fn(net(x[i:i + block]), y[i:i + block])) * len(y[i:i + block])
                    for i in range(0, len(x), block))
    return total / len(x)


def model_vector(model: nn.Module) -> Tensor:
    """The model's parameters as one flat float32 CPU vector."""
    return parameters_to_vector(model.parameters()).detach().float().cpu()


__all__ = ["Landscape", "PlaneConfig", "auto_extent", "compute_landscape", "grid_points",
           "model_vector"]
