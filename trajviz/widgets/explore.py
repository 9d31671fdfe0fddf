"""`explore()`: sliders over live runs of real ``torch.optim`` optimizers on a surface.

Every control change re-runs only what it touched (see `RunCache`): moving one optimizer's
learning rate re-runs that optimizer alone, a shorter step count is a slice of the cached
run, and the figure's artists are updated in place (`RunFigure.set_run`), never rebuilt,
except that a new surface redraws its contours into the same figure.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backend_bases import MouseEvent

import surfaces
from surfaces import Surface

from ..errors import UsageError
from ..optimizers import (
    SEED_OPTIMIZERS,
    OptimizerSpec,
    SchedulerSpec,
    optimizer_names,
    parse_optimizer,
    parse_scheduler,
)
from ..plot import RunFigure, get_theme
from ..resolve import resolve_surface
from ..run import Run
from ..specs import split_specs
from ..teaching import teaching
from ._cache import RunCache
from ._view import ColorSlots, FigureView

log = logging.getLogger(__name__)

SCHEDULER_EXAMPLES = ("steplr:step_size=100,gamma=0.5", "exponentiallr:gamma=0.99",
                      "cosineannealinglr:T_max=500", "onecyclelr:max_lr=0.1,total_steps=2001",
                      "reducelronplateau:factor=0.5,patience=10")
# slider -> the optimizer constructor argument it sets
HYPER = {"lr": "lr", "momentum": "momentum", "nesterov": "nesterov", "beta1": "betas",
         "beta2": "betas", "weight_decay": "weight_decay"}


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


def _hyper_defaults(spec: OptimizerSpec) -> dict[str, Any]:
    """The constructor's defaults with the preset and the spec's kwargs on top."""
    params = inspect.signature(spec.cls.__init__).parameters
    defaults = {k: p.default for k, p in params.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **spec.all_kwargs}


def _round(value: float) -> float:
    """Three significant figures: readable labels and stable cache keys for slider values."""
    return float(f"{value:.3g}")


class Explorer(widgets.VBox):
    """The explorer UI (an ``ipywidgets.VBox``); see `explore`.

    Attributes:
        run: the `Run` on display (``None`` until a valid combination ran).
        figure: its `RunFigure`.
        timings: every refresh's `Timing`, newest last.
        controls: the control widgets by name (``lr``, ``momentum``, ``steps``, ``step``...).
    """

    def __init__(self, surface: str | Surface = "rosenbrock",
                 optimizers: Sequence[str] | str = SEED_OPTIMIZERS, *,
                 steps: int | None = None, start: Sequence[float] | None = None,
                 scheduler: str | None = None, backend: str = "auto", device: str = "auto",
                 dtype: str = "float32", size: tuple[float, float] = (9.0, 6.0),
                 dpi: int = 80, theme: str = "light") -> None:
        self._surface = resolve_surface(surface)
        names = split_specs(optimizers) if isinstance(optimizers, str) else list(optimizers)
        self._kwargs: dict[str, dict[str, Any]] = {}
        for text in names:
            spec = parse_optimizer(text) if isinstance(text, str) else text
            if spec.name in self._kwargs:
                raise UsageError(f"explore takes each optimizer once; {spec.name!r} is repeated")
            self._kwargs[spec.name] = dict(spec.kwargs)
        self._user_lr = {n for n, kw in self._kwargs.items() if "lr" in kw}
        self._cache = RunCache(device=device, dtype=dtype)
        self._surfaces: dict[str, Surface] = {self._surface.spec: self._surface}
        # a surface of the user's own (not in the registry) is offered by its name
        self._own = {} if self._surface.name in surfaces.names() else {
            self._surface.name: self._surface}
        self._colors = ColorSlots(list(self._kwargs))
        self._theme = get_theme(theme)  # a bad name fails here, not in the first refresh
        self._loading = False
        self.run: Run | None = None
        self.figure: RunFigure | None = None
        self.timings: list[Timing] = []
        self.view = FigureView(size=size, dpi=dpi, backend=backend)
        self.view.on_click(self._clicked)
        self.controls = self._build_controls(steps, scheduler)
        self._set_surface_controls(self._surface, start)
        self._load_target()
        super().__init__(self._layout())
        self.add_class("tv-explorer")
        self._refresh("start")

    # ---- building -------------------------------------------------------------------------

    def _build_controls(self, steps: int | None, scheduler: str | None) -> dict[str, Any]:
        w = widgets
        style = {"description_width": "92px"}
        wide = w.Layout(width="330px")
        lazy = dict(continuous_update=False, style=style, layout=wide)
        extra = [n for n in self._kwargs if n not in usable_optimizers()]
        c: dict[str, Any] = {
            "surface": w.Dropdown(options=[*surfaces.names(), *self._own],
                                  value=self._surface.name,
                                  description="surface", style=style, layout=wide),
            "surface_params": w.VBox([]),
            "optimizers": w.SelectMultiple(options=[*usable_optimizers(), *extra],
                                           value=tuple(self._kwargs), rows=7,
                                           description="optimizers", style=style, layout=wide),
            "target": w.Dropdown(options=list(self._kwargs), description="edit",
                                 style=style, layout=wide),
            "lr": w.FloatLogSlider(value=1e-3, base=10, min=-6, max=2, step=0.05,
                                   description="learning rate", readout_format=".3g", **lazy),
            "momentum": w.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01,
                                      description="momentum", **lazy),
            "nesterov": w.Checkbox(value=False, description="Nesterov", style=style,
                                   layout=wide, indent=True),
            "beta1": w.FloatSlider(value=0.9, min=0.0, max=0.999, step=0.001,
                                   description="beta1", readout_format=".3f", **lazy),
            "beta2": w.FloatSlider(value=0.999, min=0.9, max=0.9999, step=0.0001,
                                   description="beta2", readout_format=".4f", **lazy),
            "weight_decay": w.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.005,
                                          description="weight decay", readout_format=".3f",
                                          **lazy),
            "steps": w.IntSlider(value=steps or teaching(self._surface).steps, min=5, max=2000,
                                 step=5, description="steps", **lazy),
            "start_x": w.FloatSlider(description="start x", readout_format=".3f", **lazy),
            "start_y": w.FloatSlider(description="start y", readout_format=".3f", **lazy),
            "scheduler": w.Combobox(value=scheduler or "", options=list(SCHEDULER_EXAMPLES),
                                    placeholder="no LR scheduler", description="scheduler",
                                    ensure_option=False, continuous_update=False, style=style,
                                    layout=wide),
            "play": w.Play(interval=40, step=1, description="play"),
            "step": w.IntSlider(value=0, min=0, max=1, description="step",
                                continuous_update=True, layout=w.Layout(width="520px")),
            "gif_path": w.Text(value="trajviz-explorer.gif", description="GIF file",
                               style=style, layout=wide),
            "export": w.Button(description="Export GIF", icon="film"),
            "status": w.HTML(),
            "timing": w.HTML(),
        }
        for name, widget in c.items():
            widget.add_class(f"tv-{name.replace('_', '-')}")
        # Linked in the kernel, not with jslink: a front-end link echoes every value back
        # and can overwrite a later one the kernel set.
        w.link((c["play"], "value"), (c["step"], "value"))
        w.link((c["play"], "max"), (c["step"], "max"))
        c["surface"].observe(self._on_surface, "value")
        c["optimizers"].observe(self._on_optimizers, "value")
        c["target"].observe(lambda _: self._load_target(), "value")
        for name in HYPER:
            c[name].observe(functools.partial(self._on_hyper, name), "value")
        for name in ("steps", "start_x", "start_y", "scheduler"):
            c[name].observe(lambda ch, name=name: self._on_change(name), "value")
        c["step"].observe(self._on_step, "value")
        c["export"].on_click(lambda _: self.export_gif())
        return c

    def _layout(self) -> list[widgets.Widget]:
        c, w = self.controls, widgets
        side = w.VBox([c["surface"], c["surface_params"], c["optimizers"], c["target"],
                       c["lr"], c["momentum"], c["nesterov"], c["beta1"], c["beta2"],
                       c["weight_decay"], c["steps"], c["start_x"], c["start_y"],
                       c["scheduler"], w.HBox([c["export"]]), c["gif_path"]],
                      layout=w.Layout(width="350px", min_width="350px"))
        return [w.HBox([side, self.view.widget], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([c["play"], c["step"]]), c["status"], c["timing"]]

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Sets controls without each change triggering a re-run."""
        old, self._loading = self._loading, True
        try:
            yield
        finally:
            self._loading = old

    def _set_surface_controls(self, surface: Surface, start: Sequence[float] | None) -> None:
        """Start sliders over the surface's domain, its parameters as number boxes, and the
        surface's teaching learning rates for every optimizer the user gave none."""
        (x0, x1), (y0, y1) = surface.domain
        sx, sy = surface.start if start is None else start
        with self._quiet():
            for name, lo, hi, v in (("start_x", x0, x1, sx), ("start_y", y0, y1, sy)):
                s = self.controls[name]
                s.min, s.max = min(lo, s.min, v), max(hi, s.max, v)
                s.value = v
                s.min, s.max, s.step = min(lo, v), max(hi, v), (hi - lo) / 400
            boxes = []
            for key, value in surface.params.items():
                box = widgets.FloatText(value=value, description=key, continuous_update=False,
                                        style={"description_width": "92px"},
                                        layout=widgets.Layout(width="330px"))
                box.observe(lambda _: self._on_surface(None), "value")
                boxes.append(box)
            self.controls["surface_params"].children = boxes
            lrs = teaching(surface).lr
            for name, kw in self._kwargs.items():
                if name in lrs and name not in self._user_lr:
                    kw["lr"] = lrs[name]

    # ---- control callbacks ----------------------------------------------------------------

    def _on_surface(self, change: Any) -> None:
        if self._loading:
            return
        name = self.controls["surface"].value
        if change is not None:  # a new surface: fresh parameters and start
            with self._quiet():
                self.controls["surface_params"].children = []
        params = {b.description: b.value for b in self.controls["surface_params"].children}
        spec = name + (":" + ",".join(f"{k}={v!r}" for k, v in params.items()) if params else "")
        try:
            surface = (self._own.get(name) or self._surfaces.get(spec)
                       or resolve_surface(spec))
        except UsageError as e:
            self._error(str(e))
            return
        self._surfaces[spec] = self._surfaces[surface.spec] = surface
        self._surface = surface
        if change is not None:
            self._user_lr.clear()
            self._set_surface_controls(surface, None)
            with self._quiet():
                self.controls["steps"].value = teaching(surface).steps
            self._load_target()
        self._refresh("surface", new_surface=True)

    def _on_optimizers(self, change: Any) -> None:
        if self._loading:
            return
        chosen = list(change["new"])
        lrs = teaching(self._surface).lr
        self._kwargs = {n: self._kwargs.get(n, {"lr": lrs[n]} if n in lrs else {})
                        for n in chosen}
        with self._quiet():
            target = self.controls["target"]
            keep = target.value if target.value in chosen else (chosen[0] if chosen else None)
            target.options = chosen
            target.value = keep
        self._load_target()
        self._refresh("optimizers")

    def _load_target(self) -> None:
        """Shows the edited optimizer's hyperparameters; disables what it does not take."""
        name = self.controls["target"].value
        if name is None:
            return
        spec = parse_optimizer(name).with_kwargs(**self._kwargs[name])
        values = _hyper_defaults(spec)
        with self._quiet():
            for slider, arg in HYPER.items():
                c = self.controls[slider]
                c.disabled = arg not in values
                if c.disabled:
                    continue
                value = values[arg]
                if slider in ("beta1", "beta2"):
                    value = value[0 if slider == "beta1" else 1]
                if slider != "nesterov":
                    value = float(value) if value is not None else c.value
                c.value = value

    def _on_hyper(self, slider: str, change: Any) -> None:
        if self._loading:
            return
        name = self.controls["target"].value
        if name is None:
            return
        arg = HYPER[slider]
        value = change["new"] if slider == "nesterov" else _round(change["new"])
        kw = self._kwargs[name]
        if arg == "betas":
            spec = parse_optimizer(name).with_kwargs(**kw)
            b1, b2 = _hyper_defaults(spec)["betas"]
            value = (value, b2) if slider == "beta1" else (b1, value)
        if arg != "lr" and _hyper_defaults(parse_optimizer(name)).get(arg) == value:
            kw.pop(arg, None)  # back at the default: the label need not name it
        else:
            kw[arg] = value
        if arg == "lr":
            self._user_lr.add(name)
        self._refresh(f"{name} {slider}")

    def _on_change(self, name: str) -> None:
        if not self._loading:
            self._refresh(name)

    def _on_step(self, change: Any) -> None:
        if self.figure is None or self._loading:
            return
        t0 = time.perf_counter()
        self.figure.set_step(change["new"])
        self.view.redraw(self.figure)
        self._time("step", 0, 0.0, time.perf_counter() - t0)

    def _clicked(self, event: MouseEvent) -> None:
        """A click on the surface (``ipympl`` only) moves the start there."""
        if self.figure is None or event.inaxes is not self.figure.main.ax:
            return
        with self._quiet():
            self.controls["start_x"].value = float(event.xdata)
            self.controls["start_y"].value = float(event.ydata)
        self._refresh("click")

    # ---- running and drawing --------------------------------------------------------------

    def specs(self) -> list[OptimizerSpec]:
        """The optimizers as currently set, in selection order."""
        return [parse_optimizer(n).with_kwargs(**kw) for n, kw in self._kwargs.items()]

    @property
    def start(self) -> tuple[float, float]:
        return self.controls["start_x"].value, self.controls["start_y"].value

    def _scheduler(self) -> SchedulerSpec | None:
        text = self.controls["scheduler"].value.strip()
        return parse_scheduler(text) if text and text.lower() != "none" else None

    def _refresh(self, cause: str, *, new_surface: bool = False) -> None:
        """Re-runs what changed and redraws; any bad input becomes a message in the UI."""
        t0 = time.perf_counter()
        try:
            specs = self.specs()
            if not specs:
                raise UsageError("no optimizer selected: pick one or more in the list")
            fetch = self._cache.get(self._surface, specs, starts=np.array([self.start]),
                                    steps=self.controls["steps"].value,
                                    scheduler=self._scheduler())
        except UsageError as e:
            self._error(str(e))
            return
        except (ValueError, RuntimeError, TypeError) as e:
            # torch's own error mid-run, e.g. a scheduler stepped past its total_steps
            log.debug("run failed", exc_info=True)
            self._error(f"torch stopped the run: {e}")
            return
        if fetch.run is None:
            self._error(self._messages(fetch.errors))
            return
        self.run = fetch.run
        step = self.controls["step"]
        at_end = self.figure is None or step.value >= step.max
        # each optimizer keeps its colour while others are switched on and off
        colors = self._colors.mapping([o["name"] for o in fetch.run.meta["optimizers"]])
        try:
            if self.figure is None or new_surface:
                self.figure = RunFigure(fetch.run, self._surface, figure=self.view.figure,
                                        theme=self._theme, colors=colors)
            else:
                self.figure.set_run(fetch.run, colors=colors)
            with self._quiet():
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

    def _time(self, cause: str, rerun: int, engine_s: float, total_s: float) -> None:
        timing = Timing(cause, rerun, len(self._kwargs), self.run.steps if self.run else 0,
                        engine_s, self.view.draw_s, total_s)
        self.timings.append(timing)
        self.controls["timing"].value = f"<small>{html.escape(str(timing))}</small>"
        log.debug("%s", timing)

    @staticmethod
    def _messages(errors: dict[str, str]) -> str:
        return "<br>".join(html.escape(m) for m in errors.values())

    def _error(self, message: str) -> None:
        self.controls["status"].value = (f"<span class='tv-error' style='color:#b00020'>"
                                         f"{html.escape(message)}</span>")

    def _show_status(self, run: Run, errors: dict[str, str]) -> None:
        parts = []
        for label, at in zip(run.labels, run.diverged_at, strict=True):
            if at >= 0:
                parts.append(f"{html.escape(label)} diverged at step {at}")
        text = ("<span class='tv-diverged' style='color:#a05a00'>" + "; ".join(parts)
                + "</span>") if parts else ""
        if errors:
            text += ("<br>" if text else "") + (f"<span class='tv-error' style='color:#b00020'>"
                                                f"{self._messages(errors)}</span>")
        self.controls["status"].value = text

    def export_gif(self, path: str | os.PathLike[str] | None = None, *, frames: int = 100,
                   fps: int = 20) -> Path | None:
        """Writes the current view as a GIF through `trajviz.plot.save` (the CLI's writer)
        and shows its path; returns it, or ``None`` after showing why it failed."""
        if self.figure is None:
            self._error("nothing to export: no valid run yet")
            return None
        target = Path(path if path is not None else self.controls["gif_path"].value).resolve()
        try:
            written = self.view.export(self.figure, target, fps=fps,
                                       frames=min(frames, self.figure.run.steps + 1))
        except UsageError as e:
            self._error(str(e))
            return None
        self.controls["status"].value = f"wrote <code>{html.escape(str(written))}</code>"
        return written


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
            ``device``, ``dtype``, ``size``, ``dpi``, ``theme``.

    Returns:
        An `Explorer` (an ``ipywidgets.VBox``); display it as a cell's last value.

    Example:
        >>> ui = explore("rosenbrock", ["sgd", "adam"])     # doctest: +SKIP
        >>> ui.controls["lr"].value = 0.02                    # re-runs sgd only
    """
    return Explorer(surface, optimizers, **options)
