"""From a model and data to a `Landscape`: trained paths, one plane (or one per optimizer),
its grid, the real and the on-plane loss along every path, the 1-D view."""

from __future__ import annotations

import copy
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from .. import __version__
from .._resolve import resolve_device
from ..errors import UsageError
from ..optimizers import OptimizerSpec
from ..run import Run
from ..teaching import NET, NET_BATCH_SIZE, TUTORIAL_ACCURACY, net_optimizers
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
from .distributed import Context, context, process_group
from .evaluator import DEFAULT_MEMORY_MB, LossFn, Method, PlaneEvaluator
from .grid import Grid, check_extent, check_grid_size, grid_points
from .hessian import curvature_extent, hessian_plane
from .models import mlp
from .paths import missed_shares, paths_run
from .slice import digest, evaluate_slice, shared_plane, write_grids
from .train import SEED_SETTINGS, TrainConfig, Training, Trajectory, train

log = logging.getLogger(__name__)
LINE_T = np.linspace(-0.25, 1.25, 31)


@dataclass(frozen=True)
class PlaneConfig:
    """How the plane and its grid are chosen.

    Attributes:
        directions: ``pca`` (of all paths jointly), ``pca-each`` (of each optimizer's own
            path, through its final weights: one plane per optimizer, as in Li et al.),
            ``random`` (filter-normalized) or ``hessian`` (the training loss's top two
            Hessian eigenvectors at the centre).
        bias: one-dimensional parameters in random directions (see `filter_normalize`).
        centre: ``best``, ``init``, ``mean`` or an optimizer label (see `choose_centre`);
            ``pca-each`` planes go through each optimizer's own final weights.
        seed: seeds the random directions (and the Hessian's Lanczos start vector).
        size: grid points per side.
        extent: ``(alpha_min, alpha_max, beta_min, beta_max)``; by default the paths with
            a margin (PCA, Hessian: at least where the curvature lifts the loss by 1) or
            [-1, 1] on both axes (random, as in Li et al.).
        samples: evaluate the grid (and the real loss along the paths) on the first this
            many training images (default: all).
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed < 2**63:
            raise UsageError(f"direction seed must be a whole number from 0 to 2**63 - 1, "
                             f"got {self.seed!r}")
        check_grid_size(self.size)
        if self.extent is not None:
            check_extent(self.extent)
        if self.samples is not None and (isinstance(self.samples, bool) or not isinstance(
                self.samples, (int, np.integer)) or self.samples < 1):
            raise UsageError(f"grid samples must be a whole number, at least 1, got "
                             f"{self.samples!r}")

    def check_centre(self, labels: Sequence[str]) -> None:
        """Refuses an unknown ``centre`` before any training."""
        if self.centre not in ("best", "init", "mean", *labels):
            raise UsageError(f"unknown centre {self.centre!r}; valid: best, init, mean, or an "
                             f"optimizer label ({', '.join(labels)})")


@dataclass(frozen=True, eq=False)
class Landscape:
    """Everything `compute_landscape` made.

    Attributes:
        grids: one `Grid` per plane: a single one, or one per optimizer (``pca-each``,
            each with its own path), with the paths, their losses and update statistics.
        training: the trajectories (full weights).
        projections: per grid, each of its paths' projection onto its plane.
        reused: whether the grid values came from cached files.
        reused_points: grid points taken from the checkpoints of an interrupted run.
        rank: this process's rank under torchrun (only rank 0 has the grid's values).
        world: the number of processes that shared the grid.
    """

    grids: tuple[Grid, ...]
    training: Training
    projections: tuple[tuple[Projection, ...], ...]
    reused: bool = False
    reused_points: int = 0
    rank: int = 0
    world: int = 1

    @property
    def grid(self) -> Grid:
        """The grid (the first one, for ``pca-each``)."""
        return self.grids[0]

    def to_run(self) -> Run:
        """The paths as a `Run` (see `paths_run`), for `trajviz.plot`."""
        return paths_run(self.grids)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows per optimizer: held-out accuracy beside the seed tutorial's
        published number (where the settings are the tutorial's), the mini-batch loss at the
        end, divergence, and what the plane misses of the path."""
        header, rows = self.training.table()
        comparable = self.grids[0].meta.get("tutorial_settings", False)
        tutorial = []
        for t in self.training.trajectories:
            name = t.spec.get("name", "")
            same = (comparable and name in TUTORIAL_ACCURACY
                    and net_optimizers([name])[0].all_kwargs == t.spec.get("kwargs"))
            tutorial.append(f"{TUTORIAL_ACCURACY[name]:.2f}%" if same else "-")
        missed = missed_shares(self.grids)
        header = [header[0], header[1], "tutorial", *header[2:], "plane misses"]
        rows = [[r[0], r[1], tut, *r[2:],
                 f"{100 * missed[r[0]]:.1f}%" if r[0] in missed else "-"]
                for r, tut in zip(rows, tutorial, strict=True)]
        return header, rows


def plane_files(path: str | os.PathLike[str], labels: Sequence[str]) -> list[Path]:
    """Where the grids of a landscape go: ``path`` for one plane; for one plane per
    optimizer, ``<stem>-<k>-<name><suffix>`` beside it (``grid-1-sgd.npz``, ...)."""
    path = Path(path)
    if len(labels) == 1:
        return [path]
    names = [re.sub(r"[^A-Za-z0-9_.]+", "-", label.split("(")[0]).strip("-") or "opt"
             for label in labels]
    return [path.with_name(f"{path.stem}-{k + 1}-{name}{path.suffix}")
            for k, name in enumerate(names)]


def auto_extent(coords: Sequence[np.ndarray], kind: str,
                plane_meta: dict[str, Any] | None = None) -> tuple[float, float, float, float]:
    """The paths' bounding box with a 25% margin (PCA, Hessian), or [-1, 1] squared
    (random). A Hessian plane's box reaches at least where the quadratic model's loss rises
    by 1 along each eigenvector."""
    if kind == "random":
        return (-1.0, 1.0, -1.0, 1.0)
    pts = np.concatenate([c[np.isfinite(c).all(1)] for c in coords])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-3 * max(1.0, float(np.abs(pts).max())))
    lo, hi = lo - 0.25 * span, hi + 0.25 * span
    if kind == "hessian" and plane_meta:
        reach = np.asarray(curvature_extent(plane_meta["eigenvalues"]))
        lo, hi = np.minimum(lo, -reach), np.maximum(hi, reach)
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

    Diverged training (a loss or update that is not finite) is kept up to where it left:
    it is left out of the PCA and of the choice of the centre and the extent, and drawn up
    to its last finite record. If every optimizer diverges there is nothing to draw and a
    `UsageError` says so.

    Args:
        model: the initial model; every optimizer starts from its weights.
        data: training and held-out data (`load_dataset`).
        optimizers: optimizer specs (default: the seed tutorial's eight); one named without
            ``lr`` trains at the tutorial's learning rate where it gave one.
        train_config: iterations, batch size, recording interval, batch-order seed.
        plane: directions, centre, grid size and extent, grid samples.
        loss_fn: ``loss_fn(output, target)``, the batch mean.
        device: ``auto`` uses CUDA when present.
        method: grid evaluation method (see `PlaneEvaluator`).
        memory_mb: working-memory budget for the grid.
        cache: a grid file (for ``pca-each``, one per optimizer: `plane_files`); reused when
            it was made from the same inputs (and its plane matches the one computed now),
            else the new grid is written there.
        meta: extra JSON-ready facts for the file (model name, ...).
        chunk: grid points per chunk, the unit of checkpoints and of the ranks' shares
            (default: from ``memory_mb``).
        progress: progress bars (``None``: only on a terminal).
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a trajviz.landscape.Dataset (from load_dataset, or "
                        f"Dataset(name, train_x, train_y, test_x, test_y, meta)), not "
                        f"{type(data).__name__}; for any data, see trajviz.loss_landscape")
    plane = plane or PlaneConfig()
    train_config = train_config or TrainConfig()
    specs = net_optimizers(optimizers)
    if not specs:
        raise UsageError("no optimizer given")
    plane.check_centre([s.label for s in specs])
    ctx = context()
    dev = ctx.device(resolve_device(device))
    with process_group(ctx, dev):
        return _compute(model, data, specs=specs, train_config=train_config, plane=plane,
                        loss_fn=loss_fn, dev=dev, ctx=ctx, method=method, memory_mb=memory_mb,
                        cache=cache, meta=meta, chunk=chunk, progress=progress)


def _compute(model: nn.Module, data: Dataset, *, specs: list[OptimizerSpec],
             train_config: TrainConfig, plane: PlaneConfig, loss_fn: LossFn,
             dev: torch.device, ctx: Context, method: Method, memory_mb: float,
             cache: str | os.PathLike[str] | None, meta: dict[str, Any] | None,
             chunk: int | None, progress: bool | None) -> Landscape:
    data = data.to(dev)
    model = model.to(dev)
    training = train(model, specs, (data.train_x, data.train_y), (data.test_x, data.test_y),
                     config=train_config, loss_fn=loss_fn, progress=progress)
    trajs = training.trajectories
    if not training.converged:
        raise UsageError("every optimizer diverged (" + ", ".join(
            f"{t.label} at iteration {t.diverged_at}" for t in trajs)
            + "): there is no path to draw; lower the learning rates")
    n_eval = len(data.train_x) if plane.samples is None else min(plane.samples,
                                                                  len(data.train_x))
    x, y = data.train_x[:n_eval], data.train_y[:n_eval]
    model_cpu = model.cpu() if dev.type != "cpu" else model
    real = [_mean_losses(model_cpu, t.params, x, y, loss_fn) for t in trajs]
    centre, centre_text = _centre(training, real, plane.centre)
    jobs = _planes(model_cpu, training, centre, plane, x, y, loss_fn)
    files = plane_files(cache, [trajs[rows[0]].label for _, rows in jobs]) if cache else None
    line_loss = np.stack([
        PlaneEvaluator(model_cpu, line(training.init, t.final), x, y, loss_fn=loss_fn,
                       device=dev, method=method, memory_mb=memory_mb)
        .evaluate(np.stack([LINE_T, np.zeros_like(LINE_T)], 1))[0] for t in trajs])
    common = {
        "model": type(model).__name__, **(meta or {}), "centre_option": plane.centre,
        "bias": plane.bias, "direction_seed": plane.seed, "data": data.meta, "grid_samples": n_eval,
        "train": training.meta, "loss_fn": getattr(loss_fn, "__qualname__", repr(loss_fn)),
        "tutorial_settings": _tutorial_settings(model_cpu, data, train_config, loss_fn),
        "device": str(dev), "processes": ctx.world, "torch_version": torch.__version__,
        "trajviz_version": __version__,
    }
    facts = {"trajviz": __version__, "model": repr(model_cpu), "init": digest(training.init),
             "data": data.meta, "eval": digest(x, y), "train": training.meta,
             "loss_fn": common["loss_fn"], "plane": {
                 k: getattr(plane, k) for k in ("directions", "bias", "centre", "seed", "size",
                                                "samples")}}
    grids, projections, reused, reused_points, to_write = [], [], [], 0, []
    for k, (p, rows) in enumerate(jobs):
        p = shared_plane(p, ctx, dev)
        proj = tuple(project(p, trajs[i].params) for i in rows)
        for i, pr in zip(rows, proj, strict=True):
            log.info("%s: the plane misses %.1f%% of its movement", trajs[i].label,
                     100 * pr.missed_steps)
        kept = [pr.coords for i, pr in zip(rows, proj, strict=True) if not trajs[i].diverged]
        extent = plane.extent or auto_extent(kept or [pr.coords for pr in proj], p.kind,
                                             p.meta)
        key = digest({**facts, "extent": list(extent), "plane_index": k,
                      "plane_meta": p.meta})
        path = files[k] if files else None
        cached = _reuse(path, key, p)
        if cached is not None:
            log.info("reusing the grid in %s (same model, data, paths and plane)", path)
            loss, acc = cached.loss, cached.accuracy
            evaluator = PlaneEvaluator(model_cpu, p, x, y, loss_fn=loss_fn, device=dev,
                                       method=method, memory_mb=memory_mb)
            alpha, beta = cached.alpha, cached.beta
        else:
            values = evaluate_slice(model_cpu, p, x, y, extent=extent, size=plane.size,
                                    loss_fn=loss_fn, device=dev, ctx=ctx, method=method,
                                    memory_mb=memory_mb, save=path, key=key, chunk=chunk,
                                    progress=progress)
            loss, acc, evaluator = values.loss, values.accuracy, values.evaluator
            alpha, beta = values.alpha, values.beta
            reused_points += values.reused_points
        grid = _grid(training, rows, proj, p, evaluator, real, line_loss, alpha, beta, loss,
                     acc, {**common, "key": key, "centre": centre_text, "extent": list(extent),
                           "plane_index": k, "planes": len(jobs)})
        grids.append(grid)
        projections.append(proj)
        reused.append(cached is not None)
        if cached is None and path is not None:
            to_write.append((grid, path))
    write_grids([g for g, _ in to_write], [p for _, p in to_write], ctx)
    return Landscape(tuple(grids), training, tuple(projections), reused=all(reused),
                     reused_points=reused_points, rank=ctx.rank, world=ctx.world)


def _centre(training: Training, real: list[np.ndarray], option: str) -> tuple[Tensor, str]:
    """The plane's centre among the optimizers that did not diverge (`choose_centre`)."""
    trajs = training.trajectories
    if option in training.labels:
        return choose_centre(training.init, [t.final for t in trajs], training.labels,
                             [r[-1] for r in real], option)
    kept = training.converged
    return choose_centre(training.init, [trajs[i].final for i in kept],
                         [trajs[i].label for i in kept], [real[i][-1] for i in kept], option)


def _planes(model: nn.Module, training: Training, centre: Tensor, config: PlaneConfig,
            x: Tensor, y: Tensor, loss_fn: LossFn) -> list[tuple[Plane, list[int]]]:
    """Each plane with the rows of the trajectories drawn on it."""
    trajs, kept = training.trajectories, training.converged
    left_out = [trajs[i].label for i in range(len(trajs)) if i not in kept]
    everyone = list(range(len(trajs)))
    if config.directions == "pca-each":
        jobs = []
        for i in kept:
            p = pca_plane([trajs[i].params], trajs[i].final)
            jobs.append((Plane(p.centre, p.d1, p.d2, "pca-each", p.explained, {
                **p.meta, "optimizer": trajs[i].label,
                "made": "PCA of this optimizer's recorded weights (mean-centred), through "
                        "its final weights"}), [i]))
        return jobs
    if config.directions == "pca":
        p = pca_plane([trajs[i].params for i in kept], centre)
        return [(Plane(p.centre, p.d1, p.d2, p.kind, p.explained, {
            **p.meta, "optimizers": [trajs[i].label for i in kept], "left_out": left_out,
            "made": "PCA of the recorded weights of every path that did not diverge, "
                    "jointly (mean-centred)"}), everyone)]
    if config.directions == "hessian":
        p = hessian_plane(model, centre, x, y, loss_fn, seed=config.seed)
        return [(Plane(p.centre, p.d1, p.d2, p.kind, None, {
            **p.meta, "made": "top two eigenvectors of the Hessian of the loss on the grid's "
                              "data at the centre (Lanczos on Hessian-vector products)"}),
                 everyone)]
    p = random_plane(model, centre, seed=config.seed, bias=config.bias)
    return [(Plane(p.centre, p.d1, p.d2, p.kind, None, {
        **p.meta, "made": "two seeded Gaussian directions, filter-normalized against the "
                          "centre"}), everyone)]


def _grid(training: Training, rows: list[int], proj: tuple[Projection, ...], p: Plane,
          evaluator: PlaneEvaluator, real: list[np.ndarray], line_loss: np.ndarray,
          alpha: np.ndarray, beta: np.ndarray, loss: np.ndarray, acc: np.ndarray,
          meta: dict[str, Any]) -> Grid:
    """The grid of one plane with the paths drawn on it (rows of the training)."""
    trajs: list[Trajectory] = [training.trajectories[i] for i in rows]
    r = max(len(t.steps) for t in trajs)
    n, its = len(trajs), training.config.iterations

    def padded(values: Sequence[np.ndarray], fill: float = np.nan, dtype: type = float
               ) -> np.ndarray:
        out = np.full((n, r), fill, dtype=dtype)
        for k, v in enumerate(values):
            out[k, :len(v)] = v
        return out

    paths = np.full((n, r, 2), np.nan)
    for k, pr in enumerate(proj):
        paths[k, :len(pr.coords)] = pr.coords
    plane_loss = padded([evaluator.evaluate(pr.coords)[0] for pr in proj])
    per_iter = {name: np.stack([getattr(t, name)[:its] for t in trajs])
                for name in ("train_loss", "update_norm", "sign_share")}
    meta = {
        **meta, "labels": [t.label for t in trajs], "directions": p.kind,
        "explained": list(p.explained) if p.explained else None, "plane": p.meta,
        "optimizers": [t.spec for t in trajs], "lr": [t.lr for t in trajs],
        "diverged_at": [t.diverged_at for t in trajs],
        "final_accuracy": [t.final_acc for t in trajs],
        "final_loss": [float(real[i][-1]) for i in rows],
        "missed_steps": [pr.missed_steps for pr in proj],
        "missed_net": [pr.missed_net for pr in proj],
    }
    return Grid(alpha, beta, loss, acc, p.centre.numpy(), p.d1.numpy(), p.d2.numpy(),
                paths=paths, path_steps=padded([t.steps for t in trajs], -1, np.int64),
                line_t=LINE_T.copy(), line_loss=line_loss[rows],
                path_loss=padded([real[i] for i in rows]), path_plane_loss=plane_loss,
                path_accuracy=padded([t.test_acc for t in trajs]), meta=meta, **per_iter)


def _tutorial_settings(model: nn.Module, data: Dataset, config: TrainConfig,
                       loss_fn: LossFn) -> bool:
    """Whether this is the seed tutorial's set-up (its 784-100-10 net on MNIST, batch 100,
    3000 iterations, cross-entropy), so that its published accuracies compare."""
    return (repr(model) == repr(mlp()) and data.name == "mnist" and loss_fn is F.cross_entropy
            and config.iterations == NET.steps and config.batch_size == NET_BATCH_SIZE)


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


def _mean_losses(model: nn.Module, weights: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn,
                 block: int = 1000) -> np.ndarray:
    """The plain mean loss of ``model`` at each row of ``weights`` ``(r, n)`` over ``x``,
    in the grid's mode (BatchNorm on its running statistics): one forward pass each."""
    net = copy.deepcopy(model).to(x.device)
    for m in net.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
    out = np.empty(len(weights))
    with torch.no_grad():
        for k, w in enumerate(weights):
            vector_to_parameters(w.to(x.device), net.parameters())
            out[k] = sum(float(loss_fn(net(x[i:i + block]), y[i:i + block]))
                         * len(y[i:i + block]) for i in range(0, len(x), block)) / len(x)
    return out


def model_vector(model: nn.Module) -> Tensor:
    """The model's parameters as one flat float32 CPU vector."""
    return parameters_to_vector(model.parameters()).detach().float().cpu()


__all__ = ["Landscape", "PlaneConfig", "auto_extent", "compute_landscape", "grid_points",
           "model_vector", "plane_files"]
