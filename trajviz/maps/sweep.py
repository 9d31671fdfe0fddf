"""Hyperparameter sweeps: every combination of one or two swept values, from one start.

Each combination is a different setting of the same optimizer class. For an element-wise
optimizer (`OptimizerSpec.elementwise`) every combination is a param group of one
optimizer, which is exact: torch applies a group's hyperparameters to its own parameters
only. A group's Python cost per step is the optimizer's own loop over groups; the runs
share one position buffer (each parameter is a view into it), so the loss and gradient of
all combinations still take one batched forward and backward pass. Other optimizers get
one instance per combination.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from surfaces import Surface

from .._io import FLOAT, Field, invalid
from .._stepper import Block
from ..checks import check_memory
from ..errors import UsageError, UsageTypeError
from ..optimizers import OptimizerSpec, SchedulerSpec, parse_optimizers
from ._common import RESULT_BYTES_PER_RUN, load_npz, map_settings, progress_bar, save_npz
from ._loop import run_chunk
from ._outcomes import OUTCOME_ARRAYS, Outcomes, joined, outcome_fields
from .params import ParamAxis, combinations, grid_shape, parse_param, swept_kwargs

log = logging.getLogger(__name__)
_FIELDS = {
    **outcome_fields("rows", "cols"),
    "values_0": Field(FLOAT, ("cols",), required=False),
    "values_1": Field(FLOAT, ("rows",), required=False),
}
# A setting's keyword arguments and values as Python objects, before it runs in a chunk.
_BYTES_PER_SETTING = 512


@dataclass(frozen=True)
class SweepSummary:
    """A sweep's outcomes at a glance.

    Attributes:
        runs: the number of settings run.
        diverged, converged: the shares of runs that diverged and that converged.
        best: the swept values of the run with the lowest final loss among those that did
            not diverge (`SweepMap.best`), or ``None`` when every run diverged.
        best_loss: that run's final loss, or ``None``.
    """

    runs: int
    diverged: float
    converged: float
    best: dict[str, Any] | None
    best_loss: float | None


@dataclass(frozen=True, eq=False)
class SweepMap(Outcomes):
    """Outcomes of every combination, shaped like an image: ``(rows, columns)`` with the
    first swept parameter along the columns and the second (if any) along the rows.

    The `Outcomes` arrays are ``(rows, columns)`` (``final`` with a trailing 2).

    Attributes:
        axes: the swept parameters and their values.
        label: the optimizer spec the sweep starts from.
        start: the start point every run shares.
    """

    axes: tuple[ParamAxis, ...]
    label: str
    start: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.final_loss.shape

    def value(self, row: int, col: int) -> dict[str, Any]:
        """The swept values of cell ``[row, col]``: ``{"lr": 0.01, "betas[0]": 0.9}``."""
        out = {self.axes[0].label: self.axes[0].values[col]}
        if len(self.axes) == 2:
            out[self.axes[1].label] = self.axes[1].values[row]
        return out

    def best(self) -> tuple[int, int]:
        """The cell with the lowest final loss among the runs that did not diverge."""
        loss = np.where(self.diverged, np.inf, self.final_loss)
        loss = np.where(np.isnan(loss), np.inf, loss)
        row, col = np.unravel_index(np.argmin(loss), loss.shape)
        return int(row), int(col)

    def summary(self) -> SweepSummary:
        """The shares of runs that diverged and converged, and the best run (`best`)."""
        best = best_loss = None
        if not self.diverged.all():
            row, col = self.best()
            best, best_loss = self.value(row, col), float(self.final_loss[row, col])
        return SweepSummary(int(self.final_loss.size), float(self.diverged.mean()),
                            float(self.converged.mean()), best, best_loss)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes a compressed ``.npz``; each axis's values are an array ``values_<i>``."""
        arrays = self.outcome_arrays()
        axes = []
        for i, axis in enumerate(self.axes):
            if axis.numeric:
                arrays[f"values_{i}"] = np.asarray(axis.values, dtype=float)
            axes.append({"name": axis.name, "index": axis.index, "log": axis.log,
                         "values": list(axis.values) if not axis.numeric else None})
        save_npz(path, "sweep", arrays, {**self.meta, "axes": axes, "label": self.label,
                                         "start": list(self.start), "steps": self.steps,
                                         "tol": self.tol})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SweepMap:
        """Reads a sweep file as untrusted data (see `trajviz._io.load_npz`)."""
        f = load_npz(path, "sweep", _FIELDS, {"axes": list, "label": str, "start": list})
        meta, arrays = f.meta, f.arrays
        sizes = (f.dims["cols"], f.dims["rows"])
        if not 1 <= len(meta["axes"]) <= 2 or (len(meta["axes"]) == 1 and sizes[1] != 1):
            raise invalid("sweep", path, f"meta 'axes' must describe the {sizes[0]} columns "
                          f"and {sizes[1]} rows")
        axes = tuple(_load_axis(a, arrays.get(f"values_{i}"), sizes[i], path)
                     for i, a in enumerate(meta["axes"]))
        start = meta["start"]
        if not (len(start) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                        for v in start)):
            raise invalid("sweep", path, "meta 'start' must be a point [x, y]")
        return cls(axes=axes, label=meta["label"], start=(float(start[0]), float(start[1])),
                   steps=meta["steps"], tol=float(meta["tol"]), meta=meta,
                   **{name: arrays[name] for name in OUTCOME_ARRAYS})


def _load_axis(a: Any, stored: np.ndarray | None, size: int,
               path: str | os.PathLike[str]) -> ParamAxis:
    """One swept axis from a file's meta (and its ``values_<i>`` array when numeric)."""
    ok = (isinstance(a, dict) and isinstance(a.get("name"), str)
          and (a.get("index") is None or isinstance(a.get("index"), int))
          and isinstance(a.get("log"), bool))
    values = a.get("values") if ok else None
    if values is None and stored is not None:
        values = stored.tolist()
    if not ok or not isinstance(values, list) or len(values) != size:
        raise invalid("sweep", path, f"meta 'axes' entries must be objects with a name, an "
                      f"index, a log flag and {size} values")
    return ParamAxis(a["name"], tuple(values), a["index"], a["log"])


def sweep(
    surface: Surface | str,
    optimizer: str | OptimizerSpec,
    params: Sequence[str | ParamAxis],
    *,
    steps: int = 500,
    start: Sequence[float] | None = None,
    tol: float | None = None,
    scheduler: str | SchedulerSpec | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    seed: int = 0,
    bound: float | None = None,
    memory_mb: float = 512.0,
    progress: bool | None = None,
) -> SweepMap:
    """Runs ``optimizer`` with every combination of the swept values, from one start.

    Args:
        surface: a `Surface` or a spec such as ``"rosenbrock"``.
        optimizer: one spec, e.g. ``"adam"`` or ``"sgd:momentum=0.9"``; swept values
            override its hyperparameters.
        params: one or two axes, e.g. ``["lr=1e-4:1:log:64", "betas[0]=0.5:0.999:64"]``.
        steps: optimizer steps per run.
        start: the start point (default: the surface's teaching start).
        tol, scheduler, device, dtype, seed, bound, memory_mb, progress: as for `basins`.

    Example:
        >>> s = sweep("quadratic:kappa=10", "sgd", ["lr=0.01:0.5:log:8"], steps=100)
        >>> s.shape
        (1, 8)
    """
    cfg = map_settings(surface, steps=steps, tol=tol, scheduler=scheduler, device=device,
                       dtype=dtype, seed=seed, bound=bound, memory_mb=memory_mb)
    surf = cfg.surface
    (spec,) = _one_optimizer(optimizer)
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise UsageTypeError(f"params must be a list of one or two axes such as "
                             f"['lr=1e-4:1:log:64'], got {type(params).__name__}")
    axes = tuple(p if isinstance(p, ParamAxis) else parse_param(p) for p in params)
    check_memory(f"a sweep of {combinations(axes)} settings",
                 combinations(axes) * (_BYTES_PER_SETTING + RESULT_BYTES_PER_RUN))
    combos = swept_kwargs(spec, axes)
    try:
        x0 = tuple(float(v) for v in (surf.start if start is None else start))
    except (TypeError, ValueError):
        x0 = ()
    if isinstance(start, str) or len(x0) != 2 or not np.all(np.isfinite(x0)):
        raise UsageError(f"start must be a finite point (x, y), got {start!r}")
    n = len(combos)
    rows = cfg.chunk_rows(objects_per_run=True)
    starts = torch.tensor([x0], dtype=cfg.dtype, device=cfg.device).repeat(min(n, rows), 1)
    torch.manual_seed(cfg.seed)
    if n > rows:
        log.info("%d combinations in chunks of %d", n, rows)

    chunks: list[Outcomes] = []
    with progress_bar(cfg.steps * -(-n // rows), f"sweep {spec.name}", progress) as tick:
        for i in range(0, n, rows):
            part = combos[i:i + rows]  # a block (a param group, or an optimizer) each
            blocks = [Block(spec.with_kwargs(**kw), slice(j, j + 1)) for j, kw in enumerate(part)]
            chunks.append(run_chunk(cfg, blocks, starts[:len(part)], tick))

    meta = {
        "optimizer": spec.describe(),
        "minima": [list(m) for m in surf.minima],
        "min_value": surf.min_value,
        **cfg.provenance(),
    }
    return SweepMap(axes=axes, label=spec.label, start=x0, **joined(chunks, *grid_shape(axes)),
                    steps=cfg.steps, tol=float(cfg.tol), meta=meta)


def _one_optimizer(optimizer: str | OptimizerSpec) -> list[OptimizerSpec]:
    specs = parse_optimizers(optimizer if isinstance(optimizer, str) else [optimizer])
    if len(specs) != 1:
        raise UsageError(f"a sweep takes one optimizer, got {len(specs)}: "
                         f"{', '.join(s.label for s in specs)}")
    return specs
