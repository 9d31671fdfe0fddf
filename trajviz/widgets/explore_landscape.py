"""`explore_landscape()`: scrub through real training paths on a saved loss-landscape grid.

Everything comes from the grid file(s) (`trajviz.landscape.Grid`): the figure is the CLI's
`trajviz.landscape.plot.LandscapeFigure` (the slice, the real and on-plane loss, the
held-out accuracy, the update size and sign), the paths its `paths_run`, the table the
recorded accuracies. Nothing is trained or evaluated again, so switching optimizers on and
off and scrubbing are instant. A grid without paths (from `trajviz.loss_landscape`) shows
its slice alone.
"""

from __future__ import annotations

import html
import logging
import os
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..errors import UsageError
from ..run import Run
from ._ui import (
    CONTROL_WIDTH,
    error_html,
    export_controls,
    panel_layout,
    playback_controls,
    tag_controls,
    write_gif,
)
from ._view import ColorSlots, FigureView

log = logging.getLogger(__name__)


def _grids(source: Any) -> tuple:
    from ..landscape.plot import as_grids

    try:
        return as_grids(source)
    except UsageError as e:
        if str(e).startswith("expected a grid file"):
            raise UsageError(f"explore_landscape takes a grid file, a Grid, a Landscape or a "
                             f"list of grids, not a {type(source).__name__}") from None
        raise


class LandscapeExplorer(widgets.VBox):
    """The landscape explorer UI (an ``ipywidgets.VBox``); see `explore_landscape`.

    Attributes:
        grids: the `trajviz.landscape.Grid` objects shown (one, or one per optimizer).
        run: every training path as a `Run` (`paths_run`); ``shown`` picks its rows.
        figure: the `LandscapeFigure`.
        controls: the control widgets by name.
    """

    def __init__(self, source: Any, *, backend: str = "auto",
                 size: tuple[float, float] | None = None, dpi: int = 80,
                 theme: str = "light") -> None:
        from ..landscape.paths import missed_shares, paths_run
        from ..landscape.plot import LandscapeFigure, figure_size

        self.grids = _grids(source)
        self.grid = self.grids[0]
        self.run = paths_run(self.grids)
        self.labels = list(self.run.labels)
        self._missed = missed_shares(self.grids)
        self._colors = ColorSlots(self.labels)
        self.view = FigureView(size=size or figure_size(self.grids), dpi=dpi,
                               backend=backend)
        self.figure = LandscapeFigure(self.grids, figure=self.view.figure, theme=theme,
                                      colors=self._colors.mapping(self.labels))
        self.controls = c = self._build_controls()
        super().__init__(panel_layout(c, [c["optimizers"], c["table"]], self.view,
                                      [c["status"]]))
        self.add_class("tv-landscape")
        self.figure.set_step(self.run.steps)
        self.view.redraw(self.figure, full=True)
        self._show_step()

    def _build_controls(self) -> dict[str, Any]:
        w = widgets
        c: dict[str, Any] = {
            "optimizers": w.SelectMultiple(options=self.labels, value=tuple(self.labels),
                                           rows=max(1, min(len(self.labels), 8)),
                                           description="optimizers",
                                           disabled=not self.labels,
                                           layout=w.Layout(width=CONTROL_WIDTH)),
            **playback_controls(self.run.steps, interval=120, description="record"),
            **export_controls("trajviz-landscape.gif"),
            "table": w.HTML(self._table()),
            "status": w.HTML(),
        }
        tag_controls(c)
        c["optimizers"].observe(self._on_optimizers, "value")
        c["step"].observe(self._on_step, "value")
        c["export"].on_click(lambda _: self.export_gif())
        return c

    @property
    def shown(self) -> list[int]:
        """Rows of `run` switched on, in the grids' order."""
        on = set(self.controls["optimizers"].value)
        return [i for i, label in enumerate(self.labels) if label in on]

    def _subset(self, rows: list[int]) -> Run:
        r = self.run
        meta = {**r.meta, "labels": [r.meta["labels"][i] for i in rows],
                "optimizers": [r.meta["optimizers"][i] for i in rows],
                "diverged_iteration": [r.meta["diverged_iteration"][i] for i in rows]}
        return Run(r.positions[rows], r.loss[rows], r.grads[rows], r.updates[rows], r.lr[rows],
                   r.diverged_at[rows], r.evals[rows], meta)

    def _on_optimizers(self, change: Any) -> None:
        rows = self.shown
        if not rows:
            self.controls["status"].value = error_html("no optimizer selected: pick one or more")
            return
        self.figure.set_run(self._subset(rows))
        self.figure.set_step(self.controls["step"].value)
        self.view.redraw(self.figure)
        self._show_step()

    def _on_step(self, change: Any) -> None:
        t0 = time.perf_counter()
        self.figure.set_step(change["new"])
        self.view.redraw(self.figure)
        self._show_step()
        log.debug("landscape step %d drawn in %.3f s", change["new"], time.perf_counter() - t0)

    def _show_step(self) -> None:
        """The training iteration of the current record and each shown optimizer's
        held-out accuracy there."""
        if not self.run.n_traj:
            self.controls["status"].value = (
                "this grid holds no training paths (made by loss_landscape): its slice "
                "alone")
            return
        t = self.figure.step
        curves = self.figure.curves
        parts = []
        for i in self.shown:
            acc = curves.accuracy[i, t] if t < curves.accuracy.shape[1] else np.nan
            if np.isfinite(acc):
                parts.append(f"{html.escape(self.labels[i])} {100 * acc:.1f}%")
        self.controls["status"].value = (
            f"training iteration {int(self.figure.record_steps[t])} of {curves.iterations}"
            " · held-out accuracy: " + (", ".join(parts) if parts else "not recorded"))

    def _table(self) -> str:
        rows = []
        k = 0
        gone = self.run.meta.get("diverged_iteration") or []
        for g in self.grids:
            m = g.meta
            for j, label in enumerate(g.labels):
                cells = [html.escape(label)]
                for key, fmt in (("final_accuracy", "{:.2%}"), ("final_loss", "{:.4f}")):
                    values = m.get(key)
                    cells.append(fmt.format(values[j]) if values else "–")
                cells.append(f"{self._missed[label]:.0%}" if label in self._missed else "–")
                cells.append(f"iteration {gone[k]}" if k < len(gone) and gone[k] >= 0
                             else "–")
                rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
                k += 1
        head = "".join(f"<th>{h}</th>" for h in ("optimizer", "held-out acc.", "final loss",
                                                 "plane misses", "diverged"))
        return (f"<table class='tv-accuracy' style='font-size:12px'><tr>{head}</tr>"
                + "".join(rows) + "</table>")

    def export_gif(self, path: str | os.PathLike[str] | None = None, *, fps: float = 8
                   ) -> Path | None:
        """Writes the shown paths as a GIF through `trajviz.plot.save` and shows its path;
        returns it, or ``None`` after showing why it failed."""
        return write_gif(self.view, self.figure, path, self.controls, fps=fps)


def explore_landscape(grid: Any, **options: Any) -> LandscapeExplorer:
    """Training paths on a saved loss-landscape grid: scrub through the training records,
    switch optimizers on and off, export a GIF.

    Args:
        grid: a grid file written by ``trajviz landscape --save-grid``, `loss_landscape`
            or ``Grid.save``; a `trajviz.landscape.Grid`; a `trajviz.landscape.Landscape`;
            or a list of grids or files (``--directions pca-each`` writes one per
            optimizer).
        **options: ``backend`` (``auto``, ``ipympl``, ``image``), ``size``, ``dpi``,
            ``theme``.

    Returns:
        A `LandscapeExplorer` (an ``ipywidgets.VBox``).

    Example:
        >>> ui = explore_landscape("grid.npz")       # doctest: +SKIP
    """
    return LandscapeExplorer(grid, **options)
