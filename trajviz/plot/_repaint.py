"""Exact partial redraws: after a change, repaint only the units it touched.

A figure paints its *units* (its Axes, legends and texts) by zorder over its patch.
`Repainter` keeps the painted background (everything but the moving artists) and, per unit,
the pixel rectangle of each of its *parts*: an Axes' children, a legend's handles and texts.
What changed is read from the artists themselves: matplotlib marks an artist ``stale`` in
every setter, and the repainter marks every part fresh after painting it. On the next
paint, a stale part, a part that came or went, or a part that moved (a legend lays its parts
out again) damages its old and its new rectangle; new limits or scales of an Axes damage
every part but an axis that keeps its own (the data moved), a new place damages all of it,
and a unit that is not cut into parts (a 3-D Axes) is damaged whole. Every damaged
rectangle is painted from scratch as a full draw paints it:
the figure's patch, then each unit with only its parts that reach into the rectangle shown,
and only that rectangle's pixels are kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.offsetbox import OffsetBox
from matplotlib.text import Text
from matplotlib.transforms import Bbox

PAD = 2.0  # pixels around every part's extent: antialiasing and line widths


@contextlib.contextmanager
def animated(artists: Iterable[Artist]) -> Iterator[None]:
    """Leaves ``artists`` out of full draws while it lasts (matplotlib skips animated
    artists)."""
    artists = list(artists)
    old = [a.get_animated() for a in artists]
    for a in artists:
        a.set_animated(True)
    try:
        yield
    finally:
        for a, was in zip(artists, old, strict=True):
            a.set_animated(was)


@contextlib.contextmanager
def _hidden(artists: Sequence[Artist]) -> Iterator[None]:
    """Hides ``artists`` while it lasts (a legend still lays them out)."""
    for a in artists:
        a.set_visible(False)
    try:
        yield
    finally:
        for a in artists:
            a.set_visible(True)


def _leaves(box: Artist) -> Iterator[Artist]:
    """The visible artists a legend's box paints (handles and texts), in its order."""
    for child in box.get_children():
        if isinstance(child, OffsetBox):
            yield from _leaves(child)
        elif child.get_visible():
            yield child


def _cut(unit: Artist) -> bool:
    """Whether ``unit`` is repainted part by part: a flat 2-D Axes with its axes and frame
    shown, or a legend."""
    if isinstance(unit, Axes):
        return unit.name == "rectilinear" and unit.axison and unit.get_frame_on()
    return isinstance(unit, Legend)


def _children(unit: Artist) -> list[Artist]:
    """What ``unit`` paints, one level down: a legend's leaves, an Axes' children."""
    if isinstance(unit, Legend):  # as it paints them: its frame, then its box
        frame = unit.get_frame()
        return [*([frame] if frame.get_visible() else []),
                *(a for a in _leaves(unit) if a is not frame)]
    return [c for c in unit.get_children() if c.get_visible() and not c.get_animated()]


def _frame(unit: Artist) -> Hashable:
    """Where an Axes maps its data: its place, and its limits and scale per axis (a change
    moves every part but an axis that keeps its own)."""
    if isinstance(unit, Axes):
        return (tuple(unit.bbox.bounds), (unit.get_xlim(), unit.get_xscale()),
                (unit.get_ylim(), unit.get_yscale()))
    return None


def _stale(unit: Artist) -> list[Artist]:
    """The parts of ``unit`` changed since they were painted, and the unit itself unless it
    is an Axes (whose own flag only repeats its children's, the moving ones' too)."""
    watched = _children(unit) if isinstance(unit, Axes) else [unit, *_children(unit)]
    return [a for a in watched if a.stale]


def _same(a: Bbox | None, b: Bbox | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a.get_points(), b.get_points()))


def _columns(legend: Legend) -> dict[Artist, tuple[OffsetBox, bool]]:
    """Each text of a legend's entries -> the column box holding its entry, and whether it
    ends its entry. (A legend's box holds its title and its row of columns.)"""
    out: dict[Artist, tuple[OffsetBox, bool]] = {}
    for holder in legend.get_children()[0].get_children():
        for column in holder.get_children():
            for entry in column.get_children() if isinstance(column, OffsetBox) else ():
                boxes = entry.get_children()
                for box in boxes:
                    for text in box.get_children():
                        if isinstance(text, Text):
                            out[text] = (column, box is boxes[-1])
    return out


@dataclass
class _Painted:
    """A unit as last painted: its parts' rectangles (in its order), its `_frame` and, for
    a legend, its columns' widths."""

    parts: dict[Artist, Bbox | None]
    frame: Hashable
    columns: dict[Artist, float]


def _in_place(legend: Legend, stale: list[Artist], was: _Painted, now: _Painted,
              renderer: RendererBase) -> bool:
    """Whether a legend keeps its layout (which depends on its parts' sizes alone) after
    ``stale`` parts changed: each keeps its size, or is a text that changes its width
    alone and ends its entry, in a column that aligns its entries at their start and keeps
    its width."""
    columns = _columns(legend)
    for part in stale:
        old, new = was.parts.get(part), now.parts.get(part)
        if old is None or new is None:
            return False
        if np.array_equal(old.size, new.size):
            continue
        column, ends = columns.get(part, (None, False))
        if not ends or (old.y0, old.y1) != (new.y0, new.y1) or column.align not in (
                "baseline", "left") or column.get_bbox(renderer).width != was.columns[column]:
            return False
    return True


def _whole(unit: Artist, stale: list[Artist], painted: _Painted) -> bool:
    """Whether a change damages all of ``unit``: a unit not cut into parts, the unit's own
    settings, or an Axes' place changed."""
    return bool(stale) and (not _cut(unit) or unit in stale) or (
        isinstance(unit, Axes) and _frame(unit)[0] != painted.frame[0])


def _moved(unit: Artist, painted: _Painted) -> set[Artist]:
    """The parts that new limits of an Axes move: every part but an axis whose limits
    stayed (its ticks and labels are where they were)."""
    if not isinstance(unit, Axes) or _frame(unit) == painted.frame:
        return set()
    _, x, y = painted.frame
    now = _frame(unit)
    kept = {axis for axis, was, is_ in ((unit.xaxis, x, now[1]), (unit.yaxis, y, now[2]))
            if was == is_}
    return {p for p in painted.parts if p not in kept}


class Repainter:
    """Keeps a figure's painted background and brings it up to date by partial repaints.

    Args:
        figure: the figure; it is painted on ``canvas``.
        canvas: an Agg canvas of the figure (its own, or a detached one).

    Attributes:
        repainted: the rectangles (pixels, origin at the bottom left) the last `paint`
            repainted: the whole figure after a full draw, none after a step.
    """

    def __init__(self, figure: Figure, canvas: FigureCanvasAgg) -> None:
        self.figure, self.canvas = figure, canvas
        self._background: np.ndarray | None = None
        self._painted: dict[Artist, _Painted] = {}
        self.repainted: list[Bbox] = []

    def paint(self, dynamic: Sequence[Artist], *, full: bool = False) -> np.ndarray:
        """Paints the figure: the background brought up to date, then ``dynamic`` on top.

        Args:
            dynamic: the artists that move every step; never part of the background.
            full: draw everything anew (never needed for exactness).

        Returns:
            The canvas's ``(H, W, 4)`` RGBA buffer, valid until the next draw.
        """
        with animated(dynamic):
            renderer = self.canvas.get_renderer()
            buf = np.asarray(renderer.buffer_rgba())
            if full or self._background is None or self._background.shape != buf.shape:
                FigureCanvasAgg.draw(self.canvas)
                renderer = self.canvas.get_renderer()
                buf = np.asarray(renderer.buffer_rgba())
                self._background = buf.copy()
                self._painted = {u: self._measure(u, renderer) for u in self._units()}
                self._freshen()
                self.repainted = [Bbox(self.figure.bbox.get_points())]
            else:
                buf[...] = self._background
                changed = self._damage(renderer)
                self.repainted = self._merge(changed)
                for rect in self.repainted:
                    self._repaint(rect, renderer, buf)
                if self.repainted:
                    self._background = buf.copy()
                if changed:
                    self._freshen()
            for a in sorted(dynamic, key=lambda a: a.get_zorder()):
                a.draw(renderer)
        return buf

    # ---- what is painted, in order, and where --------------------------------------------

    def _units(self) -> list[Artist]:
        """The figure's children in the order a full draw paints them (its patch aside)."""
        fig = self.figure
        return sorted((a for a in fig.get_children()
                       if a is not fig.patch and not a.get_animated() and a.get_visible()),
                      key=lambda a: a.get_zorder())

    @staticmethod
    def _parts(unit: Artist) -> list[Artist]:
        return _children(unit) if _cut(unit) else [unit]

    def _extent(self, part: Artist, renderer: RendererBase) -> Bbox | None:
        """The pixels ``part`` may paint (padded), or ``None`` if it paints none."""
        if isinstance(part, Axis):
            ax = part.axes
            boxes = [ax.bbox.padded(renderer.points_to_pixels(part.get_tick_padding()))]
            tight = part.get_tightbbox(renderer)
            if tight is not None:
                boxes.append(tight)
            box = Bbox.union(boxes)
        elif isinstance(part, Axes):
            box = part.get_tightbbox(renderer)
        elif part.get_clip_on() and part.get_clip_box() is not None and (
                part.get_clip_path() is None):
            box = part.get_clip_box()
        else:
            box = part.get_window_extent(renderer)
            if isinstance(part, Text) and not part.get_text():
                return None
        if box is None or not np.isfinite(box.get_points()).all():
            return Bbox(self.figure.bbox.get_points())  # unknown: all of it
        return Bbox(box.get_points()).padded(PAD)

    def _measure(self, unit: Artist, renderer: RendererBase,
                 keep: dict[Artist, Bbox | None] | None = None) -> _Painted:
        """``unit`` as it is now; parts in ``keep`` keep the rectangle given there. Without
        ``keep`` a legend is laid out first (drawn with its parts hidden: it places them,
        painting nothing)."""
        columns: dict[Artist, float] = {}
        if isinstance(unit, Legend) and keep is None:
            with _hidden(self._parts(unit)):
                unit.draw(renderer)
            columns = {c: c.get_bbox(renderer).width for c, _ in _columns(unit).values()}
        keep = keep or {}
        return _Painted({p: keep[p] if p in keep else self._extent(p, renderer)
                         for p in self._parts(unit)}, _frame(unit), columns)

    def _freshen(self) -> None:
        """Marks every unit's parts as painted (matplotlib leaves some stale: texts without
        a string, ticks out of view), so that `stale` means changed since."""
        for unit in self._painted:
            for a in (unit, *_children(unit)):
                a.stale = False

    def _damage(self, renderer: RendererBase) -> list[Bbox | None]:
        """Updates the record to the figure as it is now; returns the rectangles to repaint
        (``None`` for a part that paints nothing), none if nothing changed."""
        painted: dict[Artist, _Painted] = {}
        rects: list[Bbox | None] = []
        for unit in self._units():
            was = self._painted.get(unit)
            if was is None:
                now = self._measure(unit, renderer)
                rects += now.parts.values()
            elif _whole(unit, stale := _stale(unit), was):
                now = self._measure(unit, renderer)
                rects += [*was.parts.values(), *now.parts.values()]
            elif (touched := set(stale) | _moved(unit, was)) or list(was.parts) != self._parts(
                    unit):
                keep = {p: e for p, e in was.parts.items() if p not in touched}
                now = self._measure(unit, renderer, keep)
                if isinstance(unit, Legend):  # laid out anew unless nothing moves
                    now = replace(now, columns=was.columns) if list(now.parts) == list(
                        was.parts) and _in_place(unit, stale, was, now, renderer) else (
                        self._measure(unit, renderer))
                for part, extent in now.parts.items():
                    old = was.parts.get(part)
                    if part in touched or part not in was.parts or not _same(old, extent):
                        rects += [old, extent]
                rects += [e for p, e in was.parts.items() if p not in now.parts]
            else:
                now = was
            painted[unit] = now
        for unit, was in self._painted.items():
            if unit not in painted:
                rects += was.parts.values()
        self._painted = painted
        return rects

    def _merge(self, rects: list[Bbox | None]) -> list[Bbox]:
        """Whole-pixel rectangles inside the figure, overlapping ones joined."""
        w, h = self.canvas.get_width_height(physical=True)
        out: list[Bbox] = []
        for r in (r for r in rects if r is not None):
            (x0, y0), (x1, y1) = r.get_points()
            x0, y0 = max(np.floor(x0), 0), max(np.floor(y0), 0)
            x1, y1 = min(np.ceil(x1), w), min(np.ceil(y1), h)
            if x1 <= x0 or y1 <= y0:
                continue
            box = Bbox([[x0, y0], [x1, y1]])
            joined = True
            while joined:
                joined = False
                for other in out:
                    if other.overlaps(box):
                        out.remove(other)
                        box = Bbox.union([box, other])
                        joined = True
                        break
            out.append(box)
        return out

    # ---- painting one rectangle ----------------------------------------------------------

    def _repaint(self, rect: Bbox, renderer: RendererBase, buf: np.ndarray) -> None:
        """Paints ``rect`` as a full draw would, leaving every other pixel as it was: each
        unit draws itself with only its parts that reach into ``rect`` shown."""
        h = buf.shape[0]
        (x0, y0), (x1, y1) = rect.get_points().astype(int)
        rows, cols = slice(h - y1, h - y0), slice(x0, x1)
        saved = buf.copy()
        self.figure.patch.draw(renderer)
        for unit, painted in self._painted.items():
            outside = [p for p, e in painted.parts.items() if e is None or not e.overlaps(rect)]
            if len(outside) == len(painted.parts):
                continue
            if isinstance(unit, Legend):  # laid out when measured: its parts alone
                for part in painted.parts:
                    if part not in outside:
                        part.draw(renderer)
                continue
            # an Axes paints its patch whatever its flag: hidden
            patch = [p for p in outside if isinstance(unit, Axes) and p is unit.patch]
            with _hidden(patch), animated(p for p in outside if p not in patch):
                unit.draw(renderer)
        kept = buf[rows, cols].copy()
        buf[...] = saved
        buf[rows, cols] = kept
