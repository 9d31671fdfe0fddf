"""Figures and animations of runs: `RunFigure`, `animate`, `plot`, `save`, the writers."""

from . import page as _page  # noqa: F401  (registers the .html writer)
from .animate import RunAnimation, animate, plot, save
from .figure import RunFigure
from .panels import surface_grid
from .theme import THEMES, Theme, get_theme
from .writers import WRITERS, FrameWriter, register, writer_for

__all__ = [
    "THEMES",
    "WRITERS",
    "FrameWriter",
    "RunAnimation",
    "RunFigure",
    "Theme",
    "animate",
    "get_theme",
    "plot",
    "register",
    "save",
    "surface_grid",
    "writer_for",
]
