"""trajviz: see what torch.optim optimizers do.

Example:
    >>> import trajviz
    >>> run = trajviz.run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=100)
    >>> run.positions.shape
    (2, 101, 2)
"""

__version__ = "0.1.0"

from surfaces import Surface  # noqa: E402

from ._resolve import resolve_device, resolve_surface  # noqa: E402
from .engine import run  # noqa: E402
from .errors import UsageError  # noqa: E402
from .optimizers import (  # noqa: E402
    OptimizerSpec,
    SchedulerSpec,
    parse_optimizer,
    parse_optimizers,
    parse_scheduler,
)
from .plot import RunFigure, animate, plot, save  # noqa: E402
from .race import teaching_animation, teaching_run  # noqa: E402
from .run import Run  # noqa: E402

__all__ = [
    "BasinMap",
    "OptimizerSpec",
    "Run",
    "RunFigure",
    "SchedulerSpec",
    "Surface",
    "SweepMap",
    "UsageError",
    "__version__",
    "animate",
    "basins",
    "compute_landscape",
    "explore",
    "explore_landscape",
    "loss_landscape",
    "parse_optimizer",
    "parse_optimizers",
    "parse_scheduler",
    "plane_surface",
    "plot",
    "resolve_device",
    "resolve_surface",
    "run",
    "save",
    "sweep",
    "teaching_animation",
    "teaching_run",
]


# Loaded on first use, not on import: the landscapes (torch.func, data, training), the maps
# and the explorers (ipywidgets) are not needed to run and draw a race.
_LAZY = {
    "compute_landscape": "landscape", "loss_landscape": "landscape",
    "plane_surface": "landscape", "BasinMap": "maps", "SweepMap": "maps", "basins": "maps",
    "sweep": "maps", "explore": "widgets", "explore_landscape": "widgets",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'trajviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
