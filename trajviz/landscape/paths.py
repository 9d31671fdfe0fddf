"""The training paths of one or more grids as a `Run`: the one view of the paths that the
landscape figure, `Landscape.to_run` and `explore_landscape` all use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..run import Run
from .grid import Grid


def record_iterations(grids: Sequence[Grid]) -> np.ndarray:
    """``(r,)`` the training iteration of each record (the longest path's)."""
    steps = [np.asarray(g.path_steps) for g in grids if g.path_steps.size]
    if not steps:
        return np.zeros(1, dtype=np.int64)
    r = max(s.shape[1] for s in steps)
    out = np.full(r, -1, dtype=np.int64)
    for s in steps:
        out[:s.shape[1]] = np.maximum(out[:s.shape[1]], s.max(axis=0))
    return out


def paths_run(grids: Grid | Sequence[Grid]) -> Run:
    """Every grid's paths as one `Run`, one trajectory per path (in the grids' order), one
    step per training record.

    Positions are the projected ``(alpha, beta)`` of each record on its own grid's plane,
    ``loss`` the loss there (on the plane, not the real loss), ``lr`` the learning rate each
    optimizer trained with. A path that diverged has ``diverged_at`` set to its first
    missing record (``meta["diverged_iteration"]`` holds the training iteration). A grid
    without paths (from `loss_landscape`) gives a run of no trajectories.
    """
    grids = [grids] if isinstance(grids, Grid) else list(grids)
    with_paths = [g for g in grids if g.paths.size]
    record_steps = record_iterations(with_paths)
    r = len(record_steps)
    n = sum(len(g.paths) for g in with_paths)
    positions = np.full((n, r, 2), np.nan)
    loss = np.full((n, r), np.nan)
    labels, described, lr, diverged, gone = [], [], [], [], []
    k = 0
    for g in with_paths:
        m, rr = g.paths.shape[:2]
        positions[k:k + m, :rr] = g.paths
        loss[k:k + m, :rr] = g.path_plane_loss
        labels += g.labels
        described += list(g.meta.get("optimizers") or [{} for _ in range(m)])
        lr += list(g.meta.get("lr") or [np.nan] * m)
        its = list(g.meta.get("diverged_at") or [-1] * m)
        diverged += its
        valid = (np.asarray(g.path_steps) >= 0).sum(1)
        gone += [int(v) if it >= 0 else -1 for v, it in zip(valid, its, strict=True)]
        k += m
    steps = max(r - 1, 0)
    return Run(positions=positions, loss=loss, grads=np.full((n, steps, 2), np.nan),
               updates=np.diff(positions, axis=1),
               lr=np.repeat(np.asarray(lr, dtype=float).reshape(n, 1), steps, axis=1),
               diverged_at=np.asarray(gone, dtype=np.int64).reshape(n),
               evals=np.ones((n, steps), dtype=np.int32),
               meta={"labels": labels, "n_starts": 1, "surface": "landscape", "steps": steps,
                     "record_steps": record_steps.tolist(), "optimizers": described,
                     "diverged_iteration": diverged})


def missed_shares(grids: Sequence[Grid]) -> dict[str, float]:
    """Per path label, the share of its movement its plane misses (paths that moved)."""
    return {label: float(m) for g in grids
            for label, m, steps in zip(g.labels, g.meta.get("missed_steps") or [],
                                       g.path_steps, strict=False)
            if (np.asarray(steps) >= 0).sum() > 1}


__all__ = ["missed_shares", "paths_run", "record_iterations"]
