"""Still figures: the one atomic saver of every matplotlib `Figure` trajviz writes.

``trajviz.save`` of a figure, ``trajviz plot``, the basin and sweep maps and the
landscape's 1-D view all save through `save_figure`, in the format the path's suffix names.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._io import atomic_path
from ..errors import UsageError

# what a still figure of a run (and the landscape's 1-D view) is saved as
STILL_FORMATS = (".png", ".svg", ".pdf")


def is_still_format(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` ends in one of `STILL_FORMATS` (in any case)."""
    return Path(path).suffix.lower() in STILL_FORMATS


def figure_format(path: str | os.PathLike[str]) -> str:
    """The image format a path's suffix names, or a `UsageError` listing the formats
    matplotlib writes."""
    fmt = Path(path).suffix.lower().lstrip(".")
    formats = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    if fmt not in formats:
        raise UsageError(f"cannot tell the image format of {str(path)!r}: its suffix must be "
                         f"one of {', '.join('.' + f for f in formats)}")
    return fmt


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float | None = None
                ) -> Path:
    """Saves ``fig`` atomically (nothing is left behind on a failure) in the format the
    suffix names, on its own background colour, at ``dpi`` (default: the figure's)."""
    fmt = figure_format(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, facecolor=fig.get_facecolor())
    return Path(path)
