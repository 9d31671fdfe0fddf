"""Friendly names and spec strings for every ``torch.optim`` optimizer and LR scheduler.

The name tables are derived from the installed torch, so a new torch optimizer appears
here by itself; only the teaching presets (``momentum``, ``nesterov``) are written down.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from surfaces import closest

from .errors import UsageError
from .specs import format_kwargs, parse_spec, split_specs


def _classes(module: object, base: type) -> dict[str, type]:
    return {
        name.lower(): obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base
        and not name.startswith("_")
    }


OPTIMIZERS: dict[str, type[Optimizer]] = _classes(torch.optim, Optimizer)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
}
SCHEDULERS: dict[str, type] = {
    **_classes(torch.optim.lr_scheduler, LRScheduler),
    "reducelronplateau": ReduceLROnPlateau,
}
SCHEDULERS.pop("lrscheduler", None)

# Update rules in which each element's step depends only on that element's own gradient
# history (and the step count). Trajectories of these share one tensor; any other optimizer
# (LBFGS's line search, Adafactor's RMS scaling, a user's class) gets one instance per
# trajectory. `tests/test_engine.py` checks both paths against a plain loop.
ELEMENTWISE: frozenset[type[Optimizer]] = frozenset(
    OPTIMIZERS[n] for n in ("sgd", "adam", "adamw", "adamax", "nadam", "radam", "adagrad",
                            "adadelta", "rmsprop", "rprop", "asgd") if n in OPTIMIZERS
)
SEED_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adagrad", "adadelta", "adamax",
                   "rmsprop")


def optimizer_names() -> list[str]:
    return sorted({*OPTIMIZERS, *PRESETS})


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer class with its hyperparameters, as ``adam:lr=0.05`` names it."""

    name: str
    cls: type[Optimizer]
    kwargs: dict[str, Any] = field(default_factory=dict)
    preset: dict[str, Any] = field(default_factory=dict)

    @property
    def all_kwargs(self) -> dict[str, Any]:
        return {**self.preset, **self.kwargs}

    @property
    def spec(self) -> str:
        return f"{self.name}:{format_kwargs(self.kwargs)}" if self.kwargs else self.name

    @property
    def label(self) -> str:
        return f"{self.name}({format_kwargs(self.kwargs)})" if self.kwargs else self.name

    @property
    def elementwise(self) -> bool:
        return self.cls in ELEMENTWISE

    @property
    def needs_closure(self) -> bool:
        closure = inspect.signature(self.cls.step).parameters.get("closure")
        return closure is not None and closure.default is inspect.Parameter.empty

    def with_kwargs(self, **kwargs: Any) -> OptimizerSpec:
        return OptimizerSpec(self.name, self.cls, {**self.kwargs, **kwargs}, self.preset)

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild it: for the run file's metadata."""
        return {"name": self.name, "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
                "kwargs": self.all_kwargs, "label": self.label}

    def build(self, params: Iterable[Any]) -> Optimizer:
        """``cls(params, **kwargs)``, with torch's own message for a bad hyperparameter."""
        try:
            return self.cls(params, **self.all_kwargs)
        except (ValueError, TypeError, RuntimeError) as e:
            raise UsageError(f"{self.label}: {e}") from None

    def validate(self) -> None:
        """Builds it on a 2-parameter point and takes one step, so an optimizer that cannot
        work on two parameters, or a bad hyperparameter, fails here with torch's reason."""
        p = torch.zeros(2, requires_grad=True)
        opt = self.build([p])

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = (p - 1).square().sum()
            loss.backward()
            return loss

        try:
            opt.step(closure)
        except (ValueError, TypeError, RuntimeError) as e:
            raise UsageError(f"{self.label} cannot optimize a 2-parameter point: {e}") from None


def parse_optimizer(text: str) -> OptimizerSpec:
    """``adam``, ``adam:lr=0.05,betas=(0.9,0.99)``, ``momentum:lr=0.01`` or
    ``package.module:ClassName:lr=0.1`` for any ``torch.optim.Optimizer`` subclass."""
    spec = parse_spec(text)
    key = spec.name.lower()
    if key in PRESETS:
        base, preset = PRESETS[key]
        return OptimizerSpec(key, OPTIMIZERS[base], spec.kwargs, preset)
    if key in OPTIMIZERS:
        return OptimizerSpec(key, OPTIMIZERS[key], spec.kwargs)
    if ":" in spec.name:
        return OptimizerSpec(spec.name, _import_class(spec.name, Optimizer), spec.kwargs)
    raise UsageError(f"unknown optimizer {spec.name!r}{closest(key, optimizer_names())}; "
                     f"valid optimizers: {', '.join(optimizer_names())}, or package.module:Class")


def parse_optimizers(text: str | Iterable[str]) -> list[OptimizerSpec]:
    """A comma-separated list (see `split_specs`) or an iterable of single specs."""
    items = split_specs(text) if isinstance(text, str) else list(text)
    specs = [s if isinstance(s, OptimizerSpec) else parse_optimizer(s) for s in items]
    for spec in specs:
        spec.validate()
    return specs


@dataclass(frozen=True)
class SchedulerSpec:
    """An ``torch.optim.lr_scheduler`` class with its arguments: ``steplr:step_size=50``."""

    name: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}({format_kwargs(self.kwargs)})"

    @property
    def needs_metric(self) -> bool:
        return issubclass(self.cls, ReduceLROnPlateau)

    def build(self, optimizer: Optimizer) -> Any:
        try:
            return self.cls(optimizer, **self.kwargs)
        except (ValueError, TypeError) as e:
            raise UsageError(f"scheduler {self.label}: {e}") from None


def parse_scheduler(text: str) -> SchedulerSpec:
    spec = parse_spec(text)
    key = spec.name.lower()
    if key in SCHEDULERS:
        cls = SCHEDULERS[key]
    elif ":" in spec.name:
        cls = _import_class(spec.name, object)
    else:
        names = sorted(SCHEDULERS)
        raise UsageError(f"unknown scheduler {spec.name!r}{closest(key, names)}; "
                         f"valid schedulers: {', '.join(names)}")
    scheduler = SchedulerSpec(key, cls, spec.kwargs)
    scheduler.build(torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1))
    return scheduler


def _import_class(path: str, base: type) -> type:
    module_name, _, attr = path.rpartition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot import {path!r}: {e}") from None
    if not (inspect.isclass(obj) and issubclass(obj, base)):
        raise UsageError(f"{path!r} is not a {base.__module__}.{base.__qualname__} subclass")
    return obj
