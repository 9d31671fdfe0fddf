"""Friendly names and spec strings for every ``torch.optim`` optimizer and LR scheduler.

The name tables are derived from the installed torch, so a new torch optimizer appears
here by itself; only the teaching presets (``momentum``, ``nesterov``) are written down.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from surfaces import closest

from ._resolve import import_object
from ._specs import format_kwargs, parse_spec, split_specs
from .checks import check_memory, shown
from .errors import UsageError, UsageTypeError, UserCodeError, guard_method, user_code


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

    @property
    def user_code(self) -> bool:
        """Whether the class is the user's own (given by import path)."""
        return ":" in self.name

    @functools.cached_property
    def _checked_kwargs(self) -> bool:
        check_kwargs(self.cls, self.all_kwargs, self.label)
        return True

    def build(self, params: Iterable[Any]) -> Optimizer:
        """``cls(params, **kwargs)``, with torch's own message for a bad hyperparameter.

        A user's class is built with its ``step`` guarded: an exception inside it becomes a
        `UserCodeError` naming the class, wherever it is stepped."""
        self._checked_kwargs  # noqa: B018 (checked once per spec)
        with _blame(self.user_code, "optimizer", self.name, self.label):
            opt = self.cls(params, **self.all_kwargs)
        if self.user_code:
            guard_method(opt, "step", "optimizer", self.name)
        return opt

    def state_bytes(self) -> float:
        """Memory one instance's state takes beyond the size of its parameters: what a
        hyperparameter sizes (LBFGS keeps a list of ``history_size`` entries)."""
        size = _STATE_SIZE.get(self.cls)
        if size is None:
            return 0.0
        key, default, per_entry = size
        value = self.all_kwargs.get(key, default)
        return float(value) * per_entry if _is_number(value) else 0.0

    def validate(self) -> None:
        """Builds it on a 2-parameter point (float64: a value that overflows float32 is
        still a run's to try) and takes two steps, so an optimizer that cannot work on two
        parameters, or a bad hyperparameter (one torch checks only when stepping), fails
        here with torch's reason."""
        check_memory(f"{self.label}'s state", self.state_bytes())
        p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        opt = self.build([p])

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = (p - 1).square().sum()
            loss.backward()
            return loss

        with _blame(self.user_code, "optimizer", self.name,
                    f"{self.label} cannot optimize a 2-parameter point"):
            opt.step(closure)
            opt.step(closure)


# Hyperparameters that size an optimizer's state: class -> (name, torch's default, bytes
# per unit). LBFGS allocates ``[None] * history_size`` on its first step, 8 bytes an entry.
_STATE_SIZE: dict[type, tuple[str, float, float]] = {torch.optim.LBFGS: ("history_size", 100, 8)}


def parse_optimizer(text: str, *, imports: bool = True) -> OptimizerSpec:
    """``adam``, ``adam:lr=0.05,betas=(0.9,0.99)``, ``momentum:lr=0.01`` or
    ``package.module:ClassName:lr=0.1`` for any ``torch.optim.Optimizer`` subclass
    (importing it runs that module's code). ``imports=False`` (a name read from a file)
    accepts the built-in names only."""
    if not isinstance(text, str):
        raise UsageTypeError(f"an optimizer spec must be a string such as 'adam:lr=0.05', "
                             f"got {type(text).__name__} {shown(text)}")
    spec = parse_spec(text)
    key = spec.name.lower()
    if key in PRESETS:
        base, preset = PRESETS[key]
        return OptimizerSpec(key, OPTIMIZERS[base], spec.kwargs, preset)
    if key in OPTIMIZERS:
        return OptimizerSpec(key, OPTIMIZERS[key], spec.kwargs)
    if ":" in spec.name and imports:
        return OptimizerSpec(spec.name, import_object(spec.name, "optimizer", base=Optimizer),
                             spec.kwargs)
    raise UsageError(f"unknown optimizer {spec.name!r}{closest(key, optimizer_names())}; "
                     f"valid optimizers: {', '.join(optimizer_names())}"
                     + (", or package.module:Class" if imports else ""))


def parse_optimizers(text: str | Iterable[str | OptimizerSpec]) -> list[OptimizerSpec]:
    """A comma-separated list (see `split_specs`) or an iterable of single specs; at least
    one, each validated (`OptimizerSpec.validate`)."""
    if isinstance(text, str):
        items: list[Any] = split_specs(text)
    elif isinstance(text, OptimizerSpec):
        items = [text]
    elif isinstance(text, Iterable):
        items = list(text)
    else:
        raise UsageTypeError(f"optimizers must be a spec string such as 'sgd,adam:lr=0.05' "
                             f"or a list of specs, got {type(text).__name__} {shown(text)}")
    if not items:
        raise UsageError("no optimizer given: expected e.g. 'sgd,adam:lr=0.05'")
    specs = [s if isinstance(s, OptimizerSpec) else parse_optimizer(s) for s in items]
    for spec in specs:
        spec.validate()
    return specs


def check_kwargs(cls: type, kwargs: dict[str, Any], label: str) -> None:
    """Checks hyperparameters against ``cls``'s signature before torch sees them: a name it
    does not take, or a value of the wrong kind (a word, NaN) where its default is a
    number, a flag or a tuple of numbers (torch's own checks then give the range)."""
    defaults, takes_any = _constructor(cls)
    for key, value in kwargs.items():
        if key not in defaults:
            if takes_any:
                continue
            raise UsageError(f"{label}: {cls.__name__} does not take {key!r}"
                             f"{closest(key, list(defaults))}; it takes {', '.join(defaults)}")
        default = defaults[key]
        if isinstance(default, bool):
            ok, want = isinstance(value, bool), "True or False"
        elif isinstance(default, numbers.Real):
            ok, want = _is_number(value), "a number"
        elif isinstance(default, tuple) and default and all(map(_is_number, default)):
            ok = (isinstance(value, (tuple, list)) and len(value) == len(default)
                  and all(map(_is_number, value)))
            want = f"a tuple of {len(default)} numbers such as {default!r}"
        else:
            continue
        if not ok:
            raise UsageError(f"{label}: {key} must be {want}, got {shown(value)}")


def constructor_defaults(cls: type) -> dict[str, Any]:
    """The named arguments an optimizer or scheduler class takes besides what it is built
    on (``self``, ``params``, ``optimizer``; ``*args`` and ``**kwargs`` neither), in
    signature order, each with its default: ``inspect.Parameter.empty`` for one without.
    Empty for a class whose signature cannot be read. A new dict on every call."""
    return dict(_constructor(cls)[0])


def replace_entry(values: Sequence[Any], index: int, value: Any) -> tuple[Any, ...]:
    """``values`` as a tuple with entry ``index`` replaced by ``value``: how one entry of a
    tuple hyperparameter (Adam's ``betas``) is set, the others kept."""
    entries = list(values)
    entries[index] = value
    return tuple(entries)


@functools.cache
def _constructor(cls: type) -> tuple[dict[str, Any], bool]:
    """`constructor_defaults` (not to be changed: it is cached), and whether ``cls`` takes
    any keyword argument (``**kwargs``, or a signature that cannot be read: torch's
    checks only)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return {}, True
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {k: p.default for k, p in params.items() if k not in ("self", "params", "optimizer")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}, takes_any


def _is_number(value: Any) -> bool:
    """A real number, not a flag and not NaN. Infinity is one (``lr=1e999`` diverges on
    purpose, which is worth watching); torch's own checks give the ranges."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and not math.isnan(value))


def torch_refused(context: str) -> contextlib.AbstractContextManager[None]:
    """A block where torch's own optimizers and schedulers run on the user's settings: an
    exception there is those settings' (`UsageError` with torch's message)."""
    return _blame(False, "", "", context)


@contextlib.contextmanager
def _blame(user: bool, kind: str, name: str, context: str) -> Iterator[None]:
    """Errors of a user's class are theirs (`UserCodeError`); errors of a torch class are
    the user's input (`UsageError` with torch's message)."""
    if user:
        with user_code(kind, name):
            yield
        return
    try:
        yield
    except (UsageError, UserCodeError):
        raise
    except Exception as e:  # torch's own check, or a failure its checks let through
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        name_ = "" if isinstance(e, (ValueError, TypeError)) else f"{type(e).__name__}: "
        raise UsageError(f"{context}: {name_}{detail}") from None


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

    @property
    def user_code(self) -> bool:
        return ":" in self.name

    def build(self, optimizer: Optimizer) -> Any:
        """``cls(optimizer, **kwargs)``; a user's class gets its ``step`` guarded."""
        check_kwargs(self.cls, self.kwargs, f"scheduler {self.label}")
        with _blame(self.user_code, "scheduler", self.name, f"scheduler {self.label}"):
            scheduler = self.cls(optimizer, **self.kwargs)
        if self.user_code:
            guard_method(scheduler, "step", "scheduler", self.name)
        return scheduler

    def validate(self) -> None:
        """Builds it on a plain SGD and steps both once: torch checks some arguments only
        when stepping (``steplr:step_size=0`` divides by zero there)."""
        p = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        scheduler = self.build(opt)
        p.grad = torch.ones(2)
        opt.step()
        with _blame(self.user_code, "scheduler", self.name, f"scheduler {self.label}"):
            if self.needs_metric:
                scheduler.step(1.0)
            else:
                scheduler.step()


def parse_scheduler(text: str) -> SchedulerSpec:
    """``steplr:step_size=50,gamma=0.5``, any name of `SCHEDULERS`, or
    ``package.module:Class`` for an ``LRScheduler`` subclass (importing it runs that
    module's code; the class is checked before anything is built)."""
    if not isinstance(text, str):
        raise UsageTypeError(f"a scheduler spec must be a string such as "
                             f"'steplr:step_size=50', got {type(text).__name__} {shown(text)}")
    spec = parse_spec(text)
    key = spec.name.lower()
    if key in SCHEDULERS:
        cls, name = SCHEDULERS[key], key
    elif ":" in spec.name:
        cls, name = import_object(spec.name, "scheduler", base=LRScheduler), spec.name
    else:
        names = sorted(SCHEDULERS)
        raise UsageError(f"unknown scheduler {spec.name!r}{closest(key, names)}; "
                         f"valid schedulers: {', '.join(names)}, or package.module:Class")
    scheduler = SchedulerSpec(name, cls, spec.kwargs)
    scheduler.validate()
    return scheduler


def as_scheduler(scheduler: str | SchedulerSpec | None) -> SchedulerSpec | None:
    """What the API's ``scheduler=`` arguments take: a spec string, a `SchedulerSpec` or
    ``None``."""
    if scheduler is None or isinstance(scheduler, SchedulerSpec):
        return scheduler
    return parse_scheduler(scheduler)
