"""The loss on a G x G grid of a plane, and its ``.npz`` file.

Grid point ``k`` is row ``k // G``, column ``k % G``: ``(alpha[k % G], beta[k // G])``, so
``loss[i, j]`` is the loss at ``(alpha[j], beta[i])`` (what ``contour(alpha, beta, loss)``
expects). `evaluate_grid` evaluates any contiguous range of points, the unit in which
several processes share a grid and in which progress is checkpointed.

The file holds ``alpha``, ``beta``, ``loss``, ``accuracy``, the plane (``centre``, ``d1``,
``d2`` as flat float32 in ``parameters_to_vector`` order), the projected paths and a JSON
``meta``: ``centre + alpha[j] * d1 + beta[i] * d2`` are the weights of ``loss[i, j]``.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .._io import FLOAT, INT, Field, check_strings, invalid, load_npz, save_npz
from ..checks import check_text
from ..errors import UsageError, UsageTypeError
from .directions import Plane
from .evaluator import PlaneEvaluator

log = logging.getLogger(__name__)
FIELDS = {
    "alpha": Field(FLOAT, ("g",)),
    "beta": Field(FLOAT, ("b",)),
    "loss": Field(FLOAT, ("b", "g")),
    "accuracy": Field(FLOAT, ("b", "g")),
    "centre": Field(FLOAT, ("p",)),
    "d1": Field(FLOAT, ("p",)),
    "d2": Field(FLOAT, ("p",)),
    "paths": Field(FLOAT, ("n", "r", 2)),
    "path_steps": Field(INT, ("n", "r")),
    "line_t": Field(FLOAT, ("m",)),
    "line_loss": Field(FLOAT, ("l", "m")),
    # per path and record, and per path and iteration: (n, ...), or (0, 0) when not computed
    **{name: Field(FLOAT, (f"{name}_rows", f"{name}_cols"))
       for name in ("path_loss", "path_plane_loss", "path_accuracy", "train_loss",
                    "update_norm", "sign_share")},
}
ARRAYS = tuple(FIELDS)
PER_RECORD = ("path_loss", "path_plane_loss", "path_accuracy")
PER_ITERATION = ("train_loss", "update_norm", "sign_share")
MAX_GRID = 4096
# an axis of the extent spans more than MIN_SPAN and less than MAX_SPAN, and more than
# MIN_RELATIVE_SPAN of its largest value: its grid points are distinct, finite numbers
MIN_SPAN, MAX_SPAN, MIN_RELATIVE_SPAN = 1e-12, 1e12, 1e-9


@dataclass(frozen=True, eq=False)
class Grid:
    """Loss and accuracy on a plane, with the paths projected onto it.

    Attributes:
        alpha, beta: ``(G,)`` coordinates along ``d1`` and ``d2``.
        loss, accuracy: ``(G, G)``; ``[i, j]`` is at ``(alpha[j], beta[i])``.
        centre, d1, d2: the plane, flat float32 in ``parameters_to_vector`` order.
        paths: ``(n, r, 2)`` each training path's (alpha, beta), NaN-padded.
        path_steps: ``(n, r)`` the training step of each path point (-1 for padding).
        line_t, line_loss: the 1-D view, loss at ``init + t * (final - init)`` for each
            path (``(m,)`` and ``(n, m)``; empty when not computed).
        path_loss: ``(n, r)`` the real loss (all weights) at each record, on the data the
            grid is evaluated on; ``path_plane_loss`` the loss at the record's projected
            point on the plane; ``path_accuracy`` the held-out accuracy (NaN-padded).
        train_loss, update_norm, sign_share: ``(n, iterations)`` at every training
            iteration: the mini-batch loss, the norm of the change of all weights, and the
            share of the weights that moved in the direction of the negative gradient.
        meta: labels, model, data and split, seeds, how the plane was made (``plane``),
            explained variance, missed shares.
    """

    alpha: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    centre: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    paths: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2)))
    path_steps: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    line_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    line_loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    path_loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    path_plane_loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    path_accuracy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    update_norm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    sign_share: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", []))

    @property
    def plane(self) -> Plane:
        explained = self.meta.get("explained")
        return Plane(torch.from_numpy(self.centre), torch.from_numpy(self.d1),
                     torch.from_numpy(self.d2), self.meta.get("directions", "custom"),
                     tuple(explained) if explained else None, dict(self.meta.get("plane", {})))

    def weights(self, i: int, j: int) -> np.ndarray:
        """The flat weights whose loss is ``loss[i, j]``."""
        return self.centre + self.alpha[j] * self.d1 + self.beta[i] * self.d2

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the grid atomically as an uncompressed ``.npz`` (plain NumPy, no pickle)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in ARRAYS}
        for name in ("centre", "d1", "d2"):
            arrays[name] = arrays[name].astype(np.float32)
        save_npz(path, arrays, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Grid:
        """Reads a grid file as untrusted data: never unpickling, checking every array's
        dtype and shape (``loss`` is ``(len(beta), len(alpha))``, the plane's vectors one
        length, ...) and the labels, and naming what is wrong.

        Raises:
            UsageError: unreadable, or not a valid grid file.
        """
        f = load_npz(path, "grid", FIELDS)
        if min(f.dims["g"], f.dims["b"], f.dims["p"]) < 1:
            raise invalid("grid", path, "alpha, beta and the plane's vectors must not be empty")
        _check_axes(f.arrays["alpha"], f.arrays["beta"], path)
        n, r = f.dims["n"], f.dims["r"]
        if f.dims["l"] not in (0, n):
            raise invalid("grid", path, f"line_loss has {f.dims['l']} rows for {n} paths")
        for name in (*PER_RECORD, *PER_ITERATION):
            shape = f.arrays[name].shape
            ok = shape == (n, r) if name in PER_RECORD else shape[0] == n
            if not (ok or shape == (0, 0)):
                want = f"({n}, {r})" if name in PER_RECORD else f"({n}, iterations)"
                raise invalid("grid", path, f"{name} has shape {shape}, expected {want} "
                              "(one row per path) or (0, 0)")
        if "labels" in f.meta:  # one per path, when the grid has paths
            labels = f.meta["labels"]
            n = f.dims["n"] or (len(labels) if isinstance(labels, list) else 0)
            for label in check_strings(labels, n, "meta 'labels'", "grid", path):
                try:
                    check_text(label, "a label")
                except ValueError as e:
                    raise invalid("grid", path, str(e)) from None
        return cls(**f.arrays, meta=f.meta)


def _check_axes(alpha: np.ndarray, beta: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Each axis of a grid file: at least two finite, increasing coordinates, spanning a
    sane extent (the figures interpolate between them)."""
    for name, axis in (("alpha", alpha), ("beta", beta)):
        if len(axis) < 2 or not np.isfinite(axis).all() or not (np.diff(axis) > 0).all():
            raise invalid("grid", path, f"{name} must hold at least two finite, increasing "
                          "values")
    try:
        check_extent((alpha[0], alpha[-1], beta[0], beta[-1]))
    except UsageError as e:
        raise invalid("grid", path, str(e)) from None


def grid_points(alpha: np.ndarray, beta: np.ndarray, start: int = 0,
                stop: int | None = None) -> np.ndarray:
    """``(stop - start, 2)`` coordinates of grid points ``start:stop`` (row-major in beta)."""
    stop = len(alpha) * len(beta) if stop is None else stop
    k = np.arange(start, stop)
    return np.stack([alpha[k % len(alpha)], beta[k // len(alpha)]], axis=1)


def check_grid_size(size: int) -> None:
    """Refuses grids whose results alone would not fit in memory (the work is chunked)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise UsageError(f"grid size must be a whole number of points per side, got {size!r}")
    if size < 2:
        raise UsageError(f"grid size must be at least 2, got {size}")
    if size > MAX_GRID:
        raise UsageError(f"grid size {size} is too large: {size * size:,} points; at most "
                         f"{MAX_GRID} per side (the evaluation is chunked, but the results "
                         "themselves must fit in memory)")


def check_extent(extent: Any) -> tuple[float, float, float, float]:
    """``(amin, amax, bmin, bmax)`` as floats: four finite numbers, min < max, each axis's
    span sane (see `MIN_SPAN`); else a `UsageError` naming the problem."""
    if isinstance(extent, (str, bytes)) or not hasattr(extent, "__len__") or len(extent) != 4 \
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in extent):
        raise UsageTypeError(f"extent must be four finite numbers 'amin,amax,bmin,bmax', got "
                             f"{extent!r}")
    values = tuple(float(v) for v in extent)
    if not np.isfinite(values).all():
        raise UsageError(f"extent must be four finite numbers 'amin,amax,bmin,bmax', got "
                         f"{list(values)}")
    for axis, lo, hi in (("alpha", *values[:2]), ("beta", *values[2:])):
        if not lo < hi:
            raise UsageError(f"extent must be 'amin,amax,bmin,bmax' with min < max, got "
                             f"{list(values)}")
        span = hi - lo
        if not (MIN_SPAN < span < MAX_SPAN
                and span > MIN_RELATIVE_SPAN * max(abs(lo), abs(hi))):
            raise UsageError(f"extent: the {axis} axis spans {span:g} (from {lo:g} to {hi:g}); "
                             f"it must span more than {MIN_SPAN:g} and less than {MAX_SPAN:g}, "
                             f"and more than {MIN_RELATIVE_SPAN:g} of its values")
    return values  # type: ignore[return-value]


def evaluate_grid(
    evaluator: PlaneEvaluator,
    alpha: np.ndarray,
    beta: np.ndarray,
    *,
    start: int = 0,
    stop: int | None = None,
    progress: bool | None = None,
    on_chunk: Callable[[int, int, np.ndarray, np.ndarray], None] | None = None,
    chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at grid points ``start:stop`` (all of them by default), flat.

    Args:
        evaluator: the plane and data.
        alpha, beta: the grid's coordinates.
        start, stop: a contiguous range of point indices (see the module docstring).
        progress: show a progress bar (``None``: only on a terminal).
        on_chunk: ``on_chunk(chunk_start, chunk_stop, loss, accuracy)`` after each chunk,
            for checkpoints.
        chunk: points per chunk (default: from the evaluator's memory budget).
    """
    stop = len(alpha) * len(beta) if stop is None else stop
    if not 0 <= start <= stop <= len(alpha) * len(beta):
        raise UsageError(f"grid range {start}:{stop} is outside 0:{len(alpha) * len(beta)}")
    step = chunk or evaluator.chunk_sizes()[0]
    loss, acc = np.empty(stop - start), np.empty(stop - start)
    with tqdm(total=stop - start, desc="grid", unit="pt", delay=0.5, leave=False,
              disable=None if progress is None else not progress) as bar:
        for i in range(start, stop, step):
            j = min(i + step, stop)
            lo, ac = evaluator.evaluate(grid_points(alpha, beta, i, j), chunk=step)
            loss[i - start:j - start], acc[i - start:j - start] = lo, ac
            if on_chunk is not None:
                on_chunk(i, j, lo, ac)
            bar.update(j - i)
    return loss, acc
