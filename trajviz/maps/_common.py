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
from ..errors import UsageError
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
    if memory_mb <= 0:
        raise UsageError(f"memory budget must be positive, got {memory_mb} MB")
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
                 device: str | torch.device, dtype: str | torch.dtype) -> MapSettings:
    """Checks a map's common arguments and fills in the surface's defaults."""
    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    tol = default_tol(surface) if tol is None else tol
    if not tol > 0:
        raise UsageError(f"tol must be positive, got {tol}")
    return MapSettings(resolve_device(device), resolve_dtype(dtype), tol,
                       default_bound(surface) if bound is None else bound)


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


def load_npz(path: str | os.PathLike[str], kind: str, names: tuple[str, ...]
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays, meta = _io.load_npz(path, kind, names)
    if meta.get("kind") != kind:
        raise UsageError(f"{str(path)!r} is not a trajviz {kind} file")
    return arrays, meta
