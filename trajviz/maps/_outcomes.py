"""What became of every run of a map: the one type behind `BasinMap` and `SweepMap`, and
behind each chunk of runs before they are joined."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._io import FLOAT, INT, Field

OUTCOME_ARRAYS = ("final", "final_loss", "diverged_at", "converged_at", "minimum")


def outcome_fields(*dims: str) -> dict[str, Field]:
    """How a map file holds the outcomes of runs laid out along ``dims``."""
    return {
        "final": Field(FLOAT, (*dims, 2)),
        "final_loss": Field(FLOAT, dims),
        "diverged_at": Field(INT, dims),
        "converged_at": Field(INT, dims),
        "minimum": Field(INT, dims),
    }


@dataclass(frozen=True, eq=False, kw_only=True)
class Outcomes:
    """Each run's outcome; every array is laid out as the map lays out its runs (``final``
    with a trailing 2).

    Attributes:
        final: last finite position (where a diverged run was before it diverged).
        final_loss: the loss there.
        diverged_at: first step whose position, loss or gradient is non-finite or whose
            position is out of bounds, or -1 (the engine's rule, `trajviz._divergence`).
        converged_at: first step from which the run stays within ``tol`` of the known
            minimum it ends at (without known minima: from which every update is at most
            ``tol`` long), or -1.
        minimum: index of the known minimum nearest to ``final``, or -1 (diverged, or no
            known minima).
        steps, tol: the run length and the convergence tolerance (a distance).
        meta: surface, optimizer specs, scheduler, dtype, device, versions.
    """

    final: np.ndarray
    final_loss: np.ndarray
    diverged_at: np.ndarray
    converged_at: np.ndarray
    minimum: np.ndarray
    steps: int
    tol: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> np.ndarray:
        return self.converged_at >= 0

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def outcome_arrays(self) -> dict[str, np.ndarray]:
        """The five arrays by name, as a map file holds them."""
        return {name: getattr(self, name) for name in OUTCOME_ARRAYS}


def joined(parts: Sequence[Outcomes], *shape: int) -> dict[str, np.ndarray]:
    """The parts' arrays end to end, in order, shaped ``shape`` (``final`` with its
    trailing 2): the outcome arrays of a map run in chunks."""
    return {name: np.concatenate([getattr(p, name) for p in parts]).reshape(
        *shape, *((2,) if name == "final" else ())) for name in OUTCOME_ARRAYS}
