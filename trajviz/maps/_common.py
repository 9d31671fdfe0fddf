"""What basin maps and sweeps share: settings, chunking, progress, and the .npz format."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from surfaces import Surface

from .. import _io
from .._settings import RunSettings, resolve_settings
from ..checks import check_text, number
from ..errors import UsageError
from ..optimizers import SchedulerSpec

# Bytes of tensors per run in a chunk of the shared (one-tensor) layout, per element of the
# dtype: positions, gradients, optimizer state, the surface's temporaries and the reducer's
# distances to each minimum. Generous on purpose; used only to size chunks.
_ELEMS_PER_RUN = 96
_CPU_CHUNK = 65_536  # larger chunks stop paying on a CPU (measured: see bench_maps.py)
_PYTHON_CHUNK = 16_384  # runs with their own param group or optimizer (Python objects each)


def default_tol(surface: Surface) -> float:
    """A thousandth of the domain's diagonal: tight enough to tell minima apart."""
    (x0, x1), (y0, y1) = surface.domain
    return 1e-3 * float(np.hypot(x1 - x0, y1 - y0))


@dataclass(frozen=True)
class MapSettings(RunSettings):
    """The checked settings a map runs with: a run's, a convergence tolerance (a distance)
    and the memory budget of one chunk of runs."""

    tol: float
    memory_mb: float

    def chunk_rows(self, *, objects_per_run: bool) -> int:
        """Runs per chunk so that one chunk's tensors stay within ``memory_mb``.

        ``objects_per_run``: each run has its own param group or optimizer (Python objects
        and state dicts), which caps the chunk lower.
        """
        per_run = (_ELEMS_PER_RUN + 4 * len(self.surface.minima)) * self.dtype.itemsize
        rows = max(256, int(self.memory_mb * 2**20) // per_run)
        if objects_per_run:
            rows = min(rows, _PYTHON_CHUNK)
        elif self.device.type == "cpu":
            rows = min(rows, _CPU_CHUNK)
        return rows


def map_settings(surface: Surface | str, *, steps: int, tol: float | None,
                 scheduler: str | SchedulerSpec | None, device: str | torch.device,
                 dtype: str | torch.dtype, seed: int, bound: float | None,
                 memory_mb: float) -> MapSettings:
    """Checks a map's common arguments (`trajviz._settings.resolve_settings`, then the
    scheduler's kind, ``memory_mb`` and ``tol``) and fills in the surface's defaults."""
    run = resolve_settings(surface, steps=steps, scheduler=scheduler, device=device,
                           dtype=dtype, seed=seed, bound=bound)
    if run.scheduler is not None and run.scheduler.needs_metric:
        raise UsageError(f"{run.scheduler.label} steps on a loss shared by all the runs of an "
                         "optimizer, which would couple a map's independent runs; use a "
                         "step-based scheduler (steplr, cosineannealinglr, ...)")
    memory_mb = number(memory_mb, "memory_mb", lo=0, lo_open=True)
    tol = default_tol(run.surface) if tol is None else number(tol, "tol", lo=0, lo_open=True)
    return MapSettings(**vars(run), tol=tol, memory_mb=memory_mb)


@contextmanager
def progress_bar(total: int, desc: str, progress: bool | None) -> Iterator[Callable[[], None]]:
    """Yields a ``tick()`` that advances a tqdm bar (shown on a terminal after a moment)."""
    disable = None if progress is None else not progress
    with tqdm(total=total, desc=desc, unit="step", disable=disable, delay=0.5,
              leave=False, mininterval=0.25) as bar:
        yield bar.update if not bar.disable else (lambda: None)


def save_npz(path: str | os.PathLike[str], kind: str, arrays: dict[str, np.ndarray],
             meta: dict[str, Any]) -> None:
    """Writes a map's arrays and its JSON ``meta`` (tagged with ``kind``) atomically."""
    _io.save_npz(path, arrays, {"kind": kind, **meta}, compress=True)


# What every map file holds besides its arrays (checked on loading).
MAP_META = {"kind": str, "steps": int, "tol": float, "surface": str}
# Per run: final (2), final_loss, diverged_at, converged_at, minimum, at most 8 bytes each,
# held twice (the chunks and the gathered arrays), and the figure's colours.
RESULT_BYTES_PER_RUN = 2 * (2 + 4) * 8 + 3 * 8


def load_npz(path: str | os.PathLike[str], kind: str, fields: dict[str, _io.Field],
             meta_keys: dict[str, Any]) -> _io.Loaded:
    """A map file, checked (`trajviz._io.load_npz`): its arrays, its ``meta`` and that
    ``meta`` says it is a ``kind`` map with a positive step count and tolerance."""
    loaded = _io.load_npz(path, kind, fields, {**MAP_META, **meta_keys},
                          meta_values={"kind": kind})
    meta = loaded.meta
    if meta["steps"] < 1 or not meta["tol"] > 0:
        raise _io.invalid(kind, path, "steps and tol must be positive")
    texts = [meta["surface"], meta.get("label", ""), *(meta.get("labels") or [])]
    for text in texts:
        try:
            check_text(text, "a label")
        except ValueError as e:
            raise _io.invalid(kind, path, str(e)) from None
    for name in ("diverged_at", "converged_at"):
        if name in loaded.arrays and ((loaded.arrays[name] < -1)
                                      | (loaded.arrays[name] > meta["steps"])).any():
            raise _io.invalid(kind, path, f"{name} must be -1 or a step from 0 to "
                              f"{meta['steps']}")
    return loaded
