"""`Run`: the recorded trajectories of one engine run, and its ``.npz`` file format.

The file is plain NumPy (``np.load(path)`` reads it without trajviz); ``meta`` is a JSON
string. Nothing is pickled, in either direction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._io import load_npz, save_npz

ARRAYS = ("positions", "loss", "grads", "updates", "lr", "diverged_at", "evals")


@dataclass(frozen=True, eq=False)
class Run:
    """Trajectories ``i = optimizer_index * n_starts + start_index``, each of ``steps`` steps.

    Attributes:
        positions: ``(n, steps + 1, 2)``; ``positions[:, t]`` is where step ``t`` starts.
        loss: ``(n, steps + 1)``, the loss at each position.
        grads: ``(n, steps, 2)``, the gradient at ``positions[:, t]`` that step ``t`` used.
        updates: ``(n, steps, 2)``, ``positions[:, t + 1] - positions[:, t]``: what the
            optimizer actually did.
        lr: ``(n, steps)``, the learning rate in force at step ``t``.
        diverged_at: ``(n,)``, the first step whose position is non-finite or out of
            bounds, or -1. From there on every record of that trajectory is NaN.
        evals: ``(n, steps)``, loss evaluations per step (above 1 for LBFGS).
        meta: surface, labels, optimizer specs, steps, seed, dtype, versions.
    """

    positions: np.ndarray
    loss: np.ndarray
    grads: np.ndarray
    updates: np.ndarray
    lr: np.ndarray
    diverged_at: np.ndarray
    evals: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_traj(self) -> int:
        return self.positions.shape[0]

    @property
    def steps(self) -> int:
        return self.positions.shape[1] - 1

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    @property
    def last_valid(self) -> np.ndarray:
        """Index of each trajectory's last finite position."""
        return np.where(self.diverged_at < 0, self.steps, self.diverged_at - 1)

    @property
    def final_positions(self) -> np.ndarray:
        return self.positions[np.arange(self.n_traj), self.last_valid]

    @property
    def final_loss(self) -> np.ndarray:
        return self.loss[np.arange(self.n_traj), self.last_valid]

    def steps_to_reach(self, target: float, tol: float) -> np.ndarray:
        """First step whose loss is within ``tol`` of ``target``, or -1 if none is."""
        hit = np.abs(self.loss - target) <= tol
        return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the run atomically as an uncompressed ``.npz``."""
        save_npz(path, {name: getattr(self, name) for name in ARRAYS}, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Run:
        """Reads a run file (never unpickling), checking it has every array."""
        arrays, meta = load_npz(path, "run", ARRAYS)
        return cls(**arrays, meta=meta)
