"""Many starts as a flow: every start of an N x N grid is a particle, one panel per optimizer.

`flow_starts` lays the grid over the surface's domain (the cell centres, as the basin maps
use them); `trajviz.run` moves all of them at once (one batched run per optimizer); a
`FlowFigure` draws each optimizer's particles on its own small panel of the surface. Each
particle is coloured by where its run ends: the colour of the known minimum it ends near,
grey when it ends near none, and it disappears where it diverges. So the first frame is the
basin map itself, and the animation shows it collapse into the minima; each panel counts the
particles near a minimum at the current step.

Example:
    >>> import trajviz
    >>> from trajviz.plot.flow import flow_starts, animate_flow
    >>> run = trajviz.run("himmelblau", "sgd:lr=0.01,adam:lr=0.1", steps=100,
    ...                   starts=flow_starts("himmelblau", 16))
    >>> anim = animate_flow(run, "himmelblau", frames=50)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from surfaces import Surface

from .._resolve import resolve_surface
from ..checks import check_figure_size, check_step, check_text
from ..errors import UsageError
from ..maps.basins import _centres
from ..maps.plot import DIVERGED, NOT_CONVERGED, minimum_colour
from ..run import Run
from ._blit import BlittedFigure
from .animate import RunAnimation
from .figure import display_name, lay_out
from .panels import RunData, SurfacePanel, surface_grid
from .theme import get_theme, rc_context

NEAR = 0.02  # "near a minimum": within this share of the domain's diagonal


def flow_starts(surface: Surface | str, n: int) -> np.ndarray:
    """``(n * n, 2)`` starts: the cell centres of an ``n`` x ``n`` grid over the domain."""
    if n < 1:
        raise UsageError(f"a flow needs at least 1 start per side, got {n}")
    (x0, x1), (y0, y1) = resolve_surface(surface).domain
    gx, gy = np.meshgrid(_centres(x0, x1, n), _centres(y0, y1, n))
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)


def check_flow_size(n: int, optimizers: int, steps: int, *, itemsize: int = 4,
                    limit_gb: float = 4.0) -> None:
    """Refuses, before any work, a flow whose recorded history (positions, loss, gradients
    and updates of every run at every step) would pass ``limit_gb``."""
    runs = n * n * optimizers
    size = runs * (steps + 1) * 7 * itemsize / 2**30
    if size > limit_gb:
        raise UsageError(f"a flow of {n} x {n} starts x {optimizers} optimizers x {steps} "
                         f"steps would record {runs:,} runs (about {size:,.1f} GB; the limit "
                         f"is {limit_gb:g} GB): use a smaller N or fewer steps")


class FlowFigure(BlittedFigure):
    """Each optimizer's starts as particles on its own panel of the surface.

    Args:
        run: one optimizer per block of starts (``trajviz.run(..., starts=flow_starts(...))``).
        surface: the surface they ran on.
        theme: ``light`` or ``dark``.
        size: figure size in inches (default: about 2.4 inches a panel).
        dpi: dots per inch.
        near: a particle is near a minimum within this share of the domain's diagonal.
        title: the title's first part (default: the surface's name).
    """

    def __init__(self, run: Run, surface: Surface | str, *, theme: str = "light",
                 size: tuple[float, float] | None = None, dpi: int = 100, near: float = NEAR,
                 title: str | None = None) -> None:
        self.run, self.surface = run, resolve_surface(surface)
        self.theme = get_theme(theme)
        self.data = RunData.from_run(run, self.theme)
        self.title = check_text(title, "title") if title is not None else display_name(
            self.surface)
        n_opt, k = self.data.n_opt, self.data.n_starts
        cols = min(n_opt, 4) if n_opt != 3 else 3
        rows = math.ceil(n_opt / cols)
        if size is None:
            size = (2.4 * cols + 0.4, 2.4 * rows + 1.0)
        size, dpi = check_figure_size(size, dpi)
        (x0, x1), (y0, y1) = self.surface.domain
        self.tol = near * math.hypot(x1 - x0, y1 - y0)
        self.pos = run.positions.astype(float).reshape(n_opt, k, run.steps + 1, 2)
        self.colors = self._fate_colours().reshape(n_opt, k, 4)
        grid = surface_grid(self.surface)
        with rc_context(self.theme):
            self.fig = Figure(figsize=size, dpi=dpi, layout="constrained")
            FigureCanvasAgg(self.fig)
            self.fig.set_facecolor(self.theme.background)
            axes = self.fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
            self.particles: list[list[tuple[np.ndarray, Line2D]]] = []
            self.counts: list[list[tuple[str, Text]]] = []
            for j, ax in enumerate(axes):
                if j >= n_opt:
                    ax.set_visible(False)
                    continue
                SurfacePanel(ax, self.surface, grid, self.theme)
                # the title's empty second line makes room for the counters
                ax.set_title(self.data.legend[j] + "\n", fontsize=9.5,
                             color=self.theme.foreground)
                ax.label_outer()
                self.particles.append(self._particles(ax, j))
                self.counts.append(self._counters(ax, j))
            side = math.isqrt(k)
            starts = f"{side} x {side}" if side * side == k else f"{k}"
            self.title_text = self.fig.suptitle(f"{self.title}   ·   {starts} starts   ·",
                                                fontsize=12, fontweight="bold")
            self.step_text = self.fig.text(0, 0, "", fontsize=12, fontweight="bold")
            self._legend()
            self.set_step(0)
            lay_out(self.fig)  # once ...
        self.fig.set_layout_engine("none")  # ... and keeps that layout for every frame
        # the step counter follows the (now placed) title
        x, y = self.title_text.get_position()
        box = self.title_text.get_window_extent().transformed(self.fig.transFigure.inverted())
        self.step_text.set_position((box.x1 + 0.008, y))
        self.step_text.set_va(self.title_text.get_va())

    def _fate_colours(self) -> np.ndarray:
        """``(n, 4)``: the colour of the minimum each run ends near, else grey; a surface
        without known minima colours each panel in its optimizer's colour."""
        run, n = self.run, self.run.n_traj
        if not self.surface.minima:
            return self.data.colors.copy()
        final = run.final_positions
        minima = np.asarray(self.surface.minima, dtype=float)
        dist = np.linalg.norm(final[:, None, :] - minima[None], axis=-1)
        nearest = dist.argmin(axis=1)
        rgba = np.array([to_rgba(minimum_colour(m)) for m in nearest])
        rgba[dist[np.arange(n), nearest] > self.tol] = to_rgba(NOT_CONVERGED)
        rgba[run.diverged_at >= 0] = to_rgba(DIVERGED)
        return rgba

    def _legend(self) -> None:
        th = self.theme
        minima = self.surface.minima
        entries = [(minimum_colour(m), f"({x:.3g}, {y:.3g})") for m, (x, y) in enumerate(minima)]
        entries += [(NOT_CONVERGED, "no minimum")] if minima else []
        entries += [(DIVERGED, "diverges, then vanishes")]
        handles = [Line2D([], [], linestyle="", marker="o", markersize=6, color=c,
                          markeredgecolor=th.background) for c, _ in entries]
        title = ("each start is coloured by the minimum its run ends near:" if minima else
                 "each start in its optimizer's colour:")
        self.fig.legend(handles, [label for _, label in entries], loc="outside lower center",
                        ncols=len(entries), frameon=False, fontsize=8.5, title=title,
                        title_fontsize=8.5, columnspacing=1.2, handletextpad=0.3)

    def _particles(self, ax: Any, j: int) -> list[tuple[np.ndarray, Line2D]]:
        """Optimizer ``j``'s particles, one marker line per colour (matplotlib stamps a
        line's markers from one rendered marker, far faster than a scatter)."""
        colours, which = np.unique(self.colors[j], axis=0, return_inverse=True)
        groups = []
        for c, colour in enumerate(colours):
            (line,) = ax.plot([], [], linestyle="", marker="o", markersize=2.4,
                              markeredgewidth=0, color=colour, zorder=4)
            groups.append((np.flatnonzero(which.ravel() == c), line))
        return groups

    def _counters(self, ax: Any, j: int) -> list[tuple[str, Text]]:
        """Static labels over the panel, each with a value beside it that changes with the
        step: the share of the panel's particles near a minimum and, where some diverge, the
        share gone. Only the values' few glyphs are drawn again for each frame."""
        k = self.pos.shape[1]
        kinds = ["near a minimum"] if self.surface.minima else []
        if (self.run.diverged_at[j * k:(j + 1) * k] >= 0).any():
            kinds.append("diverged")
        th = self.theme
        counters = []
        for kind, x in zip(kinds, (0.0, 0.62), strict=False):
            label = ax.text(x, 1.02, kind, transform=ax.transAxes, fontsize=8, va="bottom",
                            color=th.foreground)
            value = ax.annotate("", xy=(1, 0), xycoords=label, xytext=(3, 0),
                                textcoords="offset points", va="bottom", fontsize=8,
                                fontweight="bold", color=th.foreground, zorder=5)
            counters.append((kind, value))
        return counters

    @property
    def dynamic(self) -> list[Artist]:
        lines = [line for groups in self.particles for _, line in groups]
        values = [value for counters in self.counts for _, value in counters]
        return [*lines, *values, self.step_text]

    def set_step(self, t: int) -> list[Artist]:
        """Moves every particle to step ``t`` (an integer, clipped to the run; a diverged
        particle is gone from its step on)."""
        t = int(np.clip(check_step(t), 0, self.run.steps))
        here = self.pos[:, :, t]
        minima = np.asarray(self.surface.minima, dtype=float).reshape(-1, 2)
        k = here.shape[1]
        for j, (groups, counters) in enumerate(zip(self.particles, self.counts, strict=True)):
            for rows, line in groups:
                line.set_data(here[j, rows, 0], here[j, rows, 1])
            shares = {"diverged": np.isnan(here[j]).any(axis=1).sum() / k}
            if len(minima):
                dist = np.linalg.norm(here[j][:, None, :] - minima[None], axis=-1).min(axis=1)
                shares["near a minimum"] = (dist <= self.tol).sum() / k
            for kind, value in counters:
                value.set_text(f"{shares[kind]:.0%}")
        self.step_text.set_text(f"step {t} / {self.run.steps}")
        return self.dynamic


def animate_flow(run: Run, surface: Surface | str, *, frames: int | None = 200,
                 fps: float = 20, **options: Any) -> RunAnimation:
    """The flow as an animation (options as for `FlowFigure`); `trajviz.save` writes it."""
    if not fps > 0:
        raise UsageError(f"fps must be positive, got {fps}")
    figure = FlowFigure(run, surface, **options)
    return RunAnimation(figure, figure.frame_steps(frames), fps)
