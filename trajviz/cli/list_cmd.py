"""``trajviz list surfaces|optimizers|schedulers``."""

from __future__ import annotations

import argparse
import inspect

import surfaces

from ..optimizers import OPTIMIZERS, PRESETS, SCHEDULERS, optimizer_names
from ._common import add_command, format_table


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
        params = inspect.signature(cls.__init__).parameters.items()
        defaults = {k: v.default for k, v in params
                    if k in ("lr", "momentum", "betas", "alpha", "rho")
                    and v.default is not v.empty}
        shown = ", ".join(f"{k}={v}" for k, v in {**defaults, **preset}.items())
        doc = (cls.__doc__ or "").strip().splitlines()
        summary = f"{cls.__name__} with {preset}" if preset else (doc[0] if doc else "")
        rows.append([name, f"torch.optim.{cls.__name__}", shown, summary[:70]])
    return ["optimizer", "class", "defaults", "description"], rows


def _schedulers() -> tuple[list[str], list[list[str]]]:
    rows = []
    for name, cls in sorted(SCHEDULERS.items()):
        args = [k for k in inspect.signature(cls.__init__).parameters if k not in
                ("self", "optimizer", "last_epoch", "verbose")]
        rows.append([name, f"lr_scheduler.{cls.__name__}", ", ".join(args)])
    return ["scheduler", "class", "arguments"], rows
