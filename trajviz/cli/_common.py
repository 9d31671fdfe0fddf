"""Options and helpers that several subcommands share.

Every option's value is parsed by a type built here (`integer`, `real`, `seed_type`,
`point`, ...) on top of `trajviz.checks`: NaN, infinity and out-of-range values are refused
while parsing, with the valid range named, before any work starts.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import checks, engine
from .._resolve import DEVICES, DTYPES
from ..errors import UsageError

IMPORT_NOTE = ("an import path imports that module, which runs its code: give only code "
               "you trust")
OPTIMIZERS_HELP = (
    "comma-separated optimizer specs NAME[:key=value,...]; a key=value piece belongs to the "
    "spec before it, so 'adam:lr=0.05,betas=(0.9,0.99),sgd:lr=0.1' is two optimizers. "
    "NAME is a torch.optim class in lower case (see 'trajviz list optimizers'), 'momentum', "
    f"'nesterov', or package.module:Class for your own Optimizer subclass ({IMPORT_NOTE})"
)
SURFACE_HELP = ("NAME[:key=value,...] (see 'trajviz list surfaces'), or "
                "package.module:attribute for your own surfaces.Surface or function f(xy) "
                f"({IMPORT_NOTE})")
SCHEDULER_HELP = ("LR scheduler spec NAME[:key=value,...], e.g. steplr:step_size=50,gamma=0.5 "
                  "(see 'trajviz list schedulers'), or package.module:Class for your own "
                  f"torch.optim.lr_scheduler.LRScheduler subclass ({IMPORT_NOTE})")


def option(parse: Callable[[str], Any], name: str | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` from a parser raising `UsageError`: argparse then prints the
    message itself rather than "invalid <function> value"."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        except Exception as e:  # noqa: BLE001 - a value no parser expected is still bad input
            raise argparse.ArgumentTypeError(
                f"cannot read {checks.shown(text)}: {type(e).__name__}: {e}") from None

    convert.__name__ = name or parse.__name__
    return convert


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An integer option within ``[lo, hi]``."""
    return option(lambda t: checks.parse_number(t, "", integer=True, lo=lo, hi=hi),
                  "integer")


def real(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False
         ) -> Callable[[str], float]:
    """A finite number within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    return option(lambda t: checks.parse_number(t, "", lo=lo, hi=hi, lo_open=lo_open),
                  "number")


def _memory_mb(text: str) -> float:
    mb = checks.parse_number(text, "", lo=0, lo_open=True)
    checks.check_memory(f"a budget of {mb:g} MB", mb * 2**20)
    return mb


def parse_path(text: str) -> str:
    """A file or folder name as given; an empty one is refused (not taken as "not given")."""
    if not text:
        raise UsageError("empty path")
    return text


seed_type = option(lambda t: checks.parse_seed(t, ""), "seed")
path = option(parse_path, "path")
dpi = integer(checks.MIN_DPI)
memory_mb = option(_memory_mb, "memory_mb")
title_type = option(lambda t: checks.check_text(t, "the title"), "title")


def keyword_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The defaults of a library function's (or class's) keywords: an option reads its
    default here, so the command and the library never disagree."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.default is not p.empty}


RUN_DEFAULTS = keyword_defaults(engine.run)  # `trajviz.run`'s, which the run options show


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows every default that says something once:
    not ``None``, not a flag's (``--arrows``, ``--no-loss``), and not where the help
    already tells it."""

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._tells_default(action):  # an option with no help text
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if not self._tells_default(action) or "default" in text:
            return text
        return super()._get_help_string(action)

    @staticmethod
    def _tells_default(action: argparse.Action) -> bool:
        return not (action.default is None or action.default is argparse.SUPPRESS
                    or action.nargs == 0)


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, examples: str
                ) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=summary, description=summary,
                       epilog="examples:\n" + examples, formatter_class=Formatter)
    add_traceback_option(p, default=argparse.SUPPRESS)
    return p


def add_traceback_option(p: argparse.ArgumentParser, *, default: Any = False) -> None:
    p.add_argument("--traceback", action="store_true", default=default,
                   help="on an error, print the full Python traceback too (or set "
                        "TRAJVIZ_TRACEBACK=1)")


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--device``, ``--dtype`` and ``--seed``, with `trajviz.run`'s defaults."""
    defaults = RUN_DEFAULTS
    p.add_argument("--device", default=defaults["device"], help=f"one of {', '.join(DEVICES)}; "
                   "auto uses CUDA when a GPU is present")
    p.add_argument("--dtype", default=defaults["dtype"], choices=sorted(DTYPES),
                   help="floating-point precision of the run")
    p.add_argument("--seed", type=seed_type, default=defaults["seed"],
                   help="seeds torch before running")


def parse_numbers(text: str, count: int, what: str, example: str) -> tuple[float, ...]:
    """``count`` finite comma-separated numbers, e.g. a point ``x,y``."""
    parts = text.split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(map(math.isfinite, values)):
        raise UsageError(f"expected {what} of {count} finite numbers such as {example!r}, "
                         f"got {text!r}")
    return values


def parse_point(text: str) -> tuple[float, float]:
    """``x,y`` -> (x, y)."""
    return parse_numbers(text, 2, "a point 'x,y'", "-1.5,2")  # type: ignore[return-value]


def parse_points(text: str) -> np.ndarray:
    """``x1,y1;x2,y2`` -> array of shape (k, 2), at least one point."""
    points = [parse_point(p) for p in text.split(";") if p.strip()]
    if not points:
        raise UsageError(f"expected points 'x1,y1;x2,y2', got {text!r}")
    return np.array(points, dtype=float)


def parse_size(text: str) -> tuple[float, float]:
    """``WxH`` in inches -> (w, h), both positive and finite."""
    parts = text.lower().split("x")
    try:
        w, h = (checks.parse_number(v, "size", lo=0, lo_open=True) for v in parts)
    except (ValueError, UsageError):
        raise UsageError(f"expected WxH in inches such as 8x6, two finite positive numbers, "
                         f"got {text!r}") from None
    return w, h


point = option(parse_point, "point")
points = option(parse_points, "points")
size = option(parse_size, "size")
