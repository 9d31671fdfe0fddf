"""Basins of attraction: one exact run from every point of a grid over the surface."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from surfaces import Surface

from ..errors import UsageError
from ..optimizers import OptimizerSpec, SchedulerSpec, parse_optimizers, parse_scheduler
from ..provenance import provenance
from ..resolve import resolve_surface
from ._common import (
    chunk_rows,
    load_npz,
    map_settings,
    minima_tensor,
    progress_bar,
    save_npz,
)
from ._loop import check_scheduler, run_chunk

log = logging.getLogger(__name__)
_ARRAYS = ("xs", "ys", "minima", "final", "final_loss", "diverged_at", "converged_at",
           "minimum")


@dataclass(frozen=True, eq=False)
class BasinMap:
    """Per-start outcomes of each optimizer over a grid, shaped like an image.

    Attributes:
        labels: one per optimizer.
        xs, ys: ``(nx,)`` and ``(ny,)`` grid coordinates; start ``[j, i]`` is ``(xs[i], ys[j])``.
        minima: ``(M, 2)`` the surface's known minima (``M`` may be 0).
        final: ``(n_opt, ny, nx, 2)`` last finite position.
        final_loss: ``(n_opt, ny, nx)`` the loss there.
        diverged_at: ``(n_opt, ny, nx)`` first bad step, or -1.
        converged_at: ``(n_opt, ny, nx)`` first step from which the run stays within ``tol``
            of the minimum it ends at (without known minima: from which every update is at
            most ``tol`` long), or -1.
        minimum: ``(n_opt, ny, nx)`` index into ``minima`` of the minimum nearest to
            ``final``, or -1 (diverged, or no known minima).
        steps, tol: the run length and the convergence tolerance (a distance).
        meta: surface, optimizer specs, scheduler, dtype, device, versions.
    """

    labels: list[str]
    xs: np.ndarray
    ys: np.ndarray
    minima: np.ndarray
    final: np.ndarray
    final_loss: np.ndarray
    diverged_at: np.ndarray
    converged_at: np.ndarray
    minimum: np.ndarray
    steps: int
    tol: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return tuple(self.meta["domain"][0]), tuple(self.meta["domain"][1])

    @property
    def converged(self) -> np.ndarray:
        return self.converged_at >= 0

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def fractions(self, k: int) -> dict[str, float]:
        """Share of starts of optimizer ``k`` per outcome: each minimum, not converged,
        diverged."""
        n = self.minimum[k].size
        out = {f"min {m}": float(((self.minimum[k] == m) & self.converged[k]).sum() / n)
               for m in range(len(self.minima))}
        out["converged"] = float(self.converged[k].sum() / n)
        out["diverged"] = float(self.diverged[k].sum() / n)
        out["not converged"] = 1.0 - out["converged"] - out["diverged"]
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes a compressed ``.npz`` (plain NumPy; ``meta`` is a JSON string)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        save_npz(path, "basins", arrays, {**self.meta, "labels": self.labels,
                                          "steps": self.steps, "tol": self.tol})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BasinMap:
        arrays, meta = load_npz(path, "basins", _ARRAYS)
        return cls(labels=list(meta["labels"]), steps=int(meta["steps"]),
                   tol=float(meta["tol"]), meta=meta, **arrays)


def basins(
    surface: Surface | str,
    optimizers: str | Sequence[str | OptimizerSpec],
    *,
    grid: int | tuple[int, int] = 256,
    steps: int = 500,
    domain: tuple[tuple[float, float], tuple[float, float]] | None = None,
    tol: float | None = None,
    scheduler: str | SchedulerSpec | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    seed: int = 0,
    bound: float | None = None,
    memory_mb: float = 512.0,
    progress: bool | None = None,
) -> BasinMap:
    """Runs each optimizer from every cell centre of a grid over the domain.

    Element-wise optimizers advance a whole chunk of starts as one ``(k, 2)`` tensor (see
    `trajviz.run`); chunks are sized so their tensors fit in ``memory_mb``, and each is
    reduced to final position, nearest minimum, steps to converge and divergence step
    before the next, so memory stays bounded for any grid.

    Args:
        surface: a `Surface` or a spec such as ``"himmelblau"``.
        optimizers: specs such as ``"sgd:lr=0.01,adam:lr=0.05"``.
        grid: cells per side, or ``(nx, ny)``.
        steps: optimizer steps per run.
        domain: ``((x0, x1), (y0, y1))``; the surface's plotting domain by default.
        tol: convergence distance (default: a thousandth of the domain's diagonal).
        scheduler: a step-based LR scheduler spec, one instance per optimizer.
        device, dtype, seed, bound: as for `trajviz.run`.
        memory_mb: memory budget of one chunk's tensors.
        progress: show a progress bar (``None``: only on a terminal, after a moment).

    Example:
        >>> m = basins("himmelblau", "adam:lr=0.1", grid=32, steps=200)
        >>> m.minimum.shape
        (1, 32, 32)
    """
    surf = resolve_surface(surface)
    specs = parse_optimizers(optimizers)
    sched = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    check_scheduler(sched)
    cfg = map_settings(surf, steps=steps, tol=tol, bound=bound, device=device, dtype=dtype)
    dev, dt, tol, bound = cfg.device, cfg.dtype, cfg.tol, cfg.bound
    nx, ny = (grid, grid) if isinstance(grid, int) else grid
    if nx < 1 or ny < 1:
        raise UsageError(f"grid must have at least 1 cell per side, got {nx} x {ny}")
    dom = _domain(domain if domain is not None else surf.domain)
    if not surf.minima:
        log.info("%s lists no known minima: runs are told apart by where they end", surf.name)

    xs = _centres(*dom[0], nx)
    ys = _centres(*dom[1], ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx), row j is y = ys[j]
    starts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], -1), dtype=dt, device=dev)
    mins = minima_tensor(surf, dev, dt)
    n = len(starts)
    torch.manual_seed(seed)

    plans = [(spec, chunk_rows(len(surf.minima), dt.itemsize, memory_mb, dev,
                               objects_per_run=not spec.elementwise)) for spec in specs]
    total = sum(steps * -(-n // rows) for _, rows in plans)
    parts: list[list[Any]] = []
    with progress_bar(total, f"basins {surf.name}", progress) as tick:
        for spec, rows in plans:
            if n > rows:
                log.info("%s: %d starts in chunks of %d", spec.label, n, rows)
            chunks = [run_chunk(surf.fn, spec, starts[i:i + rows], steps=steps, scheduler=sched,
                                minima=mins, tol=tol, bound=bound, tick=tick)
                      for i in range(0, n, rows)]
            parts.append(chunks)

    def gather(name: str, *shape: int) -> np.ndarray:
        return np.stack([torch.cat([getattr(c, name) for c in chunks]).numpy().reshape(
            ny, nx, *shape) for chunks in parts])

    meta = {
        "domain": [list(dom[0]), list(dom[1])],
        "optimizers": [s.describe() for s in specs],
        "min_value": surf.min_value,
        **provenance(surf, scheduler=sched, seed=seed, dtype=dt, device=dev, bound=bound),
    }
    return BasinMap(
        labels=[s.label for s in specs], xs=xs, ys=ys,
        minima=np.asarray(surf.minima, dtype=float).reshape(-1, 2),
        final=gather("final", 2), final_loss=gather("final_loss"),
        diverged_at=gather("diverged_at"), converged_at=gather("converged_at"),
        minimum=gather("minimum"), steps=steps, tol=float(tol), meta=meta,
    )


def _domain(dom: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    try:
        (x0, x1), (y0, y1) = ((float(a), float(b)) for a, b in dom)
    except (TypeError, ValueError):
        raise UsageError(f"domain must be ((x0, x1), (y0, y1)), got {dom!r}") from None
    if not (x0 < x1 and y0 < y1) or not np.all(np.isfinite([x0, x1, y0, y1])):
        raise UsageError(f"domain needs finite x0 < x1 and y0 < y1, got {dom!r}")
    return (x0, x1), (y0, y1)


def _centres(lo: float, hi: float, n: int) -> np.ndarray:
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n
