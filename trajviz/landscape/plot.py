"""The landscape figure: the paths on the slice, and beside it what the slice cannot show.

`LandscapeFigure` is a `trajviz.plot.RunFigure` (so `trajviz.save`, the writers and the
explorers take it) with its own panels, all animated by training record:

- the slice: the loss on the plane (levels spaced for the grid's range, a colour bar in
  loss units), the plane's centre, each path's shared start, its end and the path so far;
  with one plane per optimizer (``pca-each``), one small slice per optimizer;
- loss: each optimizer's real training loss (all weights, on the data the grid is
  evaluated on), solid, and dashed in the same colour the loss at its projected point on
  the plane: the gap between the two is what the slice cannot show;
- held-out accuracy, in a panel of its own;
- update size: the norm of each iteration's change of all the weights;
- update sign: of the weights that moved, the share that moved along the sign of the
  negative mini-batch gradient (100 % for SGD).

`landscape_figure` builds it from a `Landscape`, a `Grid`, grid files or a list of those:
the CLI, the example scripts and `explore_landscape` all draw through it.
"""

from __future__ import annotations

import math
import os
import textwrap
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, PercentFormatter

from ..errors import UsageError
from ..plot import RunFigure, get_theme
from ..plot.panels import Z_MINIMA, RunData, Surface3DPanel, SurfacePanel
from ..plot.still import STILL_FORMATS, is_still_format, save_figure
from ..plot.theme import Theme, rc_context
from ..plot.writers import writer_for
from ..run import Run
from .grid import Grid
from .paths import missed_shares, paths_run, record_iterations
from .pipeline import Landscape
from .surface import grid_surface

VIEWS = ("2d", "3d", "1d")
Z_END = 3.8  # above the path, below the moving head
SMOOTH_POINTS = 600  # at most this many points per per-iteration curve
# The slice's colours, low loss to high: strong enough that the structure shows, light
# enough at the bottom that every optimizer's colour stands out where the paths end.
SLICE_COLORS = {"light": ("#FFFFFF", "#E4E9F0", "#B9C4D3", "#8595AB", "#56657D"),
                "dark": ("#101318", "#1F2633", "#34405A", "#52617F", "#7D8CAA")}
Source = Landscape | Grid | str | os.PathLike[str]


def as_grids(source: Source | Sequence[Grid | str | os.PathLike[str]]) -> tuple[Grid, ...]:
    """The grids of a `Landscape`, a `Grid`, a grid file, or a sequence of grids or files
    (one per optimizer, as ``--directions pca-each`` writes them)."""
    if isinstance(source, Landscape):
        return source.grids
    if isinstance(source, Grid):
        return (source,)
    if isinstance(source, (str, os.PathLike)):
        return (Grid.load(source),)
    if isinstance(source, Sequence) and source and all(
            isinstance(s, (Grid, str, os.PathLike)) for s in source):
        return tuple(s if isinstance(s, Grid) else Grid.load(s) for s in source)
    raise UsageError(f"expected a grid file, a Grid, a Landscape or a list of grids, not "
                     f"{type(source).__name__}")


def axis_labels(grid: Landscape | Grid) -> tuple[str, str]:
    """What each axis of a grid's plane is: ``PC1 (84.1% of the paths' variance)``,
    ``Hessian eigenvector 1 (λ = 53.2)``, ``random direction 1 (filter-normalized)``."""
    g = grid if isinstance(grid, Grid) else grid.grid
    # a grid that does not say how its plane was made has loss_landscape's default plane
    kind, plane = g.meta.get("directions", "random"), g.meta.get("plane") or {}
    explained = g.meta.get("explained")
    if kind == "hessian" and plane.get("eigenvalues"):
        return tuple(f"Hessian eigenvector {k + 1}  (λ{'₁₂'[k]} = {v:.3g})"
                     for k, v in enumerate(plane["eigenvalues"][:2]))
    if explained:
        whose = (f"of {plane['optimizer'].split('(')[0]}'s path" if kind == "pca-each"
                 else "of the paths' variance")
        return tuple(f"PC{k + 1}  ({100 * v:.1f}% {whose})" for k, v in enumerate(explained))
    if kind == "random":
        return ("random direction 1 (filter-normalized)",
                "random direction 2 (filter-normalized)")
    return ("α (along d1)", "β (along d2)")


def _samples(grid: Grid) -> str:
    """What the grid's loss is averaged over: ``8,000 training images``."""
    n = int(grid.meta.get("grid_samples", 0))
    return f"{n:,} training images" if grid.meta.get("data") else f"{n:,} samples"


def _plane_name(grid: Grid) -> str:
    return {"pca": "PCA plane of the paths", "pca-each": "each optimizer's own PCA plane",
            "random": "random filter-normalized plane", "hessian": "Hessian plane"}.get(
        grid.meta.get("directions", ""), "plane")


def figure_size(grids: Sequence[Grid]) -> tuple[float, float]:
    """The landscape figure's size in inches: wider with one slice per optimizer, the slice
    alone when there are no paths."""
    if not any(g.paths.size for g in grids):
        return (7.5, 6.0)
    return (15.5, 7.6) if len(grids) > 1 else (13.0, 7.2)


def slice_scale(values: np.ndarray) -> tuple[np.ndarray, Normalize]:
    """Contour levels and colour norm for loss values: geometric where the loss is positive
    and spans more than a decade (a valley and its walls both show), else even."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return np.linspace(0, 1, 3), Normalize(0, 1)
    lo, hi = float(v.min()), float(v.max())
    if lo > 0 and hi / lo > 10:
        lo = max(lo, hi * 1e-6)
        levels = np.geomspace(lo, hi, 22)
        return levels, LogNorm(lo, hi)
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-3
    return np.linspace(lo, hi, 22), Normalize(lo, hi)


@dataclass(frozen=True)
class PathCurves:
    """Everything the side panels show, per path (rows in the grids' order).

    Attributes:
        labels: one per path.
        record_steps: ``(n, r)`` the training iteration of each record (NaN-padded).
        real_loss, plane_loss, accuracy: ``(n, r)`` at each record.
        it: ``(m,)`` iterations at which the per-iteration curves are drawn.
        update_norm, sign_share: ``(n, m)`` trailing means over ``window`` iterations.
        sign_raw: ``(n, iterations)`` the sign share of every iteration.
        window: iterations in each mean.
        iterations: the training length.
        n_params, held_out: sizes for the panels' labels.
    """

    labels: list[str]
    record_steps: np.ndarray
    real_loss: np.ndarray
    plane_loss: np.ndarray
    accuracy: np.ndarray
    it: np.ndarray
    update_norm: np.ndarray
    sign_share: np.ndarray
    sign_raw: np.ndarray
    window: int
    iterations: int
    n_params: int
    held_out: int

    @classmethod
    def from_grids(cls, grids: Sequence[Grid]) -> PathCurves:
        grids = [g for g in grids if g.paths.size]
        r = max(g.paths.shape[1] for g in grids)

        def stack(name: str, fill: float = np.nan) -> np.ndarray:
            rows = []
            for g in grids:
                a = np.asarray(getattr(g, name), dtype=float)
                rows.append(np.pad(a, ((0, 0), (0, r - a.shape[1])), constant_values=fill))
            return np.concatenate(rows)

        steps = stack("path_steps", -1)
        steps[steps < 0] = np.nan
        norm, share = stack_iterations(grids, "update_norm"), stack_iterations(grids,
                                                                                "sign_share")
        iterations = norm.shape[1]
        window = max(1, iterations // 100)
        stride = max(1, math.ceil(iterations / SMOOTH_POINTS))
        it = np.arange(1, iterations + 1)[stride - 1::stride]
        meta = grids[0].meta
        data = meta.get("data") or {}
        return cls([label for g in grids for label in g.labels], steps, stack("path_loss"),
                   stack("path_plane_loss"), stack("path_accuracy"), it,
                   trailing_mean(norm, window)[:, stride - 1::stride],
                   trailing_mean(share, window)[:, stride - 1::stride], share, window,
                   iterations,
                   int((meta.get("train") or {}).get("n_params", len(grids[0].centre))),
                   int(data.get("n_test", 0)))


def stack_iterations(grids: Sequence[Grid], name: str) -> np.ndarray:
    arrays = [np.asarray(getattr(g, name), dtype=float) for g in grids]
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])),
                                  constant_values=np.nan) for a in arrays])


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each row's finite values over the last ``window`` entries (fewer at the
    start); NaN where the value itself is NaN (after a divergence)."""
    finite = np.isfinite(values)
    total = np.cumsum(np.where(finite, values, 0.0), axis=1)
    count = np.cumsum(finite, axis=1)
    total[:, window:] -= total[:, :-window].copy()
    count[:, window:] -= count[:, :-window].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    out[~finite] = np.nan
    return out


def _decades(values: np.ndarray) -> tuple[float, float] | None:
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        return None
    return (float(10.0 ** np.floor(np.log10(v.min()))),
            float(10.0 ** np.ceil(np.log10(v.max()))))


class _Rows:
    """Which rows of the full `PathCurves` the shown run holds, with their colours."""

    def __init__(self, curves: PathCurves, data: RunData) -> None:
        index = {label: k for k, label in enumerate(curves.labels)}
        self.rows = [index[label] for label in data.run.labels if label in index]
        self.colors = [data.colors[i] for i, label in enumerate(data.run.labels)
                       if label in index]


class CurvePanel:
    """Lines against the training iteration, drawn up to the current record.

    Each series is ``(x, y, style)`` with ``x`` ``(n, k)`` iterations and ``y`` ``(n, k)``
    values; the axes' limits come from every path (shown or not), so switching optimizers
    never moves them.
    """

    def __init__(self, ax: Axes, theme: Theme, curves: PathCurves, series: list[tuple[
            np.ndarray, np.ndarray, str]], *, title: str, ylabel: str, log: bool,
            ylim: tuple[float, float] | None, percent: bool = False) -> None:
        self.ax, self.theme, self.curves, self.series = ax, theme, curves, series
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("training iteration")
        ax.set_ylabel(ylabel)
        ax.grid(True, color=theme.muted, linewidth=0.4, alpha=0.45)
        ax.set_xlim(0, max(curves.iterations, 1))
        if log and ylim is not None:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(numticks=6))
        if ylim is not None:
            ax.set_ylim(*ylim)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True, steps=[1, 2, 2.5, 5, 10]))
        self.lines = [LineCollection([], linestyles=style, zorder=3) for _, _, style in series]
        for lc in self.lines:
            ax.add_collection(lc)

    def set_data(self, data: RunData) -> None:
        self.shown = _Rows(self.curves, data)
        for lc, (_, _, style) in zip(self.lines, self.series, strict=True):
            lc.set_color(self.shown.colors)
            lc.set_linewidth(1.5 if style == "solid" else 1.2)

    def update(self, t: int) -> list[Artist]:
        upto = self._iteration(t)
        for lc, (x, y, _) in zip(self.lines, self.series, strict=True):
            segments = []
            for k in self.shown.rows:
                keep = np.isfinite(x[k]) & (x[k] <= upto)
                segments.append(np.column_stack([x[k][keep], y[k][keep]]))
            lc.set_segments(segments)
        return list(self.lines)

    def _iteration(self, t: int) -> float:
        steps = np.nanmax(self.curves.record_steps, axis=0)
        return float(steps[min(t, len(steps) - 1)])

    @property
    def dynamic(self) -> list[Artist]:
        return list(self.lines)


class SignPanel(CurvePanel):
    """The update-sign share; lines that lie on each other at 100 % (an update that is a
    positive multiple of the gradient, element by element: SGD, Adagrad, Adadelta, RMSprop
    without momentum) are named under the axis, since only the top one can be seen."""

    def set_data(self, data: RunData) -> None:
        super().set_data(data)
        share = self.series[0][1]
        full = [self.curves.labels[k].split("(")[0] for k in self.shown.rows
                if np.isfinite(share[k]).any() and np.nanmin(self.curves.sign_raw[k]) >= 1]
        text = "training iteration"
        if len(full) > 1:
            lines = textwrap.wrap("100 % at every iteration: " + ", ".join(full), 38)
            text += "\n" + "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")
        if text != self.ax.get_xlabel():  # set, it would be repainted
            self.ax.set_xlabel(text, fontsize=8.5 if len(full) > 1 else None)


class SlicePanel(SurfacePanel):
    """The loss on one plane with the paths on it: contours on the shared colour scale,
    the centre (+), each path's start (○), end (◇) and its path up to the current record.

    With ``label`` it shows only that optimizer's path (one plane per optimizer)."""

    def __init__(self, ax: Axes, grid: Grid, theme: Theme, *, levels: np.ndarray,
                 norm: Normalize, cmap: LinearSegmentedColormap, label: str | None = None
                 ) -> None:
        self.levels, self.norm, self.cmap, self.label = levels, norm, cmap, label
        x, y = np.meshgrid(grid.alpha, grid.beta)
        super().__init__(ax, grid_surface(grid), (x, y, grid.loss), theme)
        ax.plot([0], [0], marker="+", markersize=12, markeredgewidth=1.6, linestyle="",
                color=theme.foreground, zorder=Z_MINIMA)
        xl, yl = axis_labels(grid)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl, rotation=90, labelpad=4)
        if label is not None:
            ax.set_title(label, fontsize=9.5)

    def _draw_contours(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        shown = np.clip(z, self.levels[0], self.levels[-1])
        self.filled = self.ax.contourf(x, y, shown, levels=self.levels, norm=self.norm,
                                       cmap=self.cmap, zorder=1)
        self.ax.contour(x, y, shown, levels=self.levels[::3], norm=self.norm,
                        colors=self.theme.foreground, linewidths=0.45, alpha=0.35, zorder=1)

    def set_data(self, data: RunData) -> None:
        data = _only(data, self.label)
        if hasattr(self, "ends"):  # the base class removes whatever follows its own artists
            self._artists.remove(self.ends)
        super().set_data(data)
        if not hasattr(self, "ends"):
            self.ends = self.ax.scatter([], [], s=70, marker="D", facecolors="none",
                                        linewidths=1.6, zorder=Z_END)
        last = data.run.positions[np.arange(data.run.n_traj), data.last].reshape(-1, 2)
        self.ends.set_offsets(last)
        self.ends.set_edgecolor(data.colors)
        self._artists.append(self.ends)
        # a thin dark outline keeps every colour (yellow too) visible on light contours
        self.paths.set_path_effects([patheffects.Stroke(linewidth=2.6, foreground=self.theme
                                                        .foreground, alpha=0.45),
                                     patheffects.Normal()])


class Slice3DPanel(Surface3DPanel):
    """The loss on the plane as a surface, the paths on it at their on-plane loss."""

    def __init__(self, ax: Axes, grid: Grid, theme: Theme, *, label: str | None = None
                 ) -> None:
        self.label = label
        x, y = np.meshgrid(grid.alpha, grid.beta)
        super().__init__(ax, grid_surface(grid), (x, y, grid.loss), theme)
        xl, yl = axis_labels(grid)
        ax.set_xlabel(xl.split("  ")[0])
        ax.set_ylabel(yl.split("  ")[0])
        ax.set_zlabel("loss on the plane")
        if label is not None:
            ax.set_title(label, fontsize=9.5)

    def set_data(self, data: RunData) -> None:
        super().set_data(_only(data, self.label))


def _only(data: RunData, label: str | None) -> RunData:
    """``data`` restricted to the path ``label`` (all paths when ``None``)."""
    if label is None:
        return data
    rows = [i for i, lab in enumerate(data.run.labels) if lab == label]
    r = data.run
    sub = Run(r.positions[rows], r.loss[rows], r.grads[rows], r.updates[rows], r.lr[rows],
              r.diverged_at[rows], r.evals[rows], {**r.meta, "labels": [label] * len(rows)})
    return RunData(sub, len(rows), 1, [data.names[i] for i in rows],
                   [data.legend[i] for i in rows], data.colors[rows], data.last[rows],
                   np.arange(len(rows)))


class LandscapeFigure(RunFigure):
    """The landscape figure (see the module docstring); a `RunFigure` whose step is the
    training record, so `trajviz.save` writes it as GIF, MP4, PNG or frames.

    Args:
        grids: one grid (every path on one plane) or one per optimizer (``pca-each``).
        view: ``2d`` (contours) or ``3d``.
        theme, size, dpi, figure, colors: as for `RunFigure`.
        title: the title's first part (default: model, data and plane).
    """

    def __init__(self, grids: Sequence[Grid], *, view: str = "2d", theme: str = "light",
                 size: tuple[float, float] | None = None, dpi: int = 100,
                 title: str | None = None, figure: Figure | None = None,
                 colors: Mapping[str, str | int] | None = None) -> None:
        if view not in ("2d", "3d"):
            raise UsageError(f"unknown view {view!r} for the landscape figure; valid: 2d, 3d "
                             "(the 1-D view is line_figure)")
        self.grids = tuple(grids)
        if not self.grids:
            raise UsageError("no grid to draw")
        self.has_paths = any(g.paths.size for g in self.grids)
        self.curves = PathCurves.from_grids(self.grids) if self.has_paths else None
        self.record_steps = record_iterations(self.grids)
        g = self.grids[0]
        data = (g.meta.get("data") or {}).get("dataset")
        default_title = (f"{g.meta.get('model', 'model')}" + (f" on {data}" if data else "")
                         + f": {_plane_name(g)}")
        size = size or figure_size(self.grids)
        run = paths_run(self.grids)
        super().__init__(run, grid_surface(g), updates=False, loss_panel=False, view=view,
                         theme=theme, size=size, dpi=dpi, figure=figure, colors=colors,
                         title=title if title is not None else default_title)

    # -- layout ----------------------------------------------------------------------------
    def _build(self, grid: Any, *, updates: bool, arrows: bool, loss_panel: bool) -> None:
        fig, th = self.fig, self.theme
        self.update_panels, self.loss = [], None
        grids = self.grids
        k = len(grids)
        side = self.has_paths
        outer = fig.add_gridspec(1, 2 if side else 1, width_ratios=[1.25, 1] if side else [1])
        cols = min(k, 4) if k > 1 else 1
        rows = -(-k // cols)
        left = outer[0, 0].subgridspec(rows, cols)
        levels, norm = slice_scale(np.concatenate([g.loss.ravel() for g in grids]))
        cmap = LinearSegmentedColormap.from_list(
            f"trajviz-slice-{th.name}", SLICE_COLORS.get(th.name, SLICE_COLORS["light"]))
        self.slices: list[SlicePanel | Slice3DPanel] = []
        for i, g in enumerate(grids):
            label = g.labels[0] if k > 1 and g.labels else None
            spec = left[i // cols, i % cols]
            if self.view == "3d":
                ax = fig.add_subplot(spec, projection="3d")
                ax.set_facecolor(th.background)
                self.slices.append(Slice3DPanel(ax, g, th, label=label))
            else:
                ax = fig.add_subplot(spec)
                self.slices.append(SlicePanel(ax, g, th, levels=levels, norm=norm, cmap=cmap,
                                              label=label))
        self.main = self.slices[0]
        if self.view == "2d":
            bar = fig.colorbar(self.slices[0].filled, ax=[p.ax for p in self.slices],
                               shrink=0.9, pad=0.02, aspect=30)
            bar.set_label(f"loss on the plane ({_samples(grids[0])})")
            if isinstance(norm, LogNorm):
                bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                bar.ax.yaxis.set_minor_formatter(FormatStrFormatter(""))
            else:
                bar.ax.yaxis.set_major_locator(MaxNLocator(6))
            bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            self.colorbar = bar
        self.side: list[CurvePanel] = []
        if side:
            self.side = self._side_panels(outer[0, 1].subgridspec(2, 2))
        self.title_text = fig.suptitle("", fontsize=12, fontweight="bold")
        self._legend = None
        self._legend_handles: list[tuple] = []

    def _side_panels(self, spec: Any) -> list[CurvePanel]:
        c, th, fig = self.curves, self.theme, self.fig
        steps = c.record_steps
        both = np.concatenate([c.real_loss, c.plane_loss])
        ylim = _decades(both)
        loss = CurvePanel(fig.add_subplot(spec[0, 0]), th, c,
                          [(steps, c.real_loss, "solid"), (steps, c.plane_loss, "dashed")],
                          title="loss: real (—) and on the plane (- -);\nthe gap is what "
                                "the slice cannot show",
                          ylabel=f"loss on {_samples(self.grids[0])}",
                          log=ylim is not None and both[np.isfinite(both)].min() > 0,
                          ylim=ylim)
        acc = c.accuracy[np.isfinite(c.accuracy)]
        late = c.accuracy[:, 1:][np.isfinite(c.accuracy[:, 1:])]
        low = math.floor(100 * (late.min() if late.size else 0) / 5) * 5 / 100
        accuracy = CurvePanel(fig.add_subplot(spec[0, 1]), th, c, [(steps, c.accuracy,
                                                                     "solid")],
                              title=f"held-out accuracy ({c.held_out:,} images)", ylabel="",
                              log=False, ylim=(max(0.0, min(low, 0.9)), 1.0) if acc.size
                              else None, percent=True)
        its = np.broadcast_to(c.it.astype(float), c.update_norm.shape)
        size = CurvePanel(fig.add_subplot(spec[1, 0]), th, c, [(its, c.update_norm, "solid")],
                          title=f"update size ‖Δθ‖\n(all {c.n_params:,} weights)",
                          ylabel=f"mean of {c.window} iterations" if c.window > 1 else "",
                          log=True, ylim=_decades(c.update_norm))
        sign = SignPanel(fig.add_subplot(spec[1, 1]), th, c, [(its, c.sign_share, "solid")],
                          title="share of the moved weights that\nmoved along −gradient's sign",
                          ylabel=f"mean of {c.window} iterations" if c.window > 1 else "",
                          log=False, ylim=(0.0, 1.04), percent=True)
        sign.ax.axhline(0.5, color=th.muted, linewidth=0.9, linestyle=":", zorder=2)
        self.loss_panel, self.accuracy_panel = loss, accuracy
        self.size_panel, self.sign_panel = size, sign
        return [loss, accuracy, size, sign]

    @property
    def panels(self) -> list:
        return [*self.slices, *self.side]

    def set_run(self, run: Run, *, colors: Mapping[str, str | int] | None = None) -> None:
        """Shows the paths of ``run`` (a subset of `paths_run`'s, in any order); the slices
        and the axes' limits stay as they are."""
        with warnings.catch_warnings():  # the base class's lr-schedule check: not used here
            warnings.simplefilter("ignore", RuntimeWarning)
            super().set_run(run, colors=colors)

    def _set_legend(self, data: RunData) -> None:
        """One entry per optimizer (with what the plane misses of its path, and where it
        diverged), then, on a row of their own, what the markers and line styles mean."""
        th, run = self.theme, data.run
        styles, labels = [], []
        missed = missed_shares(self.grids)
        gone = run.meta.get("diverged_iteration") or [-1] * run.n_traj
        for k, text in enumerate(data.legend):
            label = run.labels[k]
            if label in missed:
                text += f" · {100 * missed[label]:.0f}% off the plane"
            if gone[k] >= 0:
                text += f" · diverged at iteration {gone[k]}"
            styles.append(tuple(data.colors[k]))
            labels.append(text)
        centre = ("each optimizer's final weights" if len(self.grids) > 1
                  else self.grids[0].meta.get("centre"))
        marker = dict(linestyle="", color=th.foreground, markersize=8)
        key = []
        if self.view == "2d":  # the markers the 3-D view does not draw
            key.append((Line2D([], [], marker="+", markeredgewidth=1.6, **marker),
                        "plane centre" + (f": {centre}" if centre else "")))
            if self.has_paths:
                key += [(Line2D([], [], marker="o", markerfacecolor=th.background, **marker),
                         "start (shared initial weights)"),
                        (Line2D([], [], marker="D", markerfacecolor="none", **marker), "end")]
                if any(g >= 0 for g in gone):
                    key.append((Line2D([], [], marker="X", **marker),
                                "diverged (last record)"))
        if self.has_paths:
            key += [(Line2D([], [], color=th.foreground, linewidth=1.5),
                     "real loss (all weights)"),
                    (Line2D([], [], color=th.foreground, linewidth=1.2, linestyle="--"),
                     "loss at the projected point")]
        ncols = max(1, min(4, len(styles) or 4))
        pad = (-len(styles)) % ncols  # the key starts on a row of its own
        texts = _row_major(labels + [""] * pad + [t for _, t in key], ncols)
        if styles == self._legend_handles and self._legend is not None:
            for entry, text in zip(self._legend.texts, texts, strict=True):
                if entry.get_text() != text:
                    entry.set_text(text)
            return
        if self._legend is not None:
            self._legend.remove()
        handles = [Line2D([], [], color=s, linewidth=2.4, marker="o", markersize=6,
                          markeredgecolor=th.foreground) for s in styles]
        handles += [Line2D([], [], linestyle="", marker="")] * pad + [h for h, _ in key]
        self._legend = self.fig.legend(_row_major(handles, ncols), texts,
                                       loc="outside lower center", ncols=ncols,
                                       frameon=False, handlelength=1.8, columnspacing=1.6,
                                       fontsize=8.5)
        self._legend_handles = styles

    def _title(self, t: int) -> str:
        if not self.has_paths:
            return self.title
        it = int(self.record_steps[min(t, len(self.record_steps) - 1)])
        return f"{self.title}   ·   iteration {it} / {self.curves.iterations}"


def _row_major(items: list, ncols: int) -> list:
    """``items`` reordered so that a legend, which fills its columns first, reads row by
    row (the last row padded with blanks by the caller)."""
    rows = -(-len(items) // ncols)
    grid = [items[r * ncols + c] if r * ncols + c < len(items) else None
            for c in range(ncols) for r in range(rows)]
    return [g for g in grid if g is not None]


def landscape_figure(source: Source | Sequence[Grid | str | os.PathLike[str]], *,
                     view: str = "2d", theme: str = "light",
                     size: tuple[float, float] | None = None, dpi: int = 100,
                     **options: Any) -> LandscapeFigure:
    """The landscape figure of a `Landscape`, a `Grid`, a grid file or a list of them (see
    `LandscapeFigure`); at its last record."""
    rf = LandscapeFigure(as_grids(source), view=view, theme=theme, size=size, dpi=dpi,
                         **options)
    rf.set_step(rf.run.steps)
    return rf


def line_figure(source: Source | Sequence[Grid | str | os.PathLike[str]], *,
                theme: str = "light", size: tuple[float, float] = (7, 4.5),
                dpi: int = 100) -> Figure:
    """The 1-D view: the loss along the straight line from the initialisation (t = 0) to
    each optimizer's final weights (t = 1)."""
    grids = [g for g in as_grids(source) if g.line_loss.size]
    if not grids:
        raise UsageError("this grid holds no 1-D view (it has no training paths)")
    th = get_theme(theme)
    with rc_context(th):
        fig = Figure(figsize=size, dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        colors = RunData.from_run(paths_run(grids), th).colors
        k = 0
        for g in grids:
            for label, row in zip(g.labels, g.line_loss, strict=True):
                ax.plot(g.line_t, row, color=colors[k], linewidth=1.6, label=label)
                k += 1
        for t in (0, 1):
            ax.axvline(t, color=th.muted, linewidth=0.8, linestyle=":")
        ax.set_xlabel("t  (weights = init + t · (final − init))")
        ax.set_ylabel(f"loss on {_samples(grids[0])}")
        ax.set_yscale("log")
        ax.set_title(f"{grids[0].meta.get('model', 'model')}: loss from the initialisation "
                     "(t = 0) to each optimizer's final weights (t = 1)", fontsize=10)
        ax.legend(frameon=False, fontsize=8)
    return fig


def check_output(out: str | os.PathLike[str], view: str, *, fps: float = 8.0,
                 frames: int | None = None) -> None:
    """Refuses, before any work, an output the landscape cannot be written to: an unknown
    extension, a format the view cannot give, a bad frame rate or frame count."""
    if view not in VIEWS:
        raise UsageError(f"unknown view {view!r}; valid views: {', '.join(VIEWS)}")
    path = Path(out)
    if view == "1d":
        if not is_still_format(path):
            raise UsageError(f"cannot write {str(path)!r}: the 1-D view is a static figure, "
                             f"saved as {', '.join(STILL_FORMATS)}")
        return
    writer_for(path)  # an unknown extension or a missing encoder names the valid ones
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise UsageError(f"fps must be a positive finite number, got {fps}")
    if frames is not None and frames < 1:
        raise UsageError(f"frames must be at least 1, got {frames}")


def save_landscape(source: Source | Sequence[Grid | str | os.PathLike[str]],
                   out: str | os.PathLike[str], *, view: str = "2d", theme: str = "light",
                   fps: float = 8.0, frames: int | None = None, dpi: int = 100,
                   progress: bool | None = None) -> Path:
    """Writes the landscape figure (an animation, its last frame as ``.png``, frames) or
    the 1-D view (``view="1d"``), atomically; `check_output` rules apply."""
    from ..plot import save

    check_output(out, view, fps=fps, frames=frames)
    path = Path(out)
    if view == "1d":
        return save_figure(line_figure(source, theme=theme, dpi=dpi), path)
    rf = LandscapeFigure(as_grids(source), view=view, theme=theme, dpi=dpi)
    return save(rf, path, fps=fps, frames=frames, progress=progress)


__all__ = ["LandscapeFigure", "PathCurves", "as_grids", "axis_labels", "check_output",
           "figure_size",
           "landscape_figure", "line_figure", "save_landscape", "slice_scale"]
