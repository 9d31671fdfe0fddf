"""How the explorers show a `RunFigure` in a notebook, with or without ``ipympl``.

With the ``ipympl`` backend the figure's own canvas is the widget (clicks reach
matplotlib). Without it the figure is rendered with Agg and shown as an ``ipywidgets.Image``
whose bytes are replaced in place, so a redraw never flickers or grows the output.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
from matplotlib.backend_bases import MouseEvent
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..errors import UsageError
from ..plot import RunFigure, save

log = logging.getLogger(__name__)
BACKENDS = ("auto", "ipympl", "image")


def ipympl_active() -> bool:
    """Whether ``%matplotlib widget`` (or ``ipympl``) is the current backend."""
    backend = mpl.get_backend().lower()
    return "ipympl" in backend or backend in ("widget", "module://ipympl.backend_nbagg")


def resolve_backend(name: str) -> str:
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    if name == "auto":
        return "ipympl" if ipympl_active() else "image"
    return name


class ColorSlots:
    """A fixed colour per optimizer while others are switched on and off: each name keeps
    the palette entry it got first (the lowest free one); `mapping` is what
    ``RunFigure(colors=...)`` takes."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.slots: dict[str, int] = {}
        for name in names:
            self.slot(name)

    def slot(self, name: str) -> int:
        if name not in self.slots:
            used = set(self.slots.values())
            self.slots[name] = next(i for i in range(len(self.slots) + 1) if i not in used)
        return self.slots[name]

    def mapping(self, names: Sequence[str]) -> dict[str, int]:
        """Palette entry by name for ``names`` (new names get the lowest free entries)."""
        return {name: self.slot(name) for name in names}


class FigureView:
    """One matplotlib figure shown as a widget, redrawn in place.

    Attributes:
        figure: the figure to draw into (give it to ``RunFigure(figure=...)``).
        widget: what to put in the UI.
        backend: ``ipympl`` or ``image``.
        draw_s: seconds the last `redraw` took (rendering and encoding the image).
        repainted: the rectangles of the figure the last `redraw` repainted (see
            `RunFigure.redraw`): all of it after a full draw, none after a step.
    """

    def __init__(self, *, size: tuple[float, float], dpi: int, backend: str = "auto") -> None:
        self.backend = resolve_backend(backend)
        self.draw_s = 0.0
        self.figure = Figure(figsize=size, dpi=dpi)
        self.repainted: list = []
        if self.backend == "ipympl":
            from ipympl.backend_nbagg import Canvas, FigureManager

            # Not through pyplot: the figure is shown only inside the explorer, and a change
            # to an artist does not ask the front end for a second, full redraw.
            canvas = Canvas(self.figure)
            FigureManager(canvas, id(self.figure))
            canvas.header_visible = False
            canvas.toolbar_visible = False
            canvas.footer_visible = False
            canvas.resizable = False
            self.widget: widgets.Widget = canvas
        else:
            FigureCanvasAgg(self.figure)
            w, h = self.figure.canvas.get_width_height()
            self.widget = widgets.Image(format="jpeg", layout=widgets.Layout(
                width=f"{w}px", height=f"{h}px", object_fit="contain"))
        self.widget.add_class("tv-plot")

    def export(self, run_figure: RunFigure, target: Path, **save_options: Any) -> Path:
        """Writes ``run_figure``'s animation with `trajviz.plot.save` (the CLI's writer),
        then shows the step that was on screen again."""
        step = run_figure.step
        try:
            return save(run_figure, target, progress=False, **save_options)
        finally:
            run_figure.set_step(step)
            self.redraw(run_figure)

    def redraw(self, run_figure: RunFigure, *, full: bool = False) -> None:
        """Brings ``run_figure`` (drawn into `figure`) up to date with the least drawing
        (`RunFigure.redraw`) and pushes it to the front end: ``ipympl`` sends the changed
        pixels, the image view a new JPEG."""
        t0 = time.perf_counter()
        rgba = run_figure.redraw(full=full)
        self.repainted = run_figure.repainted
        canvas = self.figure.canvas
        if self.backend == "ipympl":
            if not canvas._size[0]:
                # As a child widget the canvas is never displayed on its own, and only that
                # gives the front end its size and first image: give them here, once.
                canvas._repr_mimebundle_()
            canvas.blit()  # ipympl sends the changed pixels
        else:
            buf = io.BytesIO()
            Image.fromarray(rgba[..., :3]).save(buf, format="jpeg", quality=92, subsampling=0)
            self.widget.value = buf.getvalue()
        self.draw_s = time.perf_counter() - t0

    def on_click(self, callback: Callable[[MouseEvent], None]) -> None:
        """Calls ``callback`` on a left click (only the ``ipympl`` canvas receives clicks)."""

        def handler(event: MouseEvent) -> None:
            if event.button == 1 and event.inaxes is not None:
                callback(event)

        self.figure.canvas.mpl_connect("button_press_event", handler)

    def close(self) -> None:
        self.widget.close()
