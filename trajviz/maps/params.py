"""Swept hyperparameters: ``lr=1e-4:1:log:64``, ``betas[0]=0.5:0.999:64``, ``momentum=0,0.9``.

A range is ``LO:HI[:log|:lin]:N`` (N values from LO to HI inclusive, evenly spaced on a
linear or logarithmic scale); a list is comma-separated Python literals. ``NAME[I]`` sweeps
entry I of a tuple hyperparameter (Adam's ``betas``), keeping the other entries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from surfaces import closest

from .._specs import parse_value, split_top_level
from ..checks import check_memory
from ..errors import UsageError, UsageTypeError
from ..optimizers import OptimizerSpec, constructor_defaults, replace_entry

_PARAM = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?\s*=\s*(.*?)\s*$")
SCALES = ("lin", "log")
_BYTES_PER_VALUE = 64  # a float in the array, as a Python float, and in a tuple
# Keyword arguments that select an implementation or change the meaning of the run rather
# than the update rule: sweeping them would not draw a map of the optimizer.
_NOT_SWEPT = frozenset({"foreach", "fused", "capturable", "differentiable"})


@dataclass(frozen=True)
class ParamAxis:
    """One swept hyperparameter: its name, optional tuple index and the values it takes."""

    name: str
    values: tuple[Any, ...]
    index: int | None = None
    log: bool = False

    @property
    def label(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def __len__(self) -> int:
        return len(self.values)


def parse_param(text: str) -> ParamAxis:
    """Parses ``NAME[INDEX]=LO:HI[:log|:lin]:N`` or ``NAME[INDEX]=V1,V2,...``.

    Example:
        >>> parse_param("lr=1e-3:1e-1:log:3").values
        (0.001, 0.01, 0.1)
    """
    if not isinstance(text, str):
        raise UsageTypeError(f"a swept parameter must be a string such as 'lr=1e-4:1:log:64', "
                             f"got {type(text).__name__}")
    m = _PARAM.match(text)
    if not m:
        raise UsageError(f"malformed --param {text!r}: expected NAME=LO:HI[:log]:N "
                         "(e.g. lr=1e-4:1:log:64), NAME[I]=LO:HI:N (e.g. betas[0]=0.5:0.999:64) "
                         "or NAME=V1,V2,...")
    name, index, body = m.group(1), m.group(2), m.group(3)
    idx = None if index is None else int(index)
    if not body:
        raise UsageError(f"--param {text!r} gives no values after '='")
    if ":" in body:
        values, log = _parse_range(text, body)
    else:
        values, log = _parse_list(text, body), False
    return ParamAxis(name, values, idx, log)


def _parse_range(text: str, body: str) -> tuple[tuple[float, ...], bool]:
    parts = [p.strip() for p in body.split(":")]
    if len(parts) == 3:
        scale = "lin"
    elif len(parts) == 4 and parts[2].lower() in SCALES:
        scale = parts.pop(2).lower()
    else:
        raise UsageError(f"malformed range in --param {text!r}: expected LO:HI:N or "
                         f"LO:HI:SCALE:N with SCALE one of {', '.join(SCALES)}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(f"range bounds in --param {text!r} must be numbers, "
                         f"got {parts[0]!r} and {parts[1]!r}") from None
    try:
        n = int(parts[2])
    except ValueError:
        raise UsageError(f"the number of values in --param {text!r} must be an integer, "
                         f"got {parts[2]!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise UsageError(f"range bounds in --param {text!r} must be finite")
    if n < 1:
        raise UsageError(f"empty range in --param {text!r}: it asks for {n} values; "
                         "give at least 1")
    check_memory(f"--param {text!r} ({n} values)", n * _BYTES_PER_VALUE)
    if lo > hi:
        raise UsageError(f"reversed range in --param {text!r}: LO {lo:g} is above HI {hi:g}; "
                         f"write {parts[1]}:{parts[0]}")
    if n > 1 and lo == hi:
        raise UsageError(f"empty range in --param {text!r}: LO equals HI, so all {n} values "
                         f"would be {lo:g}; widen the range or give 1 value")
    if n == 1 and lo != hi:
        raise UsageError(f"--param {text!r} asks for 1 value between two different bounds; "
                         "give N >= 2, or LO equal to HI")
    if scale == "log":
        if lo <= 0:
            raise UsageError(f"log range in --param {text!r} needs LO > 0, got {lo:g}")
        values = np.geomspace(lo, hi, n)
    else:
        values = np.linspace(lo, hi, n)
    return tuple(float(v) for v in values), scale == "log"


def _parse_list(text: str, body: str) -> tuple[Any, ...]:
    values = []
    for _, piece in split_top_level(body, ","):
        if not piece.strip():
            raise UsageError(f"empty value in --param {text!r}")
        try:
            values.append(parse_value(piece.strip()))
        except (ValueError, SyntaxError):
            raise UsageError(f"{piece.strip()!r} in --param {text!r} is not a literal") from None
    if len(set(map(repr, values))) != len(values):
        raise UsageError(f"--param {text!r} repeats a value")
    return tuple(values)


def swept_kwargs(spec: OptimizerSpec, axes: Sequence[ParamAxis]) -> list[dict[str, Any]]:
    """The optimizer keyword arguments of every combination, the first axis varying fastest.

    Checks each axis against the optimizer's signature and each combination against the
    optimizer's own validation (torch's message names a bad value).
    """
    if not 1 <= len(axes) <= 2:
        raise UsageError(f"a sweep takes one or two --param axes, got {len(axes)}")
    labels = [a.label for a in axes]
    if len(set(labels)) != len(labels):
        raise UsageError(f"--param {labels[0]} is given twice")
    takes = {k: v for k, v in constructor_defaults(spec.cls).items() if k not in _NOT_SWEPT}
    bases = {a.name: _base_value(spec, a, takes) for a in axes}
    combos = []
    for second in (axes[1].values if len(axes) == 2 else (None,)):
        for first in axes[0].values:
            kwargs: dict[str, Any] = {}
            for axis, value in zip(axes, (first, second), strict=False):
                if axis.index is None:
                    kwargs[axis.name] = value
                else:
                    kwargs[axis.name] = replace_entry(kwargs.get(axis.name, bases[axis.name]),
                                                      axis.index, value)
            combos.append(kwargs)
    _validate(spec, axes, combos)
    return combos


def _base_value(spec: OptimizerSpec, axis: ParamAxis, takes: dict[str, Any]) -> Any:
    if axis.name not in takes:
        names = sorted(takes)
        raise UsageError(f"{spec.cls.__name__} ({spec.name}) does not take {axis.name!r}"
                         f"{closest(axis.name, names)}; it takes {', '.join(names)}")
    if axis.index is None:
        return None
    base = spec.all_kwargs.get(axis.name, takes[axis.name])
    if not isinstance(base, (tuple, list)):
        raise UsageError(f"{spec.name}'s {axis.name!r} is a single value ({base!r}), not a "
                         f"tuple: sweep it as {axis.name}=..., without [{axis.index}]")
    if axis.index >= len(base):
        entries = ", ".join(f"{axis.name}[{i}]" for i in range(len(base)))
        raise UsageError(f"{axis.label} is out of range: {spec.name}'s {axis.name} has "
                         f"{len(base)} entries ({entries})")
    return tuple(base)


def _validate(spec: OptimizerSpec, axes: Sequence[ParamAxis], combos: list[dict[str, Any]]
              ) -> None:
    """Param groups skip the constructor's checks, so every value is checked here by
    building the optimizer with it (every combination while that stays cheap)."""
    import torch

    if len(combos) > 16_384:  # one value of each axis at a time, with the other's first
        checks = _one_axis_at_a_time(axes, combos)
    else:
        checks = combos
    p = torch.zeros(2, requires_grad=True)
    for kwargs in checks:
        spec.with_kwargs(**kwargs).build([p])


def _one_axis_at_a_time(axes: Sequence[ParamAxis], combos: list[dict[str, Any]]
                        ) -> list[dict[str, Any]]:
    """The combinations that vary one axis at a time (the others at their first value)."""
    n0 = len(axes[0])
    picks = set(range(n0))
    if len(axes) == 2:
        picks |= {j * n0 for j in range(len(axes[1]))}
    return [combos[i] for i in sorted(picks)]


def grid_shape(axes: Sequence[ParamAxis]) -> tuple[int, int]:
    """(rows, columns) of a sweep's arrays: the second axis along rows, the first along
    columns, as an image shows them; a single axis is one row."""
    return (len(axes[1]) if len(axes) == 2 else 1, len(axes[0]))


def combinations(axes: Sequence[ParamAxis]) -> int:
    return int(np.prod([len(a) for a in axes]))


__all__ = ["ParamAxis", "combinations", "grid_shape", "parse_param", "swept_kwargs"]
