"""Exact partial redraws: after a change, repaint only the rectangles it touched.

A full draw paints a figure in a fixed order: the figure's patch, then its children by
zorder; an Axes paints its patch, then its own children by zorder; a legend paints its
handles and texts. `Repainter` keeps the painted background (everything but the animated
artists) and, for every *leaf* artist of that order (a whole axis with its ticks, labels and
grid lines, a spine, a legend entry's text, ...), a key saying how it looks and the pixel
rectangle it paints. On the next paint, each leaf whose key or rectangle changed, and each
leaf that appeared or went away, marks its old and its new rectangle as damaged; every
damaged rectangle is then painted from scratch in the full draw's order with only the
leaves that reach into it, and only its pixels are kept. They come out as a full draw
paints them, and no other pixel changes.

A legend is laid out at draw time from its parts' sizes: when a part is new or a changed
text takes another size, the legend is laid out again (drawn with its parts hidden, which
paints nothing) before its parts' rectangles are compared, so that only the entries that
moved or changed are repainted. (Legends with a shadow are not supported.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence

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

PAD = 2.0  # pixels around every leaf's extent: antialiasing and line widths
Record = dict[Artist, tuple[Hashable, Bbox | None]]


def _key(artist: Artist) -> Hashable:
    """How an artist looks, where nobody said: a text by its string and colour; anything
    else is taken as unchanged while it stays in the figure (its owner must key it)."""
    if isinstance(artist, Text):
        return artist.get_text(), str(artist.get_color())
    return None


def _legend_parts(box: Artist) -> Iterator[Artist]:
    """The artists a legend paints (its frame, handles and texts), in its order."""
    for child in box.get_children():
        if isinstance(child, OffsetBox):
            yield from _legend_parts(child)
        elif child.get_visible():
            yield child


def _split(unit: Artist) -> bool:
    """Whether an Axes is repainted child by child (flat 2-D axes with a frame)."""
    return (isinstance(unit, Axes) and unit.name == "rectilinear" and unit.axison
            and unit.get_frame_on())


@contextlib.contextmanager
def _animated(artists: Sequence[Artist]) -> Iterator[None]:
    """Leaves ``artists`` out of full draws (matplotlib skips animated artists)."""
    old = [a.get_animated() for a in artists]
    for a in artists:
        a.set_animated(True)
    try:
        yield
    finally:
        for a, was in zip(artists, old, strict=True):
            a.set_animated(was)


def _same(a: Bbox | None, b: Bbox | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a.get_points(), b.get_points()))


def _lay_out(legend: Legend, parts: Sequence[Artist], renderer: RendererBase) -> None:
    """Lays ``legend`` out for its current parts (placing them) without painting a pixel."""
    for part in parts:
        part.set_visible(False)
    try:
        legend.draw(renderer)
    finally:
        for part in parts:
            part.set_visible(True)


@contextlib.contextmanager
def _only(ax: Axes, keep: set[Artist]) -> Iterator[None]:
    """Makes ``ax.draw`` paint only ``keep`` among its children (and its patch)."""
    hide = [c for c in ax.get_children()
            if c is not ax.patch and c not in keep and not c.get_animated()]
    patch = ax.patch.get_visible()
    if ax.patch not in keep:
        ax.patch.set_visible(False)
    try:
        with _animated(hide):
            yield
    finally:
        ax.patch.set_visible(patch)


class Repainter:
    """Keeps a figure's painted background and brings it up to date by partial repaints.

    Args:
        figure: the figure; it is painted on ``canvas``.
        canvas: an Agg canvas of the figure (its own, or a detached one).
        keys: called on each paint: how the leaves whose look may change look now (e.g.
            an axis keyed by its limits and scale). Leaves not named there are keyed by
            `_key`.

    Attributes:
        repainted: the rectangles (pixels, origin at the bottom left) the last `paint`
            repainted: the whole figure after a full draw, none after a step.
    """

    def __init__(self, figure: Figure, canvas: FigureCanvasAgg,
                 keys: Callable[[], Mapping[Artist, Hashable]]) -> None:
        self.figure, self.canvas, self._keys = figure, canvas, keys
        self._background: np.ndarray | None = None
        self._record: Record = {}
        self._legends: dict[Legend, tuple[tuple[Artist, ...], Bbox | None]] = {}  # parts, box
        self.repainted: list[Bbox] = []

    def paint(self, dynamic: Sequence[Artist], *, changed: bool = True,
              full: bool = False) -> np.ndarray:
        """Paints the figure: the background brought up to date, then ``dynamic`` on top.

        Args:
            dynamic: the artists that move every step; never part of the background.
            changed: whether anything but ``dynamic`` may have changed since the last
                paint (if not, the background is reused as it is).
            full: draw everything anew.

        Returns:
            The canvas's ``(H, W, 4)`` RGBA buffer, valid until the next draw.
        """
        with _animated(dynamic):
            renderer = self.canvas.get_renderer()
            buf = np.asarray(renderer.buffer_rgba())
            if full or self._background is None or self._background.shape != buf.shape:
                FigureCanvasAgg.draw(self.canvas)
                renderer = self.canvas.get_renderer()
                buf = np.asarray(renderer.buffer_rgba())
                self._background = buf.copy()
                self._survey(renderer)
                self.repainted = [Bbox(self.figure.bbox.get_points())]
            else:
                buf[...] = self._background
                self.repainted = self._damage(renderer) if changed else []
                for rect in self.repainted:
                    self._repaint(rect, renderer, buf)
                if self.repainted:
                    self._background = buf.copy()
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
    def _leaves(unit: Artist) -> list[Artist]:
        if _split(unit):
            return [unit.patch, *(c for c in unit.get_children() if c is not unit.patch
                                  and c.get_visible() and not c.get_animated())]
        if isinstance(unit, Legend):
            return list(_legend_parts(unit))
        return [unit]

    def _extent(self, leaf: Artist, renderer: RendererBase) -> Bbox | None:
        """The pixels ``leaf`` may paint (padded), or ``None`` if it paints none."""
        if isinstance(leaf, Axis):
            ax = leaf.axes
            boxes = [ax.bbox.padded(renderer.points_to_pixels(leaf.get_tick_padding()))]
            tight = leaf.get_tightbbox(renderer)
            if tight is not None:
                boxes.append(tight)
            box = Bbox.union(boxes)
        elif isinstance(leaf, Axes):
            box = leaf.get_tightbbox(renderer)
        elif leaf.get_clip_on() and leaf.get_clip_box() is not None and (
                leaf.get_clip_path() is None):
            box = leaf.get_clip_box()
        else:
            box = leaf.get_window_extent(renderer)
            if isinstance(leaf, Text) and not leaf.get_text():
                return None
        if box is None or not np.isfinite(box.get_points()).all():
            return Bbox(self.figure.bbox.get_points())  # unknown: all of it
        return Bbox(box.get_points()).padded(PAD)

    def _survey(self, renderer: RendererBase) -> None:
        """Records every leaf's key and extent after a full draw."""
        keys = self._keys()
        self._record, self._legends = {}, {}
        for unit in self._units():
            leaves = self._leaves(unit)
            if isinstance(unit, Legend):
                self._legends[unit] = (tuple(leaves), self._extent(unit, renderer))
            for leaf in leaves:
                self._record[leaf] = (keys.get(leaf, _key(leaf)), self._extent(leaf, renderer))

    def _damage(self, renderer: RendererBase) -> list[Bbox]:
        """Updates the record to the figure as it is now; returns the rectangles to repaint."""
        keys = self._keys()
        old: Record = self._record
        record: Record = {}
        legends: dict[Legend, tuple[tuple[Artist, ...], Bbox | None]] = {}
        rects: list[Bbox | None] = []
        for unit in self._units():
            leaves = self._leaves(unit)
            moved = False
            if isinstance(unit, Legend):
                was = self._legends.get(unit)
                if was is None or was[0] != tuple(leaves) or not self._in_place(
                        unit, leaves, keys, was[1], renderer):
                    _lay_out(unit, leaves, renderer)
                    moved = True
                legends[unit] = (tuple(leaves), self._extent(unit, renderer) if moved
                                 else was[1])
            for leaf in leaves:
                key = keys.get(leaf, _key(leaf))
                was = old.get(leaf)
                if was is not None and was[0] == key and not moved:
                    record[leaf] = was
                    continue
                extent = self._extent(leaf, renderer)
                record[leaf] = (key, extent)
                if was is not None and was[0] == key and _same(was[1], extent):
                    continue
                rects += [was[1] if was is not None else None, extent]
        rects += [extent for leaf, (_, extent) in old.items() if leaf not in record]
        self._record, self._legends = record, legends
        return self._merge([r for r in rects if r is not None])

    def _in_place(self, legend: Legend, leaves: list[Artist],
                  keys: Mapping[Artist, Hashable], box: Bbox | None,
                  renderer: RendererBase) -> bool:
        """Whether a legend with the same parts keeps its layout (which depends on nothing
        but its parts' sizes): every changed part keeps its size; or a single text changes
        only its width and the legend's size stays (its column was wider already: in a
        legend without a title or ``mode="expand"``, entries sit at their column's left)."""
        resized = []
        for leaf in leaves:
            was = self._record[leaf]
            if was[0] == keys.get(leaf, _key(leaf)):
                continue
            now = self._extent(leaf, renderer)
            if was[1] is None or now is None:
                return False
            if not np.array_equal(was[1].size, now.size):
                resized.append((was[1], now))
        if not resized:
            return True
        if (len(resized) > 1 or legend.get_title().get_text()
                or getattr(legend, "_mode", None) is not None):
            return False
        (was, now), = resized
        return (was.x0, was.y0, was.y1) == (now.x0, now.y0, now.y1) and _same(
            box, self._extent(legend, renderer))

    def _merge(self, rects: list[Bbox]) -> list[Bbox]:
        """Whole-pixel rectangles inside the figure, overlapping ones joined."""
        w, h = self.canvas.get_width_height(physical=True)
        out: list[Bbox] = []
        for r in rects:
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
        """Paints ``rect`` as a full draw would, leaving every other pixel as it was."""
        h = buf.shape[0]
        (x0, y0), (x1, y1) = rect.get_points().astype(int)
        rows, cols = slice(h - y1, h - y0), slice(x0, x1)
        saved = buf.copy()
        self.figure.patch.draw(renderer)
        for unit in self._units():
            leaves = {leaf for leaf in self._leaves(unit)
                      if (e := self._record[leaf][1]) is not None and e.overlaps(rect)}
            if not leaves:
                continue
            if _split(unit):
                with _only(unit, leaves):
                    unit.draw(renderer)
            elif isinstance(unit, Legend):  # laid out as last drawn or laid out: parts alone
                for leaf in self._leaves(unit):
                    if leaf in leaves:
                        leaf.draw(renderer)
            else:
                unit.draw(renderer)
        kept = buf[rows, cols].copy()
        buf[...] = saved
        buf[rows, cols] = kept

