"""What basin maps and sweeps share: chunking, defaults, progress, and the .npz format."""

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
from ..checks import check_text, number, seed
from ..resolve import resolve_device, resolve_dtype
from ..stepper import default_bound

# Bytes of tensors per run in a chunk of the shared (one-tensor) layout, per element of the
# dtype: positions, gradients, optimizer state, the surface's temporaries and the tracker's
# distances to each minimum. Generous on purpose; used only to size chunks.
_ELEMS_PER_RUN = 96
_CPU_CHUNK = 65_536  # larger chunks stop paying on a CPU (measured: see bench_maps.py)
_PYTHON_CHUNK = 16_384  # runs with their own param group or optimizer (Python objects each)


def chunk_rows(n_minima: int, itemsize: int, memory_mb: float, device: torch.device, *,
               objects_per_run: bool) -> int:
    """Runs per chunk so that one chunk's tensors stay within ``memory_mb``.

    ``objects_per_run``: each run has its own param group or optimizer (Python objects and
    state dicts), which caps the chunk lower.
    """
    per_run = (_ELEMS_PER_RUN + 4 * n_minima) * itemsize
    rows = max(256, int(memory_mb * 2**20) // per_run)
    if objects_per_run:
        rows = min(rows, _PYTHON_CHUNK)
    elif device.type == "cpu":
        rows = min(rows, _CPU_CHUNK)
    return rows


def default_tol(surface: Surface) -> float:
    """A thousandth of the domain's diagonal: tight enough to tell minima apart."""
    (x0, x1), (y0, y1) = surface.domain
    return 1e-3 * float(np.hypot(x1 - x0, y1 - y0))


@dataclass(frozen=True)
class MapSettings:
    """The checked settings a map runs with."""

    device: torch.device
    dtype: torch.dtype
    tol: float
    bound: float


def map_settings(surface: Surface, *, steps: int, tol: float | None, bound: float | None,
                 device: str | torch.device, dtype: str | torch.dtype, seed_: int,
                 memory_mb: float) -> MapSettings:
    """Checks a map's common arguments and fills in the surface's defaults."""
    number(steps, "steps", integer=True, lo=1)
    seed(seed_)
    number(memory_mb, "memory_mb", lo=0, lo_open=True)
    tol = default_tol(surface) if tol is None else number(tol, "tol", lo=0, lo_open=True)
    bound = default_bound(surface) if bound is None else number(bound, "bound", lo=0,
                                                                  lo_open=True)
    return MapSettings(resolve_device(device), resolve_dtype(dtype), tol, bound)


def minima_tensor(surface: Surface, device: torch.device, dtype: torch.dtype
                  ) -> torch.Tensor | None:
    if not surface.minima:
        return None
    return torch.tensor(surface.minima, dtype=dtype, device=device)


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
