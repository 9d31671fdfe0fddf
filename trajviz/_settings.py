"""The settings every run of the engine or a map takes, checked and resolved in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from surfaces import Surface

from ._divergence import default_bound
from ._provenance import provenance
from ._resolve import resolve_device, resolve_dtype, resolve_surface
from .checks import number
from .checks import seed as check_seed
from .optimizers import SchedulerSpec, as_scheduler


@dataclass(frozen=True)
class RunSettings:
    """What `trajviz.run`, `basins` and `sweep` share, resolved and checked.

    Attributes:
        surface: the checked surface.
        steps: optimizer steps per run.
        scheduler: one LR scheduler per optimizer, or ``None``.
        device, dtype: where and in what precision the runs go.
        seed: torch's seed for the run.
        bound: the divergence bound (`trajviz._divergence`).
    """

    surface: Surface
    steps: int
    scheduler: SchedulerSpec | None
    device: torch.device
    dtype: torch.dtype
    seed: int
    bound: float

    def provenance(self) -> dict[str, Any]:
        """The ``meta`` entries that say how the runs were made (`trajviz._provenance`)."""
        return provenance(self.surface, scheduler=self.scheduler, seed=self.seed,
                          dtype=self.dtype, device=self.device, bound=self.bound)


def resolve_settings(surface: Surface | str, *, steps: int,
                     scheduler: str | SchedulerSpec | None, device: str | torch.device,
                     dtype: str | torch.dtype, seed: int, bound: float | None) -> RunSettings:
    """Checks the shared arguments, in this order, and fills in the surface's defaults
    (the bound: 1000 times the domain's extent)."""
    steps = number(steps, "steps", integer=True, lo=1)
    seed = check_seed(seed)
    surf = resolve_surface(surface)
    sched = as_scheduler(scheduler)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    bound = default_bound(surf) if bound is None else number(bound, "bound", lo=0, lo_open=True)
    return RunSettings(surf, steps, sched, dev, dt, seed, bound)
