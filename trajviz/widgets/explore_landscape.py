"""`explore_landscape()`: scrub through real training paths on a saved loss-landscape grid.

Everything comes from the grid file (`trajviz.landscape.Grid`): the contours are its loss,
the paths its projected training records, the table its recorded accuracies. Nothing is
trained or evaluated again, so switching optimizers on and off and scrubbing are instant.
"""

from __future__ import annotations

import html
import inspect
import logging
import os
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np

from ..errors import UsageError
from ..optimizers import parse_optimizer
from ..plot import RunFigure
from ..run import Run
from ._view import ColorSlots, FigureView

log = logging.getLogger(__name__)


def grid_run(grid: Any) -> Run:
    """A grid's projected training paths as a `Run`: one trajectory per optimizer, one
    "step" per training record, positions in plane coordinates, loss on the plane."""
    pos = np.asarray(grid.paths, dtype=float)
    n, r = pos.shape[:2]
    steps = np.asarray(grid.path_steps)
    last = (steps >= 0).sum(1) - 1
    diverged = np.where(last < r - 1, last + 1, -1)
    described = grid.meta.get("train", {}).get("optimizers") or [{} for _ in range(n)]
    lr = np.array([[_lr(d)] * (r - 1) for d in described], dtype=float).reshape(n, r - 1)
    return Run(positions=pos, loss=np.asarray(grid.meta["path_plane_loss"], dtype=float),
               grads=np.full((n, r - 1, 2), np.nan), updates=np.diff(pos, axis=1), lr=lr,
               diverged_at=diverged, evals=np.ones((n, r - 1), dtype=np.int32),
               meta={"labels": list(grid.labels), "n_starts": 1, "surface": "landscape",
                     "steps": r - 1, "optimizers": described})


def _lr(described: dict[str, Any]) -> float:
    """The learning rate a training run used: its own, else its class's default."""
    if "lr" in described.get("kwargs", {}):
        return float(described["kwargs"]["lr"])
    try:
        cls = parse_optimizer(described["name"]).cls
        default = inspect.signature(cls.__init__).parameters["lr"].default
        return float(default)
    except (KeyError, UsageError, TypeError, ValueError):
        return float("nan")


def _load(source: Any) -> Any:
    from ..landscape import Grid, Landscape

    if isinstance(source, Landscape):
        return source.grid
    if isinstance(source, Grid):
        return source
    if isinstance(source, (str, os.PathLike)):
        return Grid.load(source)
    raise UsageError(f"explore_landscape takes a grid file, a Grid or a Landscape, not a "
                     f"{type(source).__name__}")


class LandscapeExplorer(widgets.VBox):
    """The landscape explorer UI (an ``ipywidgets.VBox``); see `explore_landscape`.

    Attributes:
        grid: the `trajviz.landscape.Grid` shown.
        run: every training path as a `Run` (`grid_run`); ``shown`` picks its rows.
        figure: the `RunFigure`.
        controls: the control widgets by name.
    """

    def __init__(self, source: Any, *, backend: str = "auto", size: tuple[float, float] = (
            10.0, 6.0), dpi: int = 80, theme: str = "light") -> None:
        from ..landscape.plot import axis_labels
        from ..landscape.surface import grid_surface

        self.grid = g = _load(source)
        self.run = grid_run(g)
        self.labels = list(g.labels)
        self._colors = ColorSlots(self.labels)
        self._record_steps = np.asarray(g.path_steps).max(axis=0)
        self.view = FigureView(size=size, dpi=dpi, backend=backend)
        model = g.meta.get("model", "model")
        data = g.meta.get("data", {}).get("dataset", "data")
        self.figure = RunFigure(self.run, grid_surface(g), background=(
            *np.meshgrid(g.alpha, g.beta), g.loss), figure=self.view.figure,
            theme=theme, colors=self._colors.mapping(self.labels),
            title=f"{model} on {data}: {g.meta.get('directions', '')} plane")
        xl, yl = axis_labels(g)
        self.figure.main.ax.set_xlabel(xl)
        self.figure.main.ax.set_ylabel(yl, rotation=90, labelpad=4)
        self.controls = self._build_controls()
        super().__init__(self._layout())
        self.add_class("tv-landscape")
        self.figure.set_step(self.run.steps)
        self.view.redraw(self.figure, full=True)  # the axis labels changed
        self._show_step()

    def _build_controls(self) -> dict[str, Any]:
        w = widgets
        steps = self.run.steps
        c: dict[str, Any] = {
            "optimizers": w.SelectMultiple(options=self.labels, value=tuple(self.labels),
                                           rows=min(len(self.labels), 8),
                                           description="optimizers",
                                           layout=w.Layout(width="330px")),
            "play": w.Play(interval=120, min=0, max=steps, value=steps, step=1),
            "step": w.IntSlider(value=steps, min=0, max=steps, description="record",
                                continuous_update=True, layout=w.Layout(width="520px")),
            "gif_path": w.Text(value="trajviz-landscape.gif", description="GIF file",
                               layout=w.Layout(width="330px")),
            "export": w.Button(description="Export GIF", icon="film"),
            "table": w.HTML(self._table()),
            "status": w.HTML(),
        }
        for name, widget in c.items():
            widget.add_class(f"tv-{name.replace('_', '-')}")
        w.link((c["play"], "value"), (c["step"], "value"))
        c["optimizers"].observe(self._on_optimizers, "value")
        c["step"].observe(self._on_step, "value")
        c["export"].on_click(lambda _: self.export_gif())
        return c

    def _layout(self) -> list[widgets.Widget]:
        c, w = self.controls, widgets
        side = w.VBox([c["optimizers"], c["table"], w.HBox([c["export"]]), c["gif_path"]],
                      layout=w.Layout(width="350px", min_width="350px"))
        return [w.HBox([side, self.view.widget], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([c["play"], c["step"]]), c["status"]]

    @property
    def shown(self) -> list[int]:
        """Rows of `run` switched on, in the grid's order."""
        on = set(self.controls["optimizers"].value)
        return [i for i, label in enumerate(self.labels) if label in on]

    def _subset(self, rows: list[int]) -> Run:
        r = self.run
        meta = {**r.meta, "labels": [r.meta["labels"][i] for i in rows],
                "optimizers": [r.meta["optimizers"][i] for i in rows]}
        return Run(r.positions[rows], r.loss[rows], r.grads[rows], r.updates[rows], r.lr[rows],
                   r.diverged_at[rows], r.evals[rows], meta)

    def _on_optimizers(self, change: Any) -> None:
        rows = self.shown
        if not rows:
            self.controls["status"].value = ("<span class='tv-error' style='color:#b00020'>"
                                             "no optimizer selected: pick one or more</span>")
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
        """The training step of the current record and each shown optimizer's held-out
        accuracy there."""
        t = self.figure.step
        acc = self.grid.meta.get("test_accuracy")
        parts = []
        for i in self.shown:
            if acc and t < len(acc[i]):
                parts.append(f"{html.escape(self.labels[i])} {100 * acc[i][t]:.1f}%")
        self.controls["status"].value = (
            f"training step {int(self._record_steps[t])} · held-out accuracy: "
            + (", ".join(parts) if parts else "not recorded"))

    def _table(self) -> str:
        m = self.grid.meta
        rows = []
        for i, label in enumerate(self.labels):
            cells = [html.escape(label)]
            for key, fmt in (("final_accuracy", "{:.2%}"), ("final_loss", "{:.4f}"),
                             ("missed_steps", "{:.0%}")):
                values = m.get(key)
                cells.append(fmt.format(values[i]) if values else "–")
            gone = self.run.diverged_at[i]
            cells.append("–" if gone < 0 else f"record {gone}")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f"<th>{h}</th>" for h in ("optimizer", "held-out acc.", "final loss",
                                                 "plane misses", "diverged"))
        return (f"<table class='tv-accuracy' style='font-size:12px'><tr>{head}</tr>"
                + "".join(rows) + "</table>")

    def export_gif(self, path: str | os.PathLike[str] | None = None, *, fps: int = 8
                   ) -> Path | None:
        """Writes the shown paths as a GIF through `trajviz.plot.save` and shows its path."""
        target = Path(path if path is not None else self.controls["gif_path"].value).resolve()
        try:
            written = self.view.export(self.figure, target, fps=fps)
        except UsageError as e:
            self.controls["status"].value = (f"<span class='tv-error' style='color:#b00020'>"
                                             f"{html.escape(str(e))}</span>")
            return None
        self.controls["status"].value = f"wrote <code>{html.escape(str(written))}</code>"
        return written


def explore_landscape(grid: Any, **options: Any) -> LandscapeExplorer:
    """Training paths on a saved loss-landscape grid: scrub through the training records,
    switch optimizers on and off, export a GIF.

    Args:
        grid: a grid file written by ``trajviz landscape --save-grid`` (or
            ``Grid.save``), a `trajviz.landscape.Grid`, or a `trajviz.landscape.Landscape`.
        **options: ``backend`` (``auto``, ``ipympl``, ``image``), ``size``, ``dpi``,
            ``theme``.

    Returns:
        A `LandscapeExplorer` (an ``ipywidgets.VBox``).

    Example:
        >>> ui = explore_landscape("grid.npz")       # doctest: +SKIP
    """
    return LandscapeExplorer(grid, **options)
