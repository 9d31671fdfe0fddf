"""`BlittedFigure`: what every animated trajviz figure shares: the steps an animation shows
and rendering them by blitting (the static background drawn once and restored for every
frame, only the moving artists drawn again)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import UsageError
from ..run import Run
from ._parallel import helper_count, parallel_frames
from ._repaint import animated


class BlittedFigure(ABC):
    """A figure of a `Run` that moves to any step: subclasses set ``fig`` and ``run`` and
    say which artists move (`dynamic`) and how (`set_step`)."""

    fig: Figure
    run: Run

    @property
    @abstractmethod
    def dynamic(self) -> list[Artist]:
        """Every artist that moves with the step, in drawing order."""

    @abstractmethod
    def set_step(self, t: int) -> list[Artist]:
        """Moves the dynamic artists to step ``t``; returns the ones that changed."""

    def frame_steps(self, frames: int | None = None) -> np.ndarray:
        """The steps an animation shows: every step, or ``frames`` evenly spread ones
        (always including the first and the last)."""
        total = self.run.steps + 1
        if frames is None or frames >= total:
            return np.arange(total)
        if frames < 1:
            raise UsageError(f"frames must be at least 1, got {frames}")
        if frames == 1:
            return np.array([self.run.steps])
        return np.unique(np.linspace(0, self.run.steps, frames).round().astype(int))

    @property
    def pixel_size(self) -> tuple[int, int]:
        """``(width, height)`` of a rendered frame in pixels."""
        w, h = self.fig.canvas.get_width_height(physical=True)
        return int(w), int(h)

    def frames(self, steps: Sequence[int], *, helpers: int | None = None
               ) -> Iterator[np.ndarray]:
        """Renders ``steps`` by blitting; yields each frame as an ``(H, W, 3)`` uint8 view
        that is valid until the next frame is rendered.

        Args:
            helpers: forked processes that render frames too (`parallel_frames`); by
                default one per further CPU for a long enough animation, 0 for none.
        """
        with self._agg_canvas() as canvas, self._static_only() as dynamic:
            canvas.draw()
            background = canvas.copy_from_bbox(self.fig.bbox)

            def render(t: int) -> np.ndarray:  # RGBA: copied whole, it is one block
                canvas.restore_region(background)
                self.set_step(t)
                for a in dynamic:
                    self.fig.draw_artist(a)
                return np.asarray(canvas.buffer_rgba())

            k = helper_count(len(steps)) if helpers is None else helpers
            if not k:
                for t in steps:
                    yield render(int(t))[..., :3]
                return
            w, h = self.pixel_size
            for frame in parallel_frames(render, steps, (h, w, 4), k):
                yield frame[..., :3]
            self.set_step(int(steps[-1]))  # where a serial rendering leaves the figure

    def background(self) -> np.ndarray:
        """The figure without its moving artists, as every frame starts: an ``(H, W, 3)``
        uint8 copy."""
        with self._agg_canvas() as canvas, self._static_only():
            canvas.draw()
            return np.array(np.asarray(canvas.buffer_rgba())[..., :3])

    def render(self, t: int) -> np.ndarray:
        """One frame at step ``t``, fully redrawn: an ``(H, W, 3)`` uint8 copy."""
        with self._agg_canvas() as canvas:
            self.set_step(t)
            canvas.draw()
            return np.array(np.asarray(canvas.buffer_rgba())[..., :3])

    @contextlib.contextmanager
    def _static_only(self) -> Iterator[list[Artist]]:
        """Marks the dynamic artists animated (a draw leaves them out) and yields them."""
        dynamic = self.dynamic
        with animated(dynamic):
            yield dynamic

    @contextlib.contextmanager
    def _agg_canvas(self) -> Iterator[FigureCanvasAgg]:
        """The figure's canvas if it can render to a pixel buffer, else a temporary one."""
        canvas = self.fig.canvas
        if isinstance(canvas, FigureCanvasAgg):
            yield canvas
            return
        agg = FigureCanvasAgg(self.fig)
        try:
            yield agg
        finally:
            self.fig.set_canvas(canvas)
