"""The explorer's model, apart from any widget: the surface, each optimizer's settings, the
start, the step count and the scheduler, with one method per kind of change, and `fetch`,
which runs what a change touched (through `RunCache`).

The widget layer (`Explorer`) only copies a control's new value in here and shows the state
back; this object can be driven and tested without ipywidgets, as mpl-interactions'
``Controls`` keeps its values apart from its sliders.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

import surfaces
from surfaces import Surface

from .._resolve import resolve_surface
from .._specs import split_specs
from ..errors import UsageError
from ..optimizers import (
    OptimizerSpec,
    SchedulerSpec,
    constructor_defaults,
    parse_optimizer,
    parse_scheduler,
    replace_entry,
)
from ..teaching import teaching
from ._cache import Fetch, RunCache

# each hyperparameter the explorer edits -> (the constructor argument it sets, its entry in
# a tuple argument or None)
HYPERPARAMETERS: dict[str, tuple[str, int | None]] = {
    "lr": ("lr", None), "momentum": ("momentum", None), "nesterov": ("nesterov", None),
    "beta1": ("betas", 0), "beta2": ("betas", 1), "weight_decay": ("weight_decay", None)}


def round_setting(value: float) -> float:
    """Three significant figures: readable labels and stable cache keys for slider values."""
    return float(f"{value:.3g}")


def _defaults(spec: OptimizerSpec) -> dict[str, Any]:
    """The constructor's defaults with the preset and the spec's kwargs on top."""
    defaults = {k: v for k, v in constructor_defaults(spec.cls).items()
                if v is not inspect.Parameter.empty}
    return {**defaults, **spec.all_kwargs}


class ExplorerState:
    """What the explorer shows, as plain values.

    Attributes:
        surface: the `Surface` the optimizers run on.
        settings: each shown optimizer's hyperparameters by name, in selection order (what
            its spec sets on top of its preset).
        target: the optimizer whose hyperparameters are edited (``None`` with none shown).
        start: the start point ``(x, y)``.
        steps: how many steps to run.
        scheduler: the learning-rate scheduler's spec text (empty or ``none``: none).
        own: the user's own surfaces (not in the registry) by name.
        runs: the run cache behind `fetch`.
    """

    def __init__(self, surface: str | Surface, optimizers: Sequence[str | OptimizerSpec] | str,
                 *, steps: int | None = None, start: Sequence[float] | None = None,
                 scheduler: str | None = None, device: str = "auto",
                 dtype: str = "float32") -> None:
        self.surface = resolve_surface(surface)
        self._known: dict[str, Surface] = {self.surface.spec: self.surface}
        self.own = {} if self.surface.name in surfaces.names() else {
            self.surface.name: self.surface}
        self._presets: dict[str, OptimizerSpec] = {}  # each name parsed once, kwargs apart
        self.settings: dict[str, dict[str, Any]] = {}
        for item in split_specs(optimizers) if isinstance(optimizers, str) else optimizers:
            spec = parse_optimizer(item) if isinstance(item, str) else item
            if spec.name in self.settings:
                raise UsageError(f"explore takes each optimizer once; {spec.name!r} is repeated")
            self._presets[spec.name] = replace(spec, kwargs={})
            self.settings[spec.name] = dict(spec.kwargs)
        lrs = teaching(self.surface).lr
        for name, kwargs in self.settings.items():
            if name in lrs:
                kwargs.setdefault("lr", lrs[name])
        self.target = next(iter(self.settings), None)
        self.start = tuple(self.surface.start if start is None else start)
        self.steps = steps or teaching(self.surface).steps
        self.scheduler = scheduler or ""
        self._parsed_scheduler: tuple[str, SchedulerSpec | None] | None = None
        self.runs = RunCache(device=device, dtype=dtype)

    # ---- changes --------------------------------------------------------------------------

    def choose_surface(self, name: str) -> None:
        """Switches to surface ``name`` at its default parameters, with its start, its
        teaching step count and learning rates (for every optimizer that has one)."""
        self.surface = self._resolve(name, {})
        self.start = self.surface.start
        self.steps = teaching(self.surface).steps
        lrs = teaching(self.surface).lr
        for optimizer, kwargs in self.settings.items():
            if optimizer in lrs:
                kwargs["lr"] = lrs[optimizer]

    def set_surface_params(self, params: dict[str, float]) -> None:
        """The same surface with new parameters (``{"kappa": 50.0}``); start and steps stay.
        A bad value raises `UsageError` and changes nothing."""
        self.surface = self._resolve(self.surface.name, params)

    def set_optimizers(self, names: Sequence[str]) -> None:
        """Shows ``names``: each keeps its settings while shown; a new one starts at the
        surface's teaching learning rate. The edited one stays if still shown."""
        lrs = teaching(self.surface).lr
        for name in names:
            if name not in self._presets:
                self._presets[name] = parse_optimizer(name)
        self.settings = {n: self.settings.get(n, {"lr": lrs[n]} if n in lrs else {})
                         for n in names}
        if self.target not in self.settings:
            self.target = names[0] if names else None

    def set_hyper(self, hyper: str, value: Any) -> None:
        """Sets hyperparameter ``hyper`` (a key of `HYPERPARAMETERS`) of the `target` to a
        slider's ``value`` (numbers rounded to three significant figures). Back at the
        preset's or torch's default it is dropped, so the label does not name it; ``lr``
        always stays."""
        self.settings[self._edited()] = self._kwargs_with(hyper, value)

    def spec_with(self, hyper: str, value: Any) -> OptimizerSpec:
        """The `target`'s spec as `set_hyper` would make it, the state left as it is: the
        run it keys in the cache is the one that change shows."""
        return self._presets[self._edited()].with_kwargs(**self._kwargs_with(hyper, value))

    def _edited(self) -> str:
        if self.target is None:
            raise UsageError("no optimizer selected: pick one or more in the list")
        return self.target

    def _kwargs_with(self, hyper: str, value: Any) -> dict[str, Any]:
        """The `target`'s settings with ``hyper`` at ``value`` (see `set_hyper`)."""
        name = self._edited()
        arg, index = HYPERPARAMETERS[hyper]
        if not isinstance(value, bool):
            value = round_setting(value)
        if index is not None:
            value = replace_entry(_defaults(self._spec(name))[arg], index, value)
        kwargs = dict(self.settings[name])
        if arg != "lr" and _defaults(self._presets[name]).get(arg) == value:
            kwargs.pop(arg, None)
        else:
            kwargs[arg] = value
        return kwargs

    # ---- reading --------------------------------------------------------------------------

    def hypers(self) -> dict[str, Any]:
        """The `target`'s value of every hyperparameter of `HYPERPARAMETERS` it takes (an
        entry for a tuple argument; ``None`` where its default is ``None``)."""
        if self.target is None:
            return {}
        values = _defaults(self._spec(self.target))
        shown = {}
        for hyper, (arg, index) in HYPERPARAMETERS.items():
            if arg in values:
                shown[hyper] = values[arg] if index is None else values[arg][index]
        return shown

    def specs(self) -> list[OptimizerSpec]:
        """The optimizers as currently set, in selection order."""
        return [self._spec(name) for name in self.settings]

    def scheduler_spec(self) -> SchedulerSpec | None:
        """`scheduler` parsed (once per text); a bad spec raises `UsageError`."""
        text = self.scheduler.strip()
        if self._parsed_scheduler is None or self._parsed_scheduler[0] != text:
            spec = parse_scheduler(text) if text and text.lower() != "none" else None
            self._parsed_scheduler = (text, spec)
        return self._parsed_scheduler[1]

    def fetch(self) -> Fetch:
        """The run of the current state, re-running only the optimizers whose run is not
        cached (`RunCache.get`). Bad input raises `UsageError`; torch's own error mid-run
        (a scheduler stepped past its ``total_steps``) comes through as torch raised it."""
        specs = self.specs()
        if not specs:
            raise UsageError("no optimizer selected: pick one or more in the list")
        return self.runs.get(self.surface, specs, starts=np.array([self.start]),
                             steps=self.steps, scheduler=self.scheduler_spec())

    def _spec(self, name: str) -> OptimizerSpec:
        return self._presets[name].with_kwargs(**self.settings[name])

    def _resolve(self, name: str, params: dict[str, float]) -> Surface:
        """Surface ``name`` with ``params``; each one made is kept, so a surface shown again
        is the same object and its runs come from the cache."""
        spec = name + (":" + ",".join(f"{k}={v!r}" for k, v in params.items()) if params else "")
        surface = self.own.get(name) or self._known.get(spec) or resolve_surface(spec)
        self._known[spec] = self._known[surface.spec] = surface
        return surface
