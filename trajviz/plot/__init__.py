"""Figures and animations of runs: `RunFigure`, `animate`, `plot`, `save`.

A figure's colours are a `Theme`, by name from `THEMES`; `save` picks its `FrameWriter` from
`WRITERS` by name or by the path's extension (`writer_for`); `register` adds one.
"""

from . import page as _page  # noqa: F401  (registers the .html writer)
from .animate import RunAnimation, animate, plot, save
from .figure import RunFigure
from .panels import surface_grid
from .theme import THEMES, Theme, get_theme
from .writers import WRITERS, FrameWriter, register, writer_for

__all__ = [
    "FrameWriter",
    "RunAnimation",
    "RunFigure",
    "THEMES",
    "Theme",
    "WRITERS",
    "animate",
    "get_theme",
    "plot",
    "register",
    "save",
    "surface_grid",
    "writer_for",
]
