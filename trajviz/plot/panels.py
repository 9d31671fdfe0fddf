"""The panels of a run figure: the surface with its paths, the update bars, the loss curves.

Each panel draws its static parts once (its constructor), points its artists at a run
(`set_data`, in place: a new run restyles the same artists) and moves its dynamic artists to
a step (`update`), returning them, so that a figure can be blitted: static parts drawn once,
dynamic artists redrawn on a restored background. Static artists therefore always have a
lower zorder than dynamic ones, so a full redraw and a blitted frame look the same.

A panel sets an axis only when what it shows changes (any setter marks the axis stale, and
`RunFigure.redraw` repaints what is stale). The scales are chosen from the data on a coarse
grid of values (half decades for the update bars, decades for the loss), so that re-running
one optimizer rarely moves an axis.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import LogNorm, to_rgba
from matplotlib.ticker import FixedLocator, NullLocator

from surfaces import Surface

from .._resolve import resolve_device
from ..checks import check_text
from ..errors import UsageError
from ..run import Run
from .theme import Theme

Grid = tuple[np.ndarray, np.ndarray, np.ndarray]

# Static artists stay below the axes' spines (2.5); the start markers move with the run, so
# they sit above them, where a blitted frame draws them too.
Z_STATIC, Z_MINIMA, Z_START, Z_PATH, Z_TRAIL, Z_HEAD, Z_MARK, Z_ARROW = (1, 2.2, 2.6, 3, 3.5, 4,
                                                                          4.5, 5)
BAR_HEIGHT = 0.62  # an update bar's thickness, in rows


def surface_grid(surface: Surface, *, n: int = 240, device: str = "auto") -> Grid:
    """``(X, Y, Z)``: the surface on an ``n`` x ``n`` grid over its domain, evaluated in one
    batched call (on CUDA when present); non-finite values become NaN."""
    (x0, x1), (y0, y1) = surface.domain
    dev = resolve_device(device)
    xs = torch.linspace(x0, x1, n, dtype=torch.float64, device=dev)
    ys = torch.linspace(y0, y1, n, dtype=torch.float64, device=dev)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    with torch.no_grad():
        z = surface.fn(torch.stack([gx, gy], dim=-1))
    z = z.cpu().numpy().astype(float)
    z[~np.isfinite(z)] = np.nan
    return gx.cpu().numpy(), gy.cpu().numpy(), z


@dataclass(frozen=True)
class RunData:
    """What the panels need from a `Run`, derived once.

    ``first`` holds one representative trajectory per optimizer (its first start): the
    update panel shows that one.
    """

    run: Run
    n_opt: int
    n_starts: int
    names: list[str]  # short optimizer names, one per optimizer
    legend: list[str]  # name and hyperparameters, one per optimizer
    colors: np.ndarray  # (n_traj, 4) RGBA
    last: np.ndarray  # (n_traj,) last finite step
    first: np.ndarray  # (n_opt,) trajectory index of each optimizer's first start

    @classmethod
    def from_run(cls, run: Run, theme: Theme,
                 colors: Mapping[str, str | int] | None = None) -> RunData:
        """The panels' view of ``run``.

        Args:
            run: the trajectories.
            theme: its palette colours the ``k``-th optimizer of the run with entry ``k``...
            colors: ... unless this maps the optimizer's label (``adam(lr=0.1)``) or name
                (``adam``) to a colour, or to another palette entry (an ``int``), so that a
                colour can stay with its optimizer while others come and go.
        """
        n_starts = int(run.meta.get("n_starts", 1)) or 1
        if run.n_traj % n_starts:
            n_starts = 1
        n_opt = run.n_traj // n_starts
        labels = list(run.meta.get("labels") or [f"trajectory {i}" for i in range(run.n_traj)])
        opt_labels = [labels[k * n_starts] for k in range(n_opt)]
        described = run.meta.get("optimizers") or []
        if len(described) == n_opt:
            opt_labels = [d.get("label", lab) for d, lab in zip(described, opt_labels,
                                                                    strict=True)]
        names = [lab.split("(", 1)[0] for lab in opt_labels]
        legend = [_pretty_label(lab) for lab in opt_labels]
        for text in dict.fromkeys(legend):  # a run file's labels are drawn: check them
            check_text(text, "optimizer label")
        chosen = colors or {}
        per_opt = []
        for k in range(n_opt):
            keys = (labels[k * n_starts], opt_labels[k], names[k])
            pick = next((chosen[key] for key in keys if key in chosen), k)
            per_opt.append(to_rgba(theme.color(pick) if isinstance(pick, int) else pick))
        rgba = np.repeat(np.array(per_opt, dtype=float).reshape(n_opt, 4), n_starts, axis=0)
        return cls(run, n_opt, n_starts, names, legend, rgba, run.last_valid,
                   np.arange(n_opt) * n_starts)

    def head(self, t: int) -> np.ndarray:
        """Index of the position each trajectory shows at step ``t``."""
        return np.minimum(t, self.last)


def _pretty_label(label: str) -> str:
    """``adam(lr=0.05, betas=(0.9, 0.99))`` -> ``adam  lr=0.05, betas=(0.9, 0.99)``."""
    name, sep, rest = label.partition("(")
    return f"{name}  {rest[:-1]}" if sep and rest.endswith(")") else label


def _finite(a: np.ndarray) -> np.ndarray:
    return a[np.isfinite(a)]


EXTREME = 1e100  # values beyond 1e±100 are divided down before any arithmetic on them
LOSS_LIMIT = 1e300  # the loss axis shows at most this far
LEVEL_LIMIT = 1e249  # matplotlib extends contours to ±1e250 (1e-250 on a log scale)


def _scale(values: np.ndarray) -> float:
    """What to divide a surface's finite ``values`` by before drawing them: the power of ten
    of their largest magnitude when it is extreme, else 1. Dividing keeps their differences
    and percentiles finite and their contour levels inside matplotlib's extend limits;
    contours and colours are the same either way."""
    big = float(np.abs(values).max())
    if big == 0 or 1 / EXTREME <= big <= EXTREME:
        return 1.0
    return float(10.0 ** np.floor(np.log10(big)))


def _min_value(surface: Surface, scale: float, values: np.ndarray) -> float:
    """The surface's known minimum value divided by ``scale`` (the lowest value when
    unknown)."""
    known = surface.min_value
    return values.min() / scale if known is None or not np.isfinite(known) else known / scale


def _increasing(levels: np.ndarray, *, log: bool = False) -> bool:
    """Whether matplotlib can contour at ``levels``: finite, strictly increasing and inside
    its extend limits."""
    return bool(np.isfinite(levels).all() and (np.diff(levels) > 0).all()
                and levels[-1] < LEVEL_LIMIT
                and (levels[0] > 1 / LEVEL_LIMIT if log else levels[0] > -LEVEL_LIMIT))


def _log_levels(shifted: np.ndarray, count: int = 24) -> np.ndarray | None:
    """Geometric levels over the positive part of ``shifted`` (``f - f*``), from its 0.5th
    percentile (at least 1e-8 of its top); None when it has no usable log range."""
    positive = shifted[np.isfinite(shifted) & (shifted > 0)]
    if positive.size == 0:
        return None
    top = positive.max()
    low = max(np.percentile(positive, 0.5), top * 1e-8)
    with np.errstate(all="ignore"):
        levels = np.geomspace(low, top, count) if low > 0 else np.full(count, np.nan)
    return levels if _increasing(levels, log=True) else None


def _linear_levels(values: np.ndarray, count: int = 24) -> np.ndarray:
    """Even levels from the 0.5th to the 99.5th percentile of ``values``; a flat surface
    (flat to float precision too) gets levels around its value: one colour."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    levels = np.linspace(lo, hi if hi > lo else lo + 1, count)
    if not _increasing(levels):
        half = abs(lo) / 2 or 1.0
        levels = np.linspace(lo - half, lo + half, count)
    return levels


def _half_decade(value: float, *, up: bool) -> float:
    """``value`` rounded up (or down) to the grid 1, 10^0.5, 10, ...: limits that stay put
    while the data moves a little."""
    k = 2 * np.log10(value)
    return float(10.0 ** ((np.ceil(k - 1e-9) if up else np.floor(k + 1e-9)) / 2))


class SurfacePanel:
    """Filled contours, known minima and saddles; each path with a fading trail and a head;
    diverged trajectories crossed out where they left; optional gradient/update arrows."""

    def __init__(self, ax: Axes, surface: Surface, grid: Grid, theme: Theme, *,
                 arrows: bool = False, trail: int = 20) -> None:
        self.ax, self.surface, self.theme = ax, surface, theme
        self.arrows, self.trail = arrows, trail
        x, y, z = grid
        self.extent = float(np.nanmax(x) - np.nanmin(x)), float(np.nanmax(y) - np.nanmin(y))
        self._draw_contours(x, y, z)
        kw = dict(linestyle="", zorder=Z_MINIMA, clip_on=True)
        if surface.minima:
            mx, my = np.asarray(surface.minima).T
            ax.plot(mx, my, marker="*", markersize=13, color=theme.foreground,
                    markeredgecolor=theme.background, markeredgewidth=0.8, **kw)
        if surface.saddles:
            sx, sy = np.asarray(surface.saddles).T
            ax.plot(sx, sy, marker="X", markersize=8, color=theme.muted,
                    markeredgecolor=theme.background, **kw)
        ax.set_xlim(np.nanmin(x), np.nanmax(x))
        ax.set_ylim(np.nanmin(y), np.nanmax(y))
        ax.set_xlabel("x")
        ax.set_ylabel("y", rotation=0, labelpad=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        self._artists: list[Artist] = []

    def _draw_contours(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        """Filled contours on a log scale (where the surface asks for it and its range
        allows), else a linear one; none when no value is finite."""
        values = _finite(z)
        if values.size == 0:
            return
        scale = _scale(values)
        z = z / scale
        drawn = None
        if self.surface.log_scale:
            floor = min(values.min() / scale, _min_value(self.surface, scale, values))
            shifted = z - floor
            levels = _log_levels(shifted)
            if levels is not None:
                drawn = np.clip(shifted, levels[0], None), levels, LogNorm(levels[0],
                                                                           levels[-1])
        if drawn is None:
            drawn = z, _linear_levels(values / scale), None
        field, levels, norm = drawn
        cmap = self.theme.cmap
        self.ax.contourf(x, y, field, levels=levels, norm=norm, cmap=cmap, zorder=Z_STATIC,
                         extend="both")
        self.ax.contour(x, y, field, levels=levels[::2], norm=norm, colors=self.theme.muted,
                        linewidths=0.4, alpha=0.55, zorder=Z_STATIC)

    def set_data(self, data: RunData) -> None:
        """Points the trajectories' artists at ``data`` (any count), restyled in place; the
        contours are never touched."""
        self.data = data
        run, ax, th = data.run, self.ax, self.theme
        self.pos = run.positions.astype(float)
        starts = self.pos[:, 0]
        few = run.n_traj <= 16
        if not self._artists:
            self.starts = ax.scatter(starts[:, 0], starts[:, 1], s=28, facecolor=th.background,
                                     edgecolor=th.foreground, linewidths=1.0, zorder=Z_START)
            self.paths = LineCollection([], zorder=Z_PATH, capstyle="round",
                                        joinstyle="round")
            self.trails = LineCollection([], zorder=Z_TRAIL, capstyle="butt")
            ax.add_collection(self.paths)
            ax.add_collection(self.trails)
            self.heads = ax.scatter(starts[:, 0], starts[:, 1], c=data.colors,
                                    edgecolors=th.foreground, linewidths=0.8, zorder=Z_HEAD)
            self.diverged = ax.scatter(starts[:, 0], starts[:, 1], s=90, marker="X",
                                       c=data.colors, edgecolors=th.foreground, linewidths=0.8,
                                       zorder=Z_MARK)
        self.starts.set_offsets(starts)
        width = 1.1 if few else 0.6
        path_colors = data.colors.copy()
        path_colors[:, 3] = 0.55 if few else 0.3
        self.paths.set_color(path_colors)
        self.paths.set_linewidth(width)
        k = self.trail
        ramp = np.linspace(0.15, 1.0, k) ** 1.5
        trail_colors = np.repeat(data.colors, k, axis=0)
        trail_colors[:, 3] = np.tile(ramp, run.n_traj)
        self.trails.set_color(trail_colors)
        self.trails.set_linewidth(2.6 * width / 1.1)
        self.heads.set_sizes([46 if few else 12])
        self.heads.set_facecolor(data.colors)
        self.diverged.set_facecolor(data.colors)
        for a in self._artists[5:]:  # the arrows: made for a fixed count, so made anew
            a.remove()
        self._artists = [self.starts, self.paths, self.trails, self.heads, self.diverged]
        if self.arrows:
            zeros = np.zeros(run.n_traj)
            quiver = dict(angles="xy", scale_units="xy", scale=1, zorder=Z_ARROW, width=0.006,
                          headwidth=3.5, headlength=4)
            self.grad_arrows = ax.quiver(starts[:, 0], starts[:, 1], zeros, zeros,
                                         color=th.foreground, alpha=0.75, **quiver)
            self.update_arrows = ax.quiver(starts[:, 0], starts[:, 1], zeros, zeros,
                                           color=data.colors, **quiver)
            self._artists += [self.grad_arrows, self.update_arrows]

    def update(self, t: int) -> list[Artist]:
        data, pos = self.data, self.pos
        n = len(pos)
        head = data.head(t)
        rows = np.arange(n)
        self.paths.set_segments([pos[i, :head[i] + 1] for i in range(n)])
        idx = np.clip(head[:, None] - self.trail + np.arange(self.trail + 1), 0, None)
        pts = pos[rows[:, None], idx]
        self.trails.set_segments(np.stack([pts[:, :-1], pts[:, 1:]], axis=2).reshape(-1, 2, 2))
        here = pos[rows, head].copy()
        gone = (data.run.diverged_at >= 0) & (t >= data.run.diverged_at)
        marks = np.where(gone[:, None], here, np.nan)
        here[gone] = np.nan
        self.heads.set_offsets(here)
        self.diverged.set_offsets(marks)
        changed: list[Artist] = [self.paths, self.trails, self.heads, self.diverged]
        if self.arrows:
            s = min(t, data.run.steps - 1)
            length = 0.07 * min(self.extent)
            for arrow, vec in ((self.grad_arrows, -data.run.grads[:, s]),
                               (self.update_arrows, data.run.updates[:, s])):
                vec = vec.astype(float)
                norm = np.linalg.norm(vec, axis=1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    unit = np.where(norm > 0, vec / norm, 0.0) * length
                unit[~np.isfinite(unit)] = 0.0
                arrow.set_offsets(np.where(np.isfinite(here), here, pos[:, 0]))
                unit[t >= data.last] = 0.0
                arrow.set_UVC(unit[:, 0], unit[:, 1])
                changed.append(arrow)
        return changed

    @property
    def dynamic(self) -> list[Artist]:
        return list(self._artists)


class Surface3DPanel:
    """The surface in 3-D (log-scaled height where the surface asks for it), paths on it."""

    def __init__(self, ax: Axes, surface: Surface, grid: Grid, theme: Theme) -> None:
        self.ax, self.surface, self.theme = ax, surface, theme
        x, y, z = grid
        values = _finite(z)
        if values.size == 0:
            raise UsageError(f"surface {surface.spec!r} has no finite value on its domain "
                             "(its values overflow): nothing to draw in 3-D")
        self.scale = _scale(values)
        self.floor = min(values.min() / self.scale, _min_value(surface, self.scale, values))
        levels = _log_levels(z / self.scale - self.floor, 2)
        self.low = levels[0] if levels is not None else 1.0
        zt = self.height(z)
        step = max(1, len(x) // 70)
        ax.plot_surface(x[::step, ::step], y[::step, ::step], zt[::step, ::step],
                        cmap=theme.cmap, linewidth=0, antialiased=False, alpha=0.9,
                        zorder=Z_STATIC)
        if surface.minima:
            m = np.asarray(surface.minima)
            ax.plot(m[:, 0], m[:, 1], self.height(self._f(m)), linestyle="", marker="*",
                    markersize=12, color=theme.foreground, zorder=Z_MINIMA)
        ax.set_xlim(np.nanmin(x), np.nanmax(x))
        ax.set_ylim(np.nanmin(y), np.nanmax(y))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("log₁₀(f − f*)" if surface.log_scale or self.scale == 1
                      else f"f ÷ {self.scale:.0e}")
        ax.view_init(elev=38, azim=-125)
        pane = to_rgba(theme.background)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_pane_color(pane)
        self._artists: list[Artist] = []

    def _f(self, xy: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.surface.fn(torch.as_tensor(xy, dtype=torch.float64)).numpy()

    def height(self, z: np.ndarray) -> np.ndarray:
        """The height drawn for values ``z``: ``z`` itself (divided by an extreme `_scale`),
        or log10(z - f*) on a log scale (computed so that it never overflows)."""
        if not self.surface.log_scale:
            return z if self.scale == 1 else z / self.scale
        with np.errstate(all="ignore"):
            shifted = np.clip(z / self.scale - self.floor, self.low, None)
            return np.log10(shifted) + np.log10(self.scale)

    def set_data(self, data: RunData) -> None:
        for a in self._artists:
            a.remove()
        self.data = data
        self.pos = data.run.positions.astype(float)
        self.z = self.height(data.run.loss.astype(float))
        self.lines, self.heads = [], []
        for i in range(data.run.n_traj):
            (line,) = self.ax.plot([], [], [], color=data.colors[i], linewidth=1.6,
                                   zorder=Z_PATH)
            (head,) = self.ax.plot([], [], [], linestyle="", marker="o", markersize=6,
                                   color=data.colors[i], markeredgecolor=self.theme.foreground,
                                   zorder=Z_HEAD)
            self.lines.append(line)
            self.heads.append(head)
        self._artists = [*self.lines, *self.heads]

    def update(self, t: int) -> list[Artist]:
        head = self.data.head(t)
        for i, (line, dot) in enumerate(zip(self.lines, self.heads, strict=True)):
            e = head[i] + 1
            line.set_data_3d(self.pos[i, :e, 0], self.pos[i, :e, 1], self.z[i, :e])
            dot.set_data_3d(self.pos[i, e - 1:e, 0], self.pos[i, e - 1:e, 1],
                            self.z[i, e - 1:e])
        return list(self._artists)

    @property
    def dynamic(self) -> list[Artist]:
        return list(self._artists)


class UpdatePanel:
    """This step's update of each optimizer along one axis, as a signed bar on a symmetric
    log scale (colour = sign), with a triangle at zero pointing along the negative
    gradient: the gradient's sign sets the direction, each optimizer picks the size. The
    bars are one collection of rectangles, drawn in one call.

    The scale reaches past the largest update by a factor of 1.6 to 5, rounded up to a half
    decade, and is linear below the 2nd percentile of the nonzero updates, rounded down to a
    half decade."""

    def __init__(self, ax: Axes, axis: int, theme: Theme, *, show_names: bool) -> None:
        self.ax, self.axis, self.theme, self.show_names = ax, axis, theme, show_names
        name = "xy"[axis]
        ax.set_title(f"update Δ{name}", fontsize=9.5)
        ax.set_xlabel(f"▶ ◀ : sign of −∂f/∂{name}", fontsize=8)
        ax.axvline(0, color=theme.muted, linewidth=0.8, zorder=Z_STATIC)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        self.bars = PolyCollection([], closed=True, linewidths=0, edgecolors="none",
                                   zorder=Z_TRAIL)
        ax.add_collection(self.bars, autolim=False)
        self._artists: list[Artist] = []
        self._shown: dict[Artist, Hashable] = {}  # what each axis was set to show

    def set_data(self, data: RunData) -> None:
        """Points the bars at ``data``; rows, names and scale change only where they must."""
        self.data = data
        ax, th = self.ax, self.theme
        rows = np.arange(data.n_opt)
        if not self._artists:
            kw = dict(s=34, color=th.foreground, edgecolors=th.background, linewidths=0.6,
                      zorder=Z_HEAD)
            nan = np.full(data.n_opt, np.nan)
            self.plus = ax.scatter(nan, nan, marker=">", **kw)
            self.minus = ax.scatter(nan, nan, marker="<", **kw)
        self._artists = [self.bars, self.plus, self.minus]
        names = (tuple(data.names), tuple(map(tuple, data.colors[data.first])))
        if self._shown.get(ax.yaxis) != names:
            ax.set_ylim(data.n_opt - 0.5, -0.5)
            ax.set_yticks(rows)
            if self.show_names:
                ax.set_yticklabels(data.names)
                for label, k in zip(ax.get_yticklabels(), data.first, strict=True):
                    color = data.colors[k]
                    light = float(np.dot(color[:3], (0.299, 0.587, 0.114))) > 0.55
                    label.set_color("#111111" if light else "#FFFFFF")
                    label.set_bbox(dict(facecolor=color, edgecolor="none",
                                        boxstyle="round,pad=0.25"))
            else:
                ax.tick_params(axis="y", labelleft=False)
        scale = self._scale(data)
        if self._shown.get(ax.xaxis) != scale:
            lim, thresh, decade_hi = scale
            ax.set_xscale("symlog", linthresh=thresh, linscale=0.6)
            ax.set_xlim(-lim, lim)
            ax.xaxis.set_major_locator(FixedLocator([-decade_hi, 0.0, decade_hi]))
            ax.xaxis.set_minor_locator(NullLocator())
        self._shown = {ax.xaxis: scale, ax.yaxis: names}

    def _scale(self, data: RunData) -> tuple[float, float, float]:
        """``(limit, linear threshold, tick)`` of the symmetric log scale."""
        moves = np.abs(_finite(data.run.updates[..., self.axis].astype(float)))
        moves = moves[moves > 0]
        top = float(moves.max()) if moves.size else 1.0
        thresh = max(np.percentile(moves, 2), top * 1e-5) if moves.size else 0.1
        return (_half_decade(1.6 * top, up=True), _half_decade(thresh, up=False),
                float(10.0 ** np.floor(np.log10(top))))

    def update(self, t: int) -> list[Artist]:
        data = self.data
        s = min(t, data.run.steps - 1)
        k = data.first
        move = data.run.updates[k, s, self.axis].astype(float)
        push = -data.run.grads[k, s, self.axis].astype(float)
        move = np.where(np.isfinite(move), move, 0.0)
        th = self.theme
        rows = np.arange(data.n_opt, dtype=float)
        self.bars.set_verts(_bar_corners(move, rows))
        self.bars.set_facecolor([th.positive if v >= 0 else th.negative for v in move])
        zero = np.zeros_like(rows)
        nan = np.full_like(rows, np.nan)
        self.plus.set_offsets(np.column_stack([zero, np.where(push > 0, rows, nan)]))
        self.minus.set_offsets(np.column_stack([zero, np.where(push < 0, rows, nan)]))
        return list(self._artists)

    def values(self) -> np.ndarray:
        """The signed bar lengths as drawn, one per optimizer."""
        return np.array([path.vertices[1, 0] for path in self.bars.get_paths()])

    @property
    def dynamic(self) -> list[Artist]:
        return list(self._artists)


def _bar_corners(widths: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(n, 4, 2)``: the corners of horizontal bars from 0 to ``widths``, centred on
    ``rows``, in the order of a `matplotlib.patches.Rectangle`'s."""
    bottom, top = rows - BAR_HEIGHT / 2, rows + BAR_HEIGHT / 2
    zero = np.zeros_like(widths)
    return np.stack([np.column_stack(corner) for corner in
                     ((zero, bottom), (widths, bottom), (widths, top), (zero, top))], axis=1)


class LossPanel:
    """Loss (minus the known minimum where there is one) against step, log scale (limits
    rounded out to whole decades), drawn up to the current step."""

    def __init__(self, ax: Axes, surface: Surface, theme: Theme) -> None:
        self.ax, self.surface, self.theme = ax, surface, theme
        ax.set_xlabel("step")
        ax.grid(True, color=theme.muted, linewidth=0.4, alpha=0.5)
        self.lines = LineCollection([], zorder=Z_PATH)
        ax.add_collection(self.lines)
        self._artists: list[Artist] = [self.lines]
        self._shown: dict[Artist, Hashable] = {}  # what each axis was set to show

    def set_data(self, data: RunData) -> None:
        """Points the curves at ``data``; the axes' scale and limits change only where the
        new values need it."""
        self.data = data
        run, ax = data.run, self.ax
        loss = run.loss.astype(float)
        finite = _finite(loss)
        min_value = self.surface.min_value
        if min_value is not None:
            y, label, log = loss - min_value, "loss − f*", True
        elif finite.size and finite.min() > 0:
            y, label, log = loss, "loss", True
        else:
            y, label, log = loss, "loss", False
        if log:
            positive = _finite(y[y > 0])
            floor = max(positive.min() if positive.size else 1e-12,
                        (positive.max() if positive.size else 1.0) * 1e-14)
            y = np.where(np.isfinite(y), np.maximum(y, floor), np.nan)
        self.y = y
        self.steps = np.arange(run.steps + 1, dtype=float)
        values = _finite(y)
        ylim = None
        if values.size:
            lo, hi = np.clip([values.min(), values.max()], -LOSS_LIMIT, LOSS_LIMIT)
            with np.errstate(all="ignore"):
                if log:  # decades; within 1e±300, where matplotlib's log ticks stay finite
                    ylim = (float(10.0 ** max(np.floor(np.log10(lo / 2)), -300)),
                            float(10.0 ** min(np.ceil(np.log10(hi * 2)), 300)))
                else:
                    pad = 0.05 * (hi - lo or 1.0)
                    ylim = (float(lo - pad), float(hi + pad))
        yaxis = (label, log, ylim)
        if self._shown.get(ax.yaxis) != yaxis:
            if ax.get_yscale() != ("log" if log else "linear"):
                ax.set_yscale("log" if log else "linear")
            ax.set_ylabel(label)
            if ylim is not None:
                ax.set_ylim(*ylim)
        xlim = (0, max(run.steps, 1))
        if self._shown.get(ax.xaxis) != xlim:
            ax.set_xlim(*xlim)
        self._shown = {ax.xaxis: xlim, ax.yaxis: yaxis}
        few = run.n_traj <= 16
        colors = data.colors.copy()
        colors[:, 3] = 0.95 if few else 0.35
        self.lines.set_color(colors)
        self.lines.set_linewidth(1.4 if few else 0.6)

    def update(self, t: int) -> list[Artist]:
        e = self.data.head(t) + 1
        self.lines.set_segments([np.column_stack([self.steps[:k], row[:k]])
                                 for row, k in zip(self.y, e, strict=True)])
        return [self.lines]

    @property
    def dynamic(self) -> list[Artist]:
        return list(self._artists)
