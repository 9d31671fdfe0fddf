"""Per-trajectory outcomes of a run (how far it got, how fast, whether it diverged), and
the plain-text tables the CLI prints and examples save."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surfaces import Surface

from ._io import atomic_path
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


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a dashed rule, for terminal output."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def save_table(header: list[str], rows: list[list[str]], path: str | os.PathLike[str]) -> Path:
    """Writes `format_table`'s text to ``path`` atomically (all of it or nothing)."""
    with atomic_path(path) as tmp:
        tmp.write_text(format_table(header, rows) + "\n", encoding="utf-8")
    return Path(path)
