"""`Run`: the recorded trajectories of one engine run, and its ``.npz`` file format.

The file is plain NumPy (``np.load(path)`` reads it without trajviz); ``meta`` is a JSON
string. Nothing is pickled, in either direction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._io import FLOAT, INT, Field, check_strings, invalid, load_npz, save_npz
from .checks import check_text

FIELDS = {
    "positions": Field(FLOAT, ("n", "steps+1", 2)),
    "loss": Field(FLOAT, ("n", "steps+1")),
    "grads": Field(FLOAT, ("n", "steps", 2)),
    "updates": Field(FLOAT, ("n", "steps", 2)),
    "lr": Field(FLOAT, ("n", "steps")),
    "diverged_at": Field(INT, ("n",)),
    "evals": Field(INT, ("n", "steps")),
}
ARRAYS = tuple(FIELDS)
META = {"labels": list, "surface": str, "steps": int}


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
        """Index of each trajectory's last finite position (its start, if it diverged at
        step 0: a start is always finite, even where the loss is not)."""
        diverged = self.diverged_at.astype(np.int64)
        return np.where(diverged < 0, self.steps, np.maximum(diverged - 1, 0))

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

    @staticmethod
    def nbytes(n: int, steps: int, itemsize: int) -> int:
        """Memory a run of ``n`` trajectories of ``steps`` steps needs while it is recorded
        and handed over: positions, loss, gradients and updates in the run's dtype, the
        learning rate (float64) and evaluation counts (int32), about twice."""
        return 2 * n * (steps + 1) * (7 * itemsize + 8 + 4)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the run atomically as an uncompressed ``.npz``."""
        save_npz(path, {name: getattr(self, name) for name in ARRAYS}, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Run:
        """Reads a run file as untrusted data: never unpickling, checking every array's
        dtype and shape and the meta's keys, and naming what is wrong.

        Raises:
            UsageError: unreadable, or not a valid run file.
        """
        f = load_npz(path, "run", FIELDS, META)
        n, steps, meta = f.dims["n"], f.dims["steps"], f.meta
        if n < 1 or steps < 1:
            raise invalid("run", path, f"it holds {n} trajectories of {steps} steps; a run "
                          "has at least one trajectory of at least one step")
        if meta["steps"] != steps:
            raise invalid("run", path, f"meta says {meta['steps']} steps, the arrays hold "
                          f"{steps}")
        for i, label in enumerate(check_strings(meta["labels"], n, "meta 'labels'", "run",
                                                path)):
            try:
                check_text(label, f"label {i}")
            except ValueError as e:
                raise invalid("run", path, str(e)) from None
        diverged = f.arrays["diverged_at"]
        if ((diverged < -1) | (diverged > steps)).any():
            raise invalid("run", path, f"diverged_at must be -1 or a step from 0 to {steps}")
        _check_optional_meta(meta, n, path)
        arrays = {**f.arrays, "diverged_at": diverged.astype(np.int64),
                  "evals": f.arrays["evals"].astype(np.int32)}
        return cls(**arrays, meta=meta)


def _check_optional_meta(meta: dict[str, Any], n: int, path: str | os.PathLike[str]) -> None:
    """The keys the figures read when present: ``n_starts`` and ``optimizers``."""
    k = meta.get("n_starts", 1)
    if not (isinstance(k, int) and not isinstance(k, bool) and k >= 1 and n % k == 0):
        raise invalid("run", path, f"meta 'n_starts' must be a positive integer dividing "
                      f"the {n} trajectories")
    described = meta.get("optimizers", [])
    if not (isinstance(described, list) and all(
            isinstance(d, dict) and isinstance(d.get("label", ""), str) for d in described)):
        raise invalid("run", path, "meta 'optimizers' must be a list of objects with "
                      "string labels")
    for i, d in enumerate(described):  # the legend draws them
        try:
            check_text(d.get("label", ""), f"meta 'optimizers'[{i}] label")
        except ValueError as e:
            raise invalid("run", path, str(e)) from None
