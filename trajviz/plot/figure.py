"""`RunFigure`: a `Run` drawn on its surface, movable to any step quickly.

The static parts (contours, axes, legend) are drawn once; each step moves a few artists.
`RunFigure.frames` renders a sequence of steps by blitting: the static background is drawn
once and restored for every frame, and only the moving artists are redrawn. The title
starts at the same place at every step, so the words that all frames' titles start with
(say ``rosenbrock · step``) are drawn with the background, and only the rest (``25 / 300``)
per frame.
`RunFigure.redraw` keeps the figure's pixels up to date for interactive use: after a step
only the moving artists are drawn again, and after `RunFigure.set_run` only the parts whose
look changed (a legend entry, a panel's axis) are repainted, exactly as a full draw would:
what changed is read from the artists (see `trajviz.plot._repaint`).
"""

from __future__ import annotations

import contextlib
import os
import textwrap
import warnings
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

import surfaces
from surfaces import Surface

from .._resolve import resolve_surface
from ..checks import check_figure_size, check_step, check_text
from ..errors import UsageError
from ..run import Run
from ._blit import BlittedFigure
from ._repaint import Repainter
from .panels import (
    Z_STATIC,
    Grid,
    LossPanel,
    RunData,
    Surface3DPanel,
    SurfacePanel,
    UpdatePanel,
    surface_grid,
)
from .theme import get_theme, rc_context

VIEWS = ("2d", "3d")
MAX_CAPTION_CHARS = 1000  # a line or two under the title


def lay_out(fig: Figure, *, paint: bool = False) -> None:
    """Lays ``fig`` out once, by a draw that paints no pixels (its first frame paints them),
    or with ``paint``, by its canvas's own draw (a notebook's canvas shows what it draws).
    A figure too small for its panels (allowed down to `trajviz.checks.MIN_PIXELS_PER_SIDE`)
    keeps matplotlib's fallback layout, quietly."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "constrained_layout not applied", UserWarning)
        if paint:
            fig.canvas.draw()
        else:
            fig.draw_without_rendering()


def display_name(surface: Surface) -> str:
    """The surface's name, with its parameters only where they differ from the defaults."""
    try:
        default = surfaces.defaults(surface.name)
    except ValueError:
        return surface.spec
    changed = {k: v for k, v in surface.params.items() if default.get(k) != v}
    return surface.name + (":" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in changed.items()) if changed else "")


class RunFigure(BlittedFigure):
    """Draws a `Run` on a surface and can move to any step quickly.

    Args:
        run: the trajectories (``trajviz.run(...)`` or ``Run.load(path)``).
        surface: the surface they ran on (a `Surface` or a spec such as ``"rosenbrock"``).
        background: a precomputed ``(X, Y, Z)`` grid; by default the surface is evaluated
            on a grid over its domain.
        updates: show the update panel (this step's update per optimizer along x and y).
        arrows: draw the negative-gradient and the update direction at each head.
        loss_panel: show loss against step.
        view: ``2d`` (contours) or ``3d`` (the surface in 3-D).
        theme: ``light`` or ``dark``.
        size: figure size in inches; with ``dpi`` it sets the pixel size.
        dpi: dots per inch.
        title: the title's first part (default: the surface's spec).
        figure: draw into this figure (e.g. one from ``plt.figure()`` in a notebook)
            instead of a new one; it is cleared first.
        colors: a colour, or a palette entry (``int``), per optimizer label
            (``adam(lr=0.1)``) or name (``adam``); by default the ``k``-th optimizer takes
            the theme's ``k``-th colour. With it, an optimizer keeps its colour while
            others are switched off.
        caption: a line or two under the title (wrapped to the figure's width): what to
            watch.

    Example:
        >>> import trajviz
        >>> run = trajviz.run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=50)
        >>> rf = RunFigure(run, "rosenbrock")
        >>> artists = rf.set_step(25)
    """

    def __init__(self, run: Run, surface: Surface | str, *,
                 background: Grid | None = None, updates: bool = True, arrows: bool = False,
                 loss_panel: bool = True, view: str = "2d", theme: str = "light",
                 size: tuple[float, float] = (8, 6), dpi: int = 100,
                 title: str | None = None, figure: Figure | None = None,
                 colors: Mapping[str, str | int] | None = None,
                 caption: str | None = None) -> None:
        if view not in VIEWS:
            raise UsageError(f"unknown view {view!r}; valid views: {', '.join(VIEWS)}")
        if figure is None:  # a given figure has its own size
            size, dpi = check_figure_size(size, dpi)
        self.surface = resolve_surface(surface)
        self.theme = get_theme(theme)
        self.view = view
        self.title = check_text(title, "title") if title is not None else display_name(
            self.surface)
        self.caption = None if caption is None else check_text(caption, "caption",
                                                               limit=MAX_CAPTION_CHARS)
        grid = background if background is not None else surface_grid(self.surface)
        self.step = 0
        self.colors = dict(colors or {})
        self._repainter: Repainter | None = None
        self._title_end: tuple[str, Text] | None = None  # while `frames` splits the title
        self._title_spot: tuple[tuple[float, float], str, str] | None = None  # as laid out
        with rc_context(self.theme):
            if figure is None:
                self.fig = Figure(figsize=size, dpi=dpi, layout="constrained")
                FigureCanvasAgg(self.fig)
            else:
                self.fig = figure
                self.fig.clear()
                self.fig.set_layout_engine("constrained")
            self.fig.set_facecolor(self.theme.background)
            self._build(grid, updates=updates, arrows=arrows, loss_panel=loss_panel)
            self.set_run(run)
            lay_out(self.fig, paint=figure is not None)  # once ...
        self.fig.set_layout_engine("none")  # ... and keeps that layout for every frame
        t = self.title_text
        self._title_spot = t.get_position(), t.get_ha(), t.get_va()
        self._place_title()

    def _build(self, grid: Grid, *, updates: bool, arrows: bool, loss_panel: bool) -> None:
        fig, th = self.fig, self.theme
        side = updates or loss_panel
        layout = dict(width_ratios=[2.1, 0.62, 0.62][:3 if side else 1],
                      height_ratios=[1.1, 1] if updates and loss_panel else [1, 1])
        if self.caption:
            gs = self._add_caption().subgridspec(2, 3 if side else 1, **layout)
        else:
            gs = fig.add_gridspec(2, 3 if side else 1, **layout)
        if self.view == "3d":
            ax = fig.add_subplot(gs[:, 0], projection="3d")
            ax.set_facecolor(th.background)
            self.main: SurfacePanel | Surface3DPanel = Surface3DPanel(ax, self.surface, grid, th)
        else:
            ax = fig.add_subplot(gs[:, 0])
            self.main = SurfacePanel(ax, self.surface, grid, th, arrows=arrows)
        self.update_panels: list[UpdatePanel] = []
        if updates:
            rows = slice(0, 1) if loss_panel else slice(0, 2)
            ux = fig.add_subplot(gs[rows, 1])
            uy = fig.add_subplot(gs[rows, 2], sharey=ux)
            self.update_panels = [UpdatePanel(ux, 0, th, show_names=True),
                                  UpdatePanel(uy, 1, th, show_names=False)]
        self.loss = None
        if loss_panel:
            rows = slice(1, 2) if updates else slice(0, 2)
            self.loss = LossPanel(fig.add_subplot(gs[rows, 1:]), self.surface, th)
        self.title_text = fig.suptitle("", fontsize=12, fontweight="bold")
        self._legend = None
        self._legend_handles: list[tuple] = []

    def _add_caption(self) -> SubplotSpec:
        """A row under the title holding the caption, wrapped to the figure's width in the
        largest font (10 pt down to 6) that keeps it within a fifth of the height; returns
        the space left below it."""
        width, height = self.fig.get_size_inches()
        for fontsize in (10.0, 9.0, 8.0, 7.0, 6.0):
            chars = max(20, int(width * 72 / (0.55 * fontsize)))  # DejaVu Sans: ~0.55 em
            lines = textwrap.wrap(self.caption, chars, break_on_hyphens=False)
            rows = len(lines) * 1.3 * fontsize / 72
            if rows <= height / 5:
                break
        outer = self.fig.add_gridspec(2, 1, height_ratios=[rows, max(height - rows, rows)])
        ax = self.fig.add_subplot(outer[0])
        ax.axis("off")
        self.caption_text = ax.text(0.5, 0.5, "\n".join(lines), ha="center", va="center",
                                    fontsize=fontsize, transform=ax.transAxes,
                                    zorder=Z_STATIC)
        return outer[1]

    @property
    def panels(self) -> list:
        return [self.main, *self.update_panels, *([self.loss] if self.loss else [])]

    @property
    def dynamic(self) -> list[Artist]:
        """Every artist that moves with the step, in drawing order."""
        title = self._title_end[1] if self._title_end else self.title_text
        artists = [a for p in self.panels for a in p.dynamic] + [title]
        return sorted(artists, key=lambda a: a.get_zorder())

    def set_run(self, run: Run, *, colors: Mapping[str, str | int] | None = None) -> None:
        """Swaps in new trajectories (any count), restyling the same artists; the contours
        are never touched.

        Args:
            run: the new trajectories.
            colors: a new colour mapping (see the class); by default the current one.
        """
        if colors is not None:
            self.colors = dict(colors)
        data = RunData.from_run(run, self.theme, self.colors)
        self.data = data
        self.run = run
        with rc_context(self.theme):
            for panel in self.panels:
                panel.set_data(data)
            self._set_legend(data)
        self._lr = run.lr.astype(float)
        lr_range = np.nanmax(self._lr, axis=1) - np.nanmin(self._lr, axis=1) if run.steps else 0
        self._lr_changes = bool(np.any(lr_range > 0))
        self.set_step(min(self.step, run.steps))
        if self._title_spot is not None:
            self._place_title()

    def _set_legend(self, data: RunData) -> None:
        """One entry per optimizer (plus the minimum); a legend whose entries keep their
        colours only has its texts changed."""
        th = self.theme
        styles, labels = [], []
        for k, text in enumerate(data.legend):
            rows = slice(k * data.n_starts, (k + 1) * data.n_starts)
            gone = data.run.diverged_at[rows]
            if (gone >= 0).any():
                text += (f"  (diverged at step {gone[gone >= 0].min()})" if data.n_starts == 1
                         else f"  ({(gone >= 0).sum()} of {data.n_starts} diverged)")
            styles.append(tuple(data.colors[data.first[k]]))
            labels.append(text)
        if self.surface.minima and self.view == "2d":
            styles.append("minimum")
            labels.append("minimum")
        if self._legend is not None and styles == self._legend_handles:
            for entry, label in zip(self._legend.texts, labels, strict=True):
                if entry.get_text() != label:
                    entry.set_text(label)
            return
        if self._legend is not None:
            self._legend.remove()
        handles = [Line2D([], [], linestyle="", marker="*", markersize=11, color=th.foreground,
                          markeredgecolor=th.background) if style == "minimum" else
                   Line2D([], [], color=style, linewidth=2.4, marker="o", markersize=6,
                          markeredgecolor=th.foreground) for style in styles]
        ncols = min(5, -(-len(handles) // 2)) if len(handles) > 3 else len(handles)
        self._legend = self.fig.legend(handles, labels, loc="outside lower center",
                                       ncols=max(ncols, 1), frameon=False, handlelength=1.6,
                                       columnspacing=1.4)
        self._legend_handles = styles

    def set_step(self, t: int) -> list[Artist]:
        """Moves every path, head, bar and the title to step ``t`` (an integer; one outside
        ``0..run.steps`` shows the nearest end); returns the artists that changed (all of
        them, for blitting)."""
        t = self._shown_step(t)
        self.step = t
        changed: list[Artist] = []
        for panel in self.panels:
            changed += panel.update(t)
        if self._title_end:
            start, end = self._title_end
            end.set_text(self._title(t)[len(start):])
            changed.append(end)
        else:
            self.title_text.set_text(self._title(t))
            changed.append(self.title_text)
        return changed

    def _shown_step(self, t: int) -> int:
        """The step `set_step` shows for ``t``: the nearest in ``0..run.steps``."""
        return int(np.clip(check_step(t), 0, self.run.steps))

    def frames(self, steps: Sequence[int], *, helpers: int | None = None
               ) -> Iterator[np.ndarray]:
        """`BlittedFigure.frames`; the start of the title that all of ``steps`` share is
        drawn once, with the background (`_split_title`)."""
        with self._split_title([self._title(self._shown_step(t)) for t in steps]):
            yield from super().frames(steps, helpers=helpers)

    @contextlib.contextmanager
    def _split_title(self, texts: Sequence[str]) -> Iterator[None]:
        """While it lasts, the title is two texts: the words that all of ``texts`` start
        with (``title_text``, static) and the rest (moved with the step). Each glyph sits
        where the longest of ``texts``, laid out whole as the title is, puts it: the start
        stays in place from frame to frame, and the end follows it as one text would."""
        start = _shared_start(texts)
        full = self.title_text
        if not start or full.get_usetex() or self._title_spot is None:
            yield
            return
        longest = max(texts, key=len)
        full.set_text(longest)
        right = full.get_window_extent().x1
        end = self.fig.text(0, 0, longest[len(start):])
        end.update_from(full)
        end.set_position(full.get_position())  # then back by its width from the right end
        x = right - end.get_window_extent().width
        end.set_x(full.get_transform().inverted().transform((x, 0))[0])
        full.set_text(start)
        self._title_end = start, end
        try:
            yield
        finally:
            self._title_end = None
            end.remove()
            full.set_text(self._title(self.step))

    def _place_title(self) -> None:
        """Anchors the title at the left end and the baseline that the longer of the first
        and the last step's titles has where the layout put the title (centred): each
        step's title starts there, whatever its length. A title of several lines keeps
        its place (its lines centred)."""
        full = self.title_text
        position, ha, va = self._title_spot
        full.set_position(position)
        full.set_ha(ha)
        full.set_va(va)
        longest = max(self._title(0), self._title(self.run.steps), key=len)
        if "\n" in longest:
            return
        full.set_text(longest)
        whole = full.get_window_extent()
        to_text = full.get_transform().inverted()
        full.set_ha("left")
        full.set_va("baseline")
        full.set_position(to_text.transform((whole.x0, whole.y0)))
        baseline = 2 * whole.y0 - full.get_window_extent().y0  # the bottom plus the descent
        full.set_position(to_text.transform((whole.x0, baseline)))
        full.set_text(self._title(self.step))

    def _title(self, t: int) -> str:
        text = f"{self.title}   ·   step {t} / {self.run.steps}"
        if self._lr_changes:
            s = min(t, self.run.steps - 1)
            now = self._lr[:, s]
            if np.allclose(now, now[0]):
                text += f"   ·   lr {now[0]:.3g}"
            else:
                text += f"   ·   lr × {now[0] / self._lr[0, 0]:.3g}"
        return text

    def update_values(self) -> np.ndarray:
        """The update bars as drawn: ``(n_optimizers, 2)`` signed lengths along x and y."""
        if not self.update_panels:
            raise UsageError("this figure has no update panel (updates=False)")
        return np.column_stack([p.values() for p in self.update_panels])

    def redraw(self, *, full: bool = False) -> np.ndarray:
        """Brings the figure's pixels up to date with the least drawing, and returns them.

        After `set_step` only the moving artists are drawn again, over the kept background;
        after `set_run`, or any change to the figure's artists, also the parts whose look
        changed (a legend entry, an axis whose limits moved), each repainted exactly as a
        full draw paints it. ``full=True`` draws everything anew.

        Returns:
            An ``(H, W, 4)`` uint8 RGBA view of the canvas's buffer, valid until the next
            draw (for ``ipympl``, ``fig.canvas.blit()`` sends it).
        """
        if self._repainter is None:
            canvas = self.fig.canvas
            if not isinstance(canvas, FigureCanvasAgg):  # paint on an Agg canvas of our own
                own, canvas = canvas, FigureCanvasAgg(self.fig)
                self.fig.set_canvas(own)
            self._repainter = Repainter(self.fig, canvas)
        return self._repainter.paint(self.dynamic, full=full)

    @property
    def repainted(self) -> list[Bbox]:
        """The rectangles (pixels from the bottom left) the last `redraw` repainted: the
        whole figure after a full draw, none after a step."""
        return list(self._repainter.repainted) if self._repainter is not None else []


def _shared_start(texts: Sequence[str]) -> str:
    """The words (each with the space after it) that every one of ``texts`` starts with;
    all of the text when they are all the same. Empty when they share no word, or when a
    text is math or several lines (laid out as a whole)."""
    if not texts or any("$" in t or "\n" in t for t in texts):
        return ""
    shared = os.path.commonprefix(list(texts))
    if all(t == shared for t in texts):
        return shared
    return shared[:shared.rfind(" ") + 1]
