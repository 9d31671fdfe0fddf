"""Basins of attraction: one exact run from every point of a grid over the surface."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from surfaces import Surface

from .._io import FLOAT, Field, check_strings, invalid
from .._stepper import Block
from ..checks import check_memory, number, shown
from ..errors import UsageError, UsageTypeError
from ..optimizers import OptimizerSpec, SchedulerSpec, parse_optimizers
from ._common import RESULT_BYTES_PER_RUN, load_npz, map_settings, progress_bar, save_npz
from ._loop import run_chunk
from ._outcomes import Outcomes, joined, outcome_fields

log = logging.getLogger(__name__)
_GRID_FIELDS = {
    "xs": Field(FLOAT, ("nx",)),
    "ys": Field(FLOAT, ("ny",)),
    "minima": Field(FLOAT, ("m", 2)),
}
_FIELDS = {**_GRID_FIELDS, **outcome_fields("k", "ny", "nx")}


@dataclass(frozen=True)
class BasinSummary:
    """One optimizer's outcomes over the grid, as shares of its starts.

    Attributes:
        label: the optimizer.
        converged: converged to a known minimum (or, without known minima, settled).
        per_minimum: converged to each known minimum, in the order of ``minima``.
        not_converged, diverged: neither converged nor diverged; diverged.
        median_steps: steps to converge of the converged starts (their upper median), or
            ``None`` when none converged.
    """

    label: str
    converged: float
    per_minimum: tuple[float, ...]
    not_converged: float
    diverged: float
    median_steps: int | None


@dataclass(frozen=True, eq=False)
class BasinMap(Outcomes):
    """Per-start outcomes of each optimizer over a grid, shaped like an image.

    The `Outcomes` arrays are ``(n_opt, ny, nx)`` (``final`` ``(n_opt, ny, nx, 2)``);
    ``minimum`` indexes ``minima``.

    Attributes:
        labels: one per optimizer.
        xs, ys: ``(nx,)`` and ``(ny,)`` grid coordinates; start ``[j, i]`` is ``(xs[i], ys[j])``.
        minima: ``(M, 2)`` the surface's known minima (``M`` may be 0).
    """

    labels: list[str]
    xs: np.ndarray
    ys: np.ndarray
    minima: np.ndarray

    @property
    def domain(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return tuple(self.meta["domain"][0]), tuple(self.meta["domain"][1])

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

    def summary(self) -> list[BasinSummary]:
        """Each optimizer's shares of outcomes and median steps to converge."""
        out = []
        for k, label in enumerate(self.labels):
            frac = self.fractions(k)
            steps = np.sort(self.converged_at[k][self.converged[k]])
            out.append(BasinSummary(
                label=label, converged=frac["converged"],
                per_minimum=tuple(frac[f"min {m}"] for m in range(len(self.minima))),
                not_converged=frac["not converged"], diverged=frac["diverged"],
                median_steps=int(steps[len(steps) // 2]) if steps.size else None))
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes a compressed ``.npz`` (plain NumPy; ``meta`` is a JSON string)."""
        arrays = {name: getattr(self, name) for name in _GRID_FIELDS} | self.outcome_arrays()
        save_npz(path, "basins", arrays, {**self.meta, "labels": self.labels,
                                          "steps": self.steps, "tol": self.tol})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BasinMap:
        """Reads a basins file as untrusted data (see `trajviz._io.load_npz`)."""
        f = load_npz(path, "basins", _FIELDS, {"labels": list, "domain": list})
        meta, a = f.meta, f.arrays
        labels = check_strings(meta["labels"], f.dims["k"], "meta 'labels'", "basins", path)
        try:
            _domain(meta["domain"])
        except UsageError as e:
            raise invalid("basins", path, f"meta 'domain': {e}") from None
        if ((a["minimum"] < -1) | (a["minimum"] >= f.dims["m"])).any():
            raise invalid("basins", path, f"minimum must be -1 or an index below the "
                          f"{f.dims['m']} minima")
        return cls(labels=labels, steps=meta["steps"], tol=float(meta["tol"]), meta=meta, **a)


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
    cfg = map_settings(surface, steps=steps, tol=tol, scheduler=scheduler, device=device,
                       dtype=dtype, seed=seed, bound=bound, memory_mb=memory_mb)
    surf = cfg.surface
    nx, ny = _grid(grid)
    specs = parse_optimizers(optimizers)
    check_memory(f"a basin map of {nx} x {ny} starts for {len(specs)} optimizer(s)",
                 nx * ny * (48 + RESULT_BYTES_PER_RUN * len(specs)))
    dom = _domain(domain if domain is not None else surf.domain)
    if not surf.minima:
        log.info("%s lists no known minima: runs are told apart by where they end", surf.name)

    xs = _centres(*dom[0], nx)
    ys = _centres(*dom[1], ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx), row j is y = ys[j]
    starts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], -1), dtype=cfg.dtype,
                          device=cfg.device)
    n = len(starts)
    torch.manual_seed(cfg.seed)

    plans = [(spec, cfg.chunk_rows(objects_per_run=not spec.elementwise)) for spec in specs]
    total = sum(cfg.steps * -(-n // rows) for _, rows in plans)
    chunks: list[Outcomes] = []  # optimizer by optimizer, each in order of starts
    with progress_bar(total, f"basins {surf.name}", progress) as tick:
        for spec, rows in plans:
            if n > rows:
                log.info("%s: %d starts in chunks of %d", spec.label, n, rows)
            chunks += [run_chunk(cfg, [Block(spec, slice(0, len(x0)))], x0, tick)
                       for x0 in starts.split(rows)]

    meta = {
        "domain": [list(dom[0]), list(dom[1])],
        "optimizers": [s.describe() for s in specs],
        "min_value": surf.min_value,
        **cfg.provenance(),
    }
    return BasinMap(
        labels=[s.label for s in specs], xs=xs, ys=ys,
        minima=np.asarray(surf.minima, dtype=float).reshape(-1, 2),
        **joined(chunks, len(specs), ny, nx), steps=cfg.steps, tol=float(cfg.tol), meta=meta,
    )


def _grid(grid: Any) -> tuple[int, int]:
    """``N`` or ``(nx, ny)`` cells, each at least 1."""
    pair = isinstance(grid, (tuple, list))
    if isinstance(grid, (str, bytes)) or (pair and len(grid) != 2):
        raise UsageTypeError(f"grid must be an integer N or a pair (nx, ny), got {shown(grid)}")
    nx, ny = grid if pair else (grid, grid)
    return (number(nx, "grid cells along x", integer=True, lo=1),
            number(ny, "grid cells along y", integer=True, lo=1))


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
