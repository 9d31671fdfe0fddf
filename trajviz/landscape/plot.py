"""Landscape figures: the paths on the slice (via `trajviz.plot.RunFigure`), labelled with
what the plane explains and misses, with the held-out accuracy; and the 1-D view."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..plot import RunAnimation, RunFigure, get_theme
from ..plot.panels import RunData
from ..plot.theme import rc_context
from .grid import Grid
from .pipeline import Landscape
from .surface import grid_surface


def axis_labels(land: Landscape | Grid) -> tuple[str, str]:
    """``PC1 (84% of the paths' variance)`` or ``random direction 1 (filter-normalized)``,
    for a `Landscape` or a `Grid`."""
    g = land if isinstance(land, Grid) else land.grid
    explained = g.meta.get("explained")
    if explained:
        return tuple(f"PC{k + 1}  ({100 * v:.1f}% of the paths' variance)"
                     for k, v in enumerate(explained))
    return ("random direction 1 (filter-normalized)", "random direction 2 (filter-normalized)")


def landscape_figure(land: Landscape, *, view: str = "2d", theme: str = "light",
                     size: tuple[float, float] = (11, 6.5), dpi: int = 100,
                     **options: Any) -> RunFigure:
    """The projected paths over the grid's contours (``view="3d"``: a surface), with the
    loss on the plane, the held-out accuracy and each step's projected update.

    A box in the corner says how much of each path's movement the plane misses.
    """
    g = land.grid
    run = land.to_run()
    surface = grid_surface(g)
    x, y = np.meshgrid(g.alpha, g.beta)
    model, data = g.meta.get("model", "model"), g.meta.get("data", {}).get("dataset", "data")
    title = f"{model} on {data}: {g.meta.get('directions')} plane"
    rf = RunFigure(run, surface, background=(x, y, g.loss), view=view, theme=theme,
                   size=size, dpi=dpi, title=title, **options)
    ax = rf.main.ax
    xl, yl = axis_labels(land)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl, rotation=90, labelpad=4)
    if view == "2d":
        _missed_box(rf, land)
    if rf.loss is not None:
        _accuracy_axis(rf, land)
    return rf


def _accuracy_axis(rf: RunFigure, land: Landscape) -> None:
    """Held-out accuracy against the record index, in an inset of the loss panel (static:
    drawn once, under the growing loss curves)."""
    with rc_context(rf.theme):
        ax = rf.loss.ax.inset_axes([0.52, 0.5, 0.45, 0.45])
        for k, t in enumerate(land.training.trajectories):
            ax.plot(np.arange(len(t.test_acc)), 100 * t.test_acc, linewidth=1.0,
                    color=rf.data.colors[rf.data.first[k]])
        ax.set_title("held-out accuracy %", fontsize=7, pad=2)
        ax.tick_params(labelsize=6, length=2)
        ax.set_xticks([])
        ax.set_facecolor(rf.theme.background)


def _missed_box(rf: RunFigure, land: Landscape) -> None:
    """What the plane misses of each path, in the main panel's corner."""
    g = land.grid
    lines = [f"{label.split('(')[0]}: {100 * m:.0f}%"
             for label, m in zip(g.labels, g.meta["missed_steps"], strict=True)]
    rf.main.ax.text(0.99, 0.01, "plane misses of each path's movement\n" + "\n".join(lines),
                    transform=rf.main.ax.transAxes, ha="right", va="bottom", fontsize=7,
                    color=rf.theme.foreground, zorder=10,
                    bbox=dict(boxstyle="round", facecolor=rf.theme.background, alpha=0.8,
                              edgecolor=rf.theme.muted))


def line_figure(land: Landscape, *, theme: str = "light", size: tuple[float, float] = (7, 4.5),
                dpi: int = 100) -> Figure:
    """The 1-D view: the loss along the straight line from the initialisation (t = 0) to
    each optimizer's final weights (t = 1)."""
    g, th = land.grid, get_theme(theme)
    with rc_context(th):
        fig = Figure(figsize=size, dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colors = RunData.from_run(land.to_run(), th).colors
        for k, label in enumerate(g.labels):
            ax.plot(g.line_t, g.line_loss[k], color=colors[k], linewidth=1.6, label=label)
        for t in (0, 1):
            ax.axvline(t, color=th.muted, linewidth=0.8, linestyle=":")
        ax.set_xlabel("t  (weights = init + t · (final − init))")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")
        ax.set_title(f"{g.meta.get('model', 'model')}: loss from the initialisation (t = 0) "
                     "to each optimizer's final weights (t = 1)", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
    return fig


__all__ = ["RunAnimation", "axis_labels", "landscape_figure", "line_figure"]
