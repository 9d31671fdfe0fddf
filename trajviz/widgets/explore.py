"""`explore()`: sliders over live runs of real ``torch.optim`` optimizers on a surface.

The model is an `ExplorerState`; the `Explorer` only hands each control's new value to it,
shows the state back in the controls, and draws. Every change re-runs only what it touched
(see `RunCache`): moving one optimizer's learning rate re-runs that optimizer alone, a
shorter step count is a slice of the cached run, and the figure's artists are updated in
place (`RunFigure.set_run`), never rebuilt, except that a new surface redraws its contours
into the same figure. While idle, the explorer runs the edited optimizer one slider notch
below and above in the background (`Prefetcher`), so a notch move only draws.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backend_bases import MouseEvent

import surfaces
from surfaces import Surface

from ..errors import UsageError, UsageTypeError
from ..optimizers import (
    SEED_OPTIMIZERS,
    OptimizerSpec,
    optimizer_names,
    parse_optimizer,
    replace_entry,
)
from ..plot import RunFigure, get_theme
from ..run import Run
from ._prefetch import NOTCH_REACH, Prefetcher, slider_notches
from ._state import HYPERPARAMETERS, ExplorerState
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

SCHEDULER_EXAMPLES = ("steplr:step_size=100,gamma=0.5", "exponentiallr:gamma=0.99",
                      "cosineannealinglr:T_max=500", "onecyclelr:max_lr=0.1,total_steps=2001",
                      "reducelronplateau:factor=0.5,patience=10")
LABEL_STYLE = {"description_width": "92px"}


@dataclass(frozen=True)
class Timing:
    """One refresh: how many optimizers were re-run, and where the time went (seconds)."""

    cause: str
    rerun: int
    optimizers: int
    steps: int
    engine_s: float
    draw_s: float
    total_s: float

    def __str__(self) -> str:
        return (f"{self.cause}: re-ran {self.rerun} of {self.optimizers} optimizers "
                f"({self.steps} steps) · engine {1e3 * self.engine_s:.0f} ms · "
                f"draw {1e3 * self.draw_s:.0f} ms · total {1e3 * self.total_s:.0f} ms")


@functools.cache
def usable_optimizers() -> tuple[str, ...]:
    """Every optimizer name (torch's and the presets) that can step a 2-parameter point."""
    names = []
    for name in optimizer_names():
        try:
            parse_optimizer(name).validate()
        except UsageError:
            continue
        names.append(name)
    return tuple(names)


class Explorer(widgets.VBox):
    """The explorer UI (an ``ipywidgets.VBox``); see `explore`.

    Attributes:
        state: the `ExplorerState` the controls edit (the model: a change made to it
            directly shows only after the next control change).
        run: the `Run` on display (``None`` until a valid combination ran).
        figure: its `RunFigure`.
        timings: every refresh's `Timing`, newest last.
        controls: the control widgets by name (``lr``, ``momentum``, ``steps``, ``step``...).
        prefetcher: the `Prefetcher` that runs the slider's next notches while idle
            (``None`` with ``prefetch=False``).
    """

    def __init__(self, surface: str | Surface = "rosenbrock",
                 optimizers: Sequence[str] | str = SEED_OPTIMIZERS, *,
                 steps: int | None = None, start: Sequence[float] | None = None,
                 scheduler: str | None = None, backend: str = "auto", device: str = "auto",
                 dtype: str = "float32", size: tuple[float, float] = (9.0, 6.0),
                 dpi: int = 80, theme: str = "light", prefetch: bool = True) -> None:
        if not isinstance(prefetch, bool):
            raise UsageTypeError(f"prefetch must be True or False, got {prefetch!r}")
        self.state = ExplorerState(surface, optimizers, steps=steps, start=start,
                                   scheduler=scheduler, device=device, dtype=dtype)
        self.prefetcher = Prefetcher(self.state.runs) if prefetch else None
        if self.prefetcher is not None:
            self.prefetcher.pause_during_cells()
        self._notch_hyper, self._notch_up = "lr", True  # the slider moved last, and which way
        self._colors = ColorSlots(list(self.state.settings))
        self._theme = get_theme(theme)  # a bad name fails here, not in the first refresh
        self._showing_state = False
        self.run: Run | None = None
        self.figure: RunFigure | None = None
        self.timings: list[Timing] = []
        self.view = FigureView(size=size, dpi=dpi, backend=backend)
        self.view.on_click(self._clicked)
        self.controls = self._build_controls()
        self.state.steps = self.controls["steps"].value  # the slider's range bounds it
        self._show_surface()
        self._show_target()
        c = self.controls
        side = [c[name] for name in ("surface", "surface_params", "optimizers", "target",
                                     *HYPERPARAMETERS, "steps", "start_x", "start_y",
                                     "scheduler")]
        super().__init__(panel_layout(c, side, self.view, [c["status"], c["timing"]]))
        self.add_class("tv-explorer")
        self._refresh("start")
        self._prefetch_notches()

    # ---- the controls, each bound to one change of the state ------------------------------

    def _build_controls(self) -> dict[str, Any]:
        w, s = widgets, self.state
        wide = w.Layout(width=CONTROL_WIDTH)
        lazy = dict(continuous_update=False, style=LABEL_STYLE, layout=wide)
        extra = [n for n in s.settings if n not in usable_optimizers()]
        c: dict[str, Any] = {
            "surface": w.Dropdown(options=[*surfaces.names(), *s.own], value=s.surface.name,
                                  description="surface", style=LABEL_STYLE, layout=wide),
            "surface_params": w.VBox([]),
            "optimizers": w.SelectMultiple(options=[*usable_optimizers(), *extra],
                                           value=tuple(s.settings), rows=7,
                                           description="optimizers", style=LABEL_STYLE,
                                           layout=wide),
            "target": w.Dropdown(options=list(s.settings), description="edit",
                                 style=LABEL_STYLE, layout=wide),
            "lr": w.FloatLogSlider(value=1e-3, base=10, min=-6, max=2, step=0.05,
                                   description="learning rate", readout_format=".3g", **lazy),
            "momentum": w.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01,
                                      description="momentum", **lazy),
            "nesterov": w.Checkbox(value=False, description="Nesterov", style=LABEL_STYLE,
                                   layout=wide, indent=True),
            "beta1": w.FloatSlider(value=0.9, min=0.0, max=0.999, step=0.001,
                                   description="beta1", readout_format=".3f", **lazy),
            "beta2": w.FloatSlider(value=0.999, min=0.9, max=0.9999, step=0.0001,
                                   description="beta2", readout_format=".4f", **lazy),
            "weight_decay": w.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.005,
                                          description="weight decay", readout_format=".3f",
                                          **lazy),
            "steps": w.IntSlider(value=s.steps, min=5, max=2000, step=5, description="steps",
                                 **lazy),
            "start_x": w.FloatSlider(description="start x", readout_format=".3f", **lazy),
            "start_y": w.FloatSlider(description="start y", readout_format=".3f", **lazy),
            "scheduler": w.Combobox(value=s.scheduler, options=list(SCHEDULER_EXAMPLES),
                                    placeholder="no LR scheduler", description="scheduler",
                                    ensure_option=False, continuous_update=False,
                                    style=LABEL_STYLE, layout=wide),
            **playback_controls(s.steps, interval=40, description="step"),
            **export_controls("trajviz-explorer.gif", style=LABEL_STYLE),
            "status": w.HTML(),
            "timing": w.HTML(),
        }
        tag_controls(c)
        self._bind(c["surface"], self._on_surface)
        self._bind(c["optimizers"], self._on_optimizers)
        self._bind(c["target"], self._on_target)
        for hyper in HYPERPARAMETERS:
            self._bind(c[hyper], functools.partial(self._on_hyper, hyper))
        self._bind(c["steps"], self._on_steps)
        self._bind(c["start_x"], functools.partial(self._on_start, 0))
        self._bind(c["start_y"], functools.partial(self._on_start, 1))
        self._bind(c["scheduler"], self._on_scheduler)
        self._bind(c["step"], self._on_step)
        c["export"].on_click(lambda _: self._user_action(self.export_gif))
        return c

    def _bind(self, widget: widgets.Widget, handler: Callable[[Any], None]) -> None:
        """Calls ``handler`` with the widget's new value when the user changes it, not when
        `_showing` sets it to show the state."""

        def changed(change: dict[str, Any]) -> None:
            if not self._showing_state:
                self._user_action(handler, change["new"])

        widget.observe(changed, "value")

    def _user_action(self, handler: Callable[..., object], *args: Any) -> None:
        """Runs ``handler``: the prefetch stops first, so that it never delays the user,
        and starts again for the state the action left."""
        if self.prefetcher is not None:
            self.prefetcher.cancel()
        handler(*args)
        self._prefetch_notches()

    def _on_surface(self, name: str) -> None:
        try:
            self.state.choose_surface(name)
        except UsageError as e:
            self._error(str(e))
            return
        self._show_surface()
        self._show_hypers()  # the new surface's teaching learning rates
        self._refresh("surface", new_surface=True)

    def _on_surface_params(self, _: float) -> None:
        params = {b.description: b.value for b in self.controls["surface_params"].children}
        try:
            self.state.set_surface_params(params)
        except UsageError as e:
            self._error(str(e))
            return
        self._refresh("surface", new_surface=True)

    def _on_optimizers(self, names: Sequence[str]) -> None:
        self.state.set_optimizers(list(names))
        self._show_target()
        self._refresh("optimizers")

    def _on_target(self, name: str | None) -> None:
        self.state.target = name
        self._show_hypers()

    def _on_hyper(self, hyper: str, value: Any) -> None:
        if self.state.target is not None:
            if hyper != "nesterov":
                was = self.state.hypers().get(hyper)
                self._notch_hyper = hyper
                self._notch_up = was is None or value >= was
            self.state.set_hyper(hyper, value)
            self._refresh(f"{self.state.target} {hyper}")

    def _on_steps(self, steps: int) -> None:
        self.state.steps = steps
        self._refresh("steps")

    def _on_start(self, axis: int, value: float) -> None:
        self.state.start = replace_entry(self.state.start, axis, value)
        self._refresh(("start_x", "start_y")[axis])

    def _on_scheduler(self, text: str) -> None:
        self.state.scheduler = text
        self._refresh("scheduler")

    def _on_step(self, step: int) -> None:
        if self.figure is None:
            return
        t0 = time.perf_counter()
        self.figure.set_step(step)
        self.view.redraw(self.figure)
        self._time("step", 0, 0.0, time.perf_counter() - t0)

    def _clicked(self, event: MouseEvent) -> None:
        """A click on the surface (``ipympl`` only) moves the start there (within the start
        sliders' range)."""
        if self.figure is None or event.inaxes is not self.figure.main.ax:
            return
        c = self.controls
        with self._showing():
            c["start_x"].value = float(event.xdata)
            c["start_y"].value = float(event.ydata)
        self.state.start = (c["start_x"].value, c["start_y"].value)
        self._user_action(self._refresh, "click")

    # ---- the state shown in the controls --------------------------------------------------

    @contextmanager
    def _showing(self) -> Iterator[None]:
        """Sets controls to show the state without their change counting as the user's."""
        old, self._showing_state = self._showing_state, True
        try:
            yield
        finally:
            self._showing_state = old

    def _show_surface(self) -> None:
        """The start sliders over the surface's domain, its parameters as number boxes, and
        the step count."""
        s, c = self.state, self.controls
        (x0, x1), (y0, y1) = s.surface.domain
        with self._showing():
            for name, lo, hi, v in (("start_x", x0, x1, s.start[0]),
                                    ("start_y", y0, y1, s.start[1])):
                slider = c[name]
                slider.min, slider.max = min(lo, slider.min, v), max(hi, slider.max, v)
                slider.value = v
                slider.min, slider.max, slider.step = min(lo, v), max(hi, v), (hi - lo) / 400
            boxes = []
            for key, value in s.surface.params.items():
                box = widgets.FloatText(value=value, description=key, continuous_update=False,
                                        style=LABEL_STYLE,
                                        layout=widgets.Layout(width=CONTROL_WIDTH))
                self._bind(box, self._on_surface_params)
                boxes.append(box)
            c["surface_params"].children = boxes
            c["steps"].value = s.steps

    def _show_target(self) -> None:
        """The optimizers to edit, the edited one, and its hyperparameters."""
        with self._showing():
            target = self.controls["target"]
            target.options = list(self.state.settings)
            target.value = self.state.target
        self._show_hypers()

    def _show_hypers(self) -> None:
        """The edited optimizer's hyperparameters; a slider it does not take is disabled."""
        if self.state.target is None:
            return
        values = self.state.hypers()
        with self._showing():
            for hyper in HYPERPARAMETERS:
                control = self.controls[hyper]
                control.disabled = hyper not in values
                value = values.get(hyper)
                if value is not None:
                    control.value = value if hyper == "nesterov" else float(value)

    # ---- running and drawing --------------------------------------------------------------

    def specs(self) -> list[OptimizerSpec]:
        """The optimizers as currently set, in selection order."""
        return self.state.specs()

    @property
    def start(self) -> tuple[float, float]:
        """The start point ``(x, y)``."""
        return self.state.start

    def _refresh(self, cause: str, *, new_surface: bool = False) -> None:
        """Re-runs what changed and redraws; any bad input becomes a message in the UI."""
        t0 = time.perf_counter()
        try:
            fetch = self.state.fetch()
        except UsageError as e:
            self._error(str(e))
            return
        except (ValueError, RuntimeError, TypeError) as e:
            # torch's own error mid-run, e.g. a scheduler stepped past its total_steps
            log.debug("run failed", exc_info=True)
            self._error(f"torch stopped the run: {e}")
            return
        if fetch.run is None:
            self._error(*fetch.errors.values())
            return
        self.run = fetch.run
        step = self.controls["step"]
        at_end = self.figure is None or step.value >= step.max
        # each optimizer keeps its colour while others are switched on and off
        colors = self._colors.mapping([o["name"] for o in fetch.run.meta["optimizers"]])
        try:
            if self.figure is None or new_surface:
                self.figure = RunFigure(fetch.run, self.state.surface, figure=self.view.figure,
                                        theme=self._theme, colors=colors)
            else:
                self.figure.set_run(fetch.run, colors=colors)
            with self._showing():
                step.max = fetch.run.steps
                step.value = fetch.run.steps if at_end else min(step.value, fetch.run.steps)
            if self.figure.step != step.value:  # set_run kept the step where it could
                self.figure.set_step(step.value)
            self.view.redraw(self.figure)
        except UsageError as e:
            self._error(str(e))
            return
        self._show_status(fetch.run, fetch.errors)
        self._time(cause, fetch.computed, fetch.engine_s, time.perf_counter() - t0)

    def _prefetch_notches(self) -> None:
        """Starts the background runs of the edited optimizer up to `NOTCH_REACH` notches
        below and above on the slider moved last (the learning rate's until another
        moves), nearest first, the way it moved last first at each distance. Only
        trajviz's own code runs unasked: never a user's surface function or optimizer
        class (their side effects, their threads)."""
        s = self.state
        if self.prefetcher is None or s.target is None or ":" in s.target:
            return
        if getattr(s.surface.fn, "__module__", "").partition(".")[0] != "surfaces":
            return
        hypers = s.hypers()
        hyper = self._notch_hyper if hypers.get(self._notch_hyper) is not None else "lr"
        if hypers.get(hyper) is None:  # an optimizer without a learning rate
            return
        try:
            scheduler = s.scheduler_spec()
        except UsageError:  # shown by the last refresh; nothing to prefetch
            return
        values = slider_notches(self.controls[hyper], NOTCH_REACH,
                                up_first=hyper == self._notch_hyper and self._notch_up)
        self.prefetcher.start(s.surface, [s.spec_with(hyper, v) for v in values],
                              starts=np.array([s.start]), steps=s.steps, scheduler=scheduler)

    def wait_for_prefetch(self) -> None:
        """Waits until the background runs are in the cache (tests, benchmarks)."""
        if self.prefetcher is not None:
            self.prefetcher.join()

    def _time(self, cause: str, rerun: int, engine_s: float, total_s: float) -> None:
        timing = Timing(cause, rerun, len(self.state.settings),
                        self.run.steps if self.run else 0, engine_s, self.view.draw_s, total_s)
        self.timings.append(timing)
        self.controls["timing"].value = f"<small>{html.escape(str(timing))}</small>"
        log.debug("%s", timing)

    def _error(self, *messages: str) -> None:
        self.controls["status"].value = error_html(*messages)

    def _show_status(self, run: Run, errors: dict[str, str]) -> None:
        diverged = [f"{html.escape(label)} diverged at step {at}"
                    for label, at in zip(run.labels, run.diverged_at, strict=True) if at >= 0]
        parts = []
        if diverged:
            parts.append("<span class='tv-diverged' style='color:#a05a00'>"
                         + "; ".join(diverged) + "</span>")
        if errors:
            parts.append(error_html(*errors.values()))
        self.controls["status"].value = "<br>".join(parts)

    def export_gif(self, path: str | os.PathLike[str] | None = None, *, frames: int = 100,
                   fps: int = 20) -> Path | None:
        """Writes the current view as a GIF through `trajviz.plot.save` (the CLI's writer)
        and shows its path; returns it, or ``None`` after showing why it failed."""
        if self.figure is None:
            self._error("nothing to export: no valid run yet")
            return None
        return write_gif(self.view, self.figure, path, self.controls, fps=fps,
                         frames=min(frames, self.figure.run.steps + 1))


def explore(surface: str | Surface = "rosenbrock",
            optimizers: Sequence[str] | str = SEED_OPTIMIZERS, **options: Any) -> Explorer:
    """Sliders over live runs: pick a surface and optimizers, move hyperparameters and the
    start, scrub through the steps, export a GIF.

    Args:
        surface: a surface name or spec (``"quadratic:kappa=50"``) or a `Surface`.
        optimizers: optimizer specs (``"adam:lr=0.05"``), each name at most once; seed
            optimizers without an ``lr`` get the surface's teaching learning rate.
        **options: ``steps``, ``start`` (x, y), ``scheduler`` (a spec), ``backend``
            (``auto``: ``ipympl`` when ``%matplotlib widget`` is on, else ``image``),
            ``device``, ``dtype``, ``size``, ``dpi``, ``theme``, and ``prefetch``
            (default ``True``): while idle, run the edited optimizer one slider notch
            below and above in a background thread, so that moving the slider by a notch
            (an arrow key, a short drag) only draws. The thread stops within one optimizer
            step when the user changes anything or runs a cell; ``False`` switches it off.

    Returns:
        An `Explorer` (an ``ipywidgets.VBox``); display it as a cell's last value.

    Example:
        >>> ui = explore("rosenbrock", ["sgd", "adam"])     # doctest: +SKIP
        >>> ui.controls["lr"].value = 0.02                    # re-runs sgd only
    """
    return Explorer(surface, optimizers, **options)
