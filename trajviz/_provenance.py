"""What produced a result: the metadata every trajviz file carries."""

from __future__ import annotations

from typing import Any

import torch

from surfaces import Surface

from . import __version__
from .optimizers import SchedulerSpec


def provenance(surface: Surface, *, scheduler: SchedulerSpec | None, seed: int,
               dtype: torch.dtype, device: torch.device, bound: float) -> dict[str, Any]:
    """The surface (with its parameters), settings and versions behind a run or a map."""
    return {
        "surface": surface.spec,
        "surface_name": surface.name,
        "surface_origin": surface.origin,  # "builtin", an import path, or "" (made in Python)
        "scheduler": scheduler.label if scheduler else None,
        "seed": seed,
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device),
        "bound": bound,
        "torch_version": torch.__version__,
        "trajviz_version": __version__,
    }
