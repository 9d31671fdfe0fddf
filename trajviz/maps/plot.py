"""Figures of basin maps and sweeps (matplotlib ``Figure`` objects; no pyplot state)."""

from __future__ import annotations

import colorsys
import logging
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, ListedColormap, LogNorm, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from surfaces import Surface

from .._resolve import surface_from_file
from ..errors import UsageError
from ..plot import still
from .basins import BasinMap
from .sweep import SweepMap

log = logging.getLogger(__name__)

# One colour per minimum (Okabe-Ito, distinguishable with colour-blindness), then tab10.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf")
NOT_CONVERGED = "#9a9a9a"
DIVERGED = "#141414"
SWEEP_DIVERGED = "#d62728"
SWEEP_NOT_CONVERGED = "#ffffff"
MAP_DPI = 130  # a map is saved at this resolution
_PALE = 0.72  # how far the slowest converging start is blended towards white


def minimum_colour(m: int) -> tuple[float, float, float]:
    return to_rgb(PALETTE[m % len(PALETTE)])


def shade_range(result: BasinMap) -> tuple[float, float]:
    """The fewest and most steps any converged start took (over all panels), at least 1."""
    conv = result.converged_at[result.converged_at >= 0]
    if conv.size == 0:
        return 1.0, float(max(result.steps, 2))
    lo, hi = max(float(conv.min()), 1.0), max(float(conv.max()), 1.0)
    return lo, hi if hi > lo else lo + 1.0


def basin_rgb(result: BasinMap, k: int) -> np.ndarray:
    """``(ny, nx, 3)`` image of optimizer ``k``: the colour of the minimum each start
    converged to, paler the more steps it took (log scale over `shade_range`); grey where
    it did not converge, near-black where it diverged. Without known minima the colour
    says where the run ended."""
    lo, hi = shade_range(result)
    conv = result.converged_at[k]
    pale = np.clip((np.log(np.maximum(conv, 1)) - np.log(lo)) / (np.log(hi) - np.log(lo)), 0, 1)
    pale = np.where(conv >= 0, pale, 0.0)[..., None]
    if len(result.minima):
        table = np.array([minimum_colour(m) for m in range(len(result.minima))])
        base = table[np.clip(result.minimum[k], 0, None)]
        rgb = base * (1 - _PALE * pale) + _PALE * pale
        rgb[conv < 0] = to_rgb(NOT_CONVERGED)
    else:
        base = _position_colours(result.final[k], result.domain)
        rgb = base * (1 - _PALE * pale) + _PALE * pale
        grey = np.array(to_rgb(NOT_CONVERGED))
        rgb = np.where((conv < 0)[..., None], 0.5 * base + 0.5 * grey, rgb)
    rgb[result.diverged_at[k] >= 0] = to_rgb(DIVERGED)
    return rgb


def _position_colours(final: np.ndarray, domain: tuple) -> np.ndarray:
    """Hue from the direction of the end point seen from the domain's centre, saturation
    from its distance: nearby end points get nearby colours."""
    (x0, x1), (y0, y1) = domain
    u = (final[..., 0] - (x0 + x1) / 2) / ((x1 - x0) / 2)
    v = (final[..., 1] - (y0 + y1) / 2) / ((y1 - y0) / 2)
    hue = (np.arctan2(v, u) / (2 * np.pi)) % 1.0
    sat = np.clip(np.hypot(u, v), 0, 1)
    hsv = np.stack([np.nan_to_num(hue), 0.25 + 0.75 * np.nan_to_num(sat), np.full_like(u, 0.85)],
                   -1)
    flat = np.array([colorsys.hsv_to_rgb(*c) for c in hsv.reshape(-1, 3)])
    return flat.reshape(*final.shape[:-1], 3)


def plot_basins(result: BasinMap, *, surface: Surface | None = None, contours: bool = True,
                cols: int = 4, panel_size: float = 4.0) -> Figure:
    """The basin map of every optimizer side by side, with a shared legend.

    Args:
        surface: for the contour lines (default: rebuilt from the map's metadata).
        contours: draw the surface's level lines over the map.
        cols: panels per row.
        panel_size: inches per panel.
    """
    n = len(result.labels)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(panel_size * cols + 0.4, panel_size * rows + 1.3),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    (x0, x1), (y0, y1) = result.domain
    surf = surface if surface is not None else _surface(result.meta)
    levels = _contours(surf, result.domain) if contours and surf is not None else None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        ax.imshow(basin_rgb(result, k), origin="lower", extent=(x0, x1, y0, y1),
                  interpolation="nearest", aspect="auto")
        if levels is not None:
            ax.contour(*levels, colors="k", linewidths=0.5, alpha=0.28)
        for m, (mx, my) in enumerate(result.minima):
            ax.plot(mx, my, marker="*", ms=13, mfc=minimum_colour(m), mec="white", mew=1.3,
                    zorder=5)
        frac = result.fractions(k)
        ax.set_title(f"{result.labels[k]}\nconverged {frac['converged']:.0%} · "
                     f"diverged {frac['diverged']:.0%}", fontsize=10)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xlabel("start x")
        if k % cols == 0:
            ax.set_ylabel("start y")
    name = result.meta.get("surface", "")
    fig.suptitle(f"Basins of attraction on {name}: {result.xs.size} x {result.ys.size} "
                 f"starts, {result.steps} steps, converged = within {result.tol:.3g}",
                 fontsize=12)
    _basin_legend(fig, axes, result)
    return fig


def _basin_legend(fig: Figure, axes: np.ndarray, result: BasinMap) -> None:
    if len(result.minima):
        handles = [Patch(color=minimum_colour(m), label=f"minimum ({mx:.2f}, {my:.2f})")
                   for m, (mx, my) in enumerate(result.minima)]
    else:
        handles = [Patch(color=to_rgb(PALETTE[0]),
                         label="no known minima: colour = where the run ended")]
    handles += [Patch(color=NOT_CONVERGED, label="not converged"),
                Patch(color=DIVERGED, label="diverged")]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6),
               frameon=False, fontsize=9)
    shade = LinearSegmentedColormap.from_list("shade", ["#3a3a3a", "#e6e6e6"])
    lo, hi = shade_range(result)
    bar = fig.colorbar(_mappable(shade, LogNorm(lo, hi)), ax=axes.ravel().tolist(),
                       location="right", shrink=0.6, aspect=30, pad=0.01)
    bar.set_label("steps to converge (paler = slower)")


def plot_sweep(result: SweepMap) -> Figure:
    """Heat maps of final loss (log colour scale) and steps to converge, diverged cells in
    red; a single swept parameter gets line plots instead."""
    if len(result.axes) == 1:
        return _plot_sweep_1d(result)
    fig = Figure(figsize=(12.5, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_steps = fig.subplots(1, 2)
    xa, ya = result.axes
    xe, ye = _edges(xa), _edges(ya)
    div = result.diverged
    loss = np.ma.masked_where(div | ~np.isfinite(result.final_loss), result.final_loss)
    mesh = ax_loss.pcolormesh(xe, ye, loss, cmap="viridis", norm=_log_norm(loss))
    fig.colorbar(mesh, ax=ax_loss, label="final loss (log scale)")
    steps = np.ma.masked_where(~result.converged, result.converged_at)
    ax_steps.pcolormesh(xe, ye, np.ma.masked_where(result.converged | div, np.ones(div.shape)),
                        cmap=ListedColormap([SWEEP_NOT_CONVERGED]), vmin=0, vmax=1)
    mesh = ax_steps.pcolormesh(xe, ye, steps, cmap="cividis", vmin=0, vmax=result.steps)
    fig.colorbar(mesh, ax=ax_steps, label=f"steps to converge (within {result.tol:.3g})")
    best = result.best()
    for ax in (ax_loss, ax_steps):
        ax.pcolormesh(xe, ye, np.ma.masked_where(~div, np.ones(div.shape)),
                      cmap=ListedColormap([SWEEP_DIVERGED]), vmin=0, vmax=1)
        _axis(ax, "x", xa)
        _axis(ax, "y", ya)
        if not div.all():
            ax.plot(_centre(xa, best[1]), _centre(ya, best[0]), marker="o", ms=9, mfc="none",
                    mec="white", mew=2)
    ax_loss.set_title("final loss")
    ax_steps.set_title("steps to converge")
    if not result.converged.any():
        ax_steps.text(0.5, 0.5, f"no run came within {result.tol:.3g}\nof a known minimum",
                      transform=ax_steps.transAxes, ha="center", va="center", fontsize=11,
                      color="#555")
    _sweep_titles(fig, result)
    handles = [Patch(color=SWEEP_DIVERGED, label="diverged"),
               Patch(facecolor=SWEEP_NOT_CONVERGED, edgecolor="#888", label="not converged"),
               ax_loss.plot([], [], ls="none", marker="o", mfc="none", mec="#444", mew=2,
                            label="lowest final loss")[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=9)
    return fig


def _plot_sweep_1d(result: SweepMap) -> Figure:
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_steps = fig.subplots(1, 2, sharex=True)
    (axis,) = result.axes
    x = np.array([_centre(axis, i) for i in range(len(axis))])
    div, conv = result.diverged[0], result.converged[0]
    loss = np.where(div, np.nan, result.final_loss[0])
    ax_loss.plot(x, loss, marker=".", color="#0072B2", lw=1.5)
    if np.isfinite(loss).any() and np.nanmin(loss) > 0:
        ax_loss.set_yscale("log")
    steps = np.where(conv, result.converged_at[0], np.nan)
    ax_steps.plot(x, steps, marker=".", color="#009E73", lw=1.5)
    for ax in (ax_loss, ax_steps):
        _axis(ax, "x", axis)
        if div.any():
            for xi in x[div]:
                ax.axvspan(*_span(x, xi), color=SWEEP_DIVERGED, alpha=0.18, lw=0)
    ax_loss.set_ylabel("final loss")
    ax_steps.set_ylabel(f"steps to converge (within {result.tol:.3g})")
    ax_steps.set_ylim(0, result.steps * 1.05)
    ax_loss.set_title("final loss")
    ax_steps.set_title("steps to converge (gaps: not converged)")
    _sweep_titles(fig, result)
    fig.legend(handles=[Patch(color=SWEEP_DIVERGED, alpha=0.35, label="diverged")],
               loc="outside lower center", frameon=False, fontsize=9)
    return fig


def _sweep_titles(fig: Figure, result: SweepMap) -> None:
    sched = result.meta.get("scheduler")
    fig.suptitle(f"{result.label} on {result.meta.get('surface', '')} from "
                 f"({result.start[0]:g}, {result.start[1]:g}), {result.steps} steps"
                 + (f", {sched}" if sched else "")
                 + f": {result.final_loss.size} runs, {result.diverged.mean():.0%} diverged",
                 fontsize=12)


def _axis(ax, which: str, axis) -> None:
    set_scale, set_label = ((ax.set_xscale, ax.set_xlabel) if which == "x"
                            else (ax.set_yscale, ax.set_ylabel))
    if axis.numeric and axis.log:
        set_scale("log")
    set_label(axis.label + (" (log scale)" if axis.numeric and axis.log else ""))
    if not axis.numeric:
        ticks = (ax.set_xticks if which == "x" else ax.set_yticks)
        ticks(range(len(axis)), labels=[repr(v) for v in axis.values])


def _centre(axis, i: int) -> float:
    return float(axis.values[i]) if axis.numeric else float(i)


def _edges(axis) -> np.ndarray:
    """Cell edges around each value: geometric midpoints on a log axis."""
    if not axis.numeric:
        return np.arange(len(axis) + 1) - 0.5
    v = np.asarray(axis.values, dtype=float)
    if len(v) == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if v[0] else np.array([-0.5, 0.5])
    if axis.log:
        lv = np.log(v)
        mid = (lv[1:] + lv[:-1]) / 2
        return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def _span(x: np.ndarray, xi: float) -> tuple[float, float]:
    i = int(np.argmin(np.abs(x - xi)))
    lo = x[i] - (x[i] - x[i - 1]) / 2 if i > 0 else x[i]
    hi = x[i] + (x[i + 1] - x[i]) / 2 if i + 1 < len(x) else x[i]
    return lo, hi


def _log_norm(values: np.ma.MaskedArray) -> Normalize:
    data = values.compressed()
    pos = data[data > 0]
    if pos.size == 0:
        return Normalize()
    lo, hi = float(pos.min()), float(pos.max())
    return LogNorm(lo, hi if hi > lo else lo * 10, clip=True)


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)


def _surface(meta: dict) -> Surface | None:
    """The built-in surface a map names, for its contours (never code a file names)."""
    try:
        return surface_from_file(meta, "the map")
    except UsageError as e:
        log.info("no contours: %s", e)
        return None


def _contours(surface: Surface, domain: tuple) -> tuple[np.ndarray, ...] | None:
    import torch

    (x0, x1), (y0, y1) = domain
    xs, ys = np.linspace(x0, x1, 200), np.linspace(y0, y1, 200)
    gx, gy = np.meshgrid(xs, ys)
    with torch.no_grad():
        z = surface.fn(torch.tensor(np.stack([gx, gy], -1), dtype=torch.float64)).numpy()
    if not np.isfinite(z).all():
        return None
    if surface.log_scale:
        z = np.log1p(z - z.min())
    return gx, gy, z, 14


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = MAP_DPI) -> Path:
    """Saves a map atomically in the format the suffix names (png, pdf, svg, ...)."""
    return still.save_figure(fig, path, dpi=dpi)
