"""Per-trajectory outcomes of a run: how far it got, how fast, whether it diverged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surfaces import Surface

from .run import Run


@dataclass(frozen=True)
class Outcome:
    label: str
    start: tuple[float, float]
    final_loss: float
    distance: float  # to the nearest known minimum; NaN when the surface lists none
    reached_at: int  # first step within `tol` of the minimum's loss, or -1
    diverged_at: int  # -1 when it did not diverge


def summarize(run: Run, surface: Surface, tol: float = 1e-3) -> list[Outcome]:
    """One `Outcome` per trajectory; ``tol`` is an absolute loss tolerance."""
    final = run.final_positions
    if surface.minima:
        mins = np.asarray(surface.minima)
        dist = np.linalg.norm(final[:, None, :] - mins[None], axis=-1).min(axis=1)
    else:
        dist = np.full(run.n_traj, np.nan)
    reached = (run.steps_to_reach(surface.min_value, tol) if surface.min_value is not None
               else np.full(run.n_traj, -1))
    starts = run.positions[:, 0]
    return [Outcome(run.labels[i], (float(starts[i, 0]), float(starts[i, 1])),
                    float(run.final_loss[i]), float(dist[i]), int(reached[i]),
                    int(run.diverged_at[i])) for i in range(run.n_traj)]
