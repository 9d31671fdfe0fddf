"""``trajviz list surfaces|optimizers|schedulers``."""

from __future__ import annotations

import argparse
import inspect

import surfaces

from ..optimizers import OPTIMIZERS, PRESETS, SCHEDULERS, constructor_defaults, optimizer_names
from ..summary import format_table
from ._common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "list", "List the surfaces, optimizers or schedulers trajviz knows.",
                    "  trajviz list surfaces\n  trajviz list optimizers")
    p.add_argument("what", choices=["surfaces", "optimizers", "schedulers"])
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    rows = {"surfaces": _surfaces, "optimizers": _optimizers, "schedulers": _schedulers}
    print(format_table(*rows[args.what]()))
    return 0


def _surfaces() -> tuple[list[str], list[list[str]]]:
    rows = []
    for name in surfaces.names():
        s = surfaces.get(name)
        params = ", ".join(f"{k}={v}" for k, v in surfaces.defaults(name).items()) or "-"
        rows.append([name, params, f"({s.start[0]:g}, {s.start[1]:g})", s.description])
    return ["surface", "parameters", "start", "description"], rows


def _optimizers() -> tuple[list[str], list[list[str]]]:
    rows = []
    for name in optimizer_names():
        base, preset = PRESETS.get(name, (name, {}))
        cls = OPTIMIZERS[base]
        defaults = {k: v for k, v in constructor_defaults(cls).items()
                    if k in ("lr", "momentum", "betas", "alpha", "rho")
                    and v is not inspect.Parameter.empty}
        shown = ", ".join(f"{k}={v}" for k, v in {**defaults, **preset}.items())
        doc = (cls.__doc__ or "").strip().splitlines()
        summary = f"{cls.__name__} with {preset}" if preset else (doc[0] if doc else "")
        rows.append([name, f"torch.optim.{cls.__name__}", shown, summary[:70]])
    return ["optimizer", "class", "defaults", "description"], rows


def _schedulers() -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, cls in sorted(SCHEDULERS.items()):
        args = [k for k in constructor_defaults(cls) if k not in ("last_epoch", "verbose")]
        rows.append([name, f"lr_scheduler.{cls.__name__}", ", ".join(args)])
    return ["scheduler", "class", "arguments"], rows
