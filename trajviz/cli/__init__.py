"""The ``trajviz`` command: argument parsing that calls the library, nothing more.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which registers
the command and sets ``func`` to a function taking the parsed namespace. `main` is the one
error boundary: every failure is one line on stderr and an exit code (`report`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..checks import shown
from ..errors import Terminated, UsageError, UserCodeError
from . import animate_cmd, landscape_cmd, lesson_cmd, list_cmd, maps_cmd, run_cmd
from ._common import add_traceback_option

COMMANDS = (list_cmd, run_cmd, animate_cmd, lesson_cmd, maps_cmd, landscape_cmd)
TRACEBACK_ENV = "TRAJVIZ_TRACEBACK"
# options whose values are coordinates, often negative: '--start -1.5,2' works as written
COORDINATE_OPTIONS = frozenset({"--start", "--starts", "--domain", "--extent"})
NEGATIVE_START = re.compile(r"-[0-9.]")


class ParseError(Exception):
    """A command line argparse refused (raised instead of printing usage and exiting)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ParseError(self.prog, message)

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        """argparse's conversion, with any exception from a ``type`` function (not only
        the ones argparse expects) reported as that option's bad value."""
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError:
            raise
        except Exception as e:  # noqa: BLE001 - a value no type function expected
            raise argparse.ArgumentError(
                action, f"invalid value {shown(arg_string)}: {type(e).__name__}: {e}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="trajviz",
        description="See what torch.optim optimizers do: exact batched trajectories on "
                    "analytic surfaces and neural-net loss landscapes, plotted and animated.",
        epilog="Run 'trajviz COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"trajviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    add_traceback_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def join_coordinates(argv: Sequence[str]) -> list[str]:
    """``--start -1.5,2`` as ``--start=-1.5,2``: argparse takes a value that starts with
    ``-`` (and is not a plain negative number) for an option, so an option of
    `COORDINATE_OPTIONS` (or its abbreviation) is joined with a next word that starts with
    ``-`` and a digit or ``.``."""
    args, out = list(argv), []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            return out + args[i:]
        value = args[i + 1] if i + 1 < len(args) else ""
        if _coordinate_option(word) and NEGATIVE_START.match(value):
            out.append(f"{word}={value}")
            i += 2
        else:
            out.append(word)
            i += 1
    return out


def _coordinate_option(word: str) -> bool:
    """Whether ``word`` names one of `COORDINATE_OPTIONS`, or abbreviates one (as argparse
    allows: ``--dom``)."""
    return len(word) > 3 and word.startswith("--") and "=" not in word and any(
        option.startswith(word) for option in COORDINATE_OPTIONS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: any failure is one line on stderr and an exit code, never a traceback
    (unless ``--traceback`` or ``$TRAJVIZ_TRACEBACK`` asks for it)."""
    argv = join_coordinates(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except ParseError as e:
        print(f"{e.prog}: error: {e} (see '{e.prog} --help')", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except (Exception, KeyboardInterrupt, Terminated) as e:
        if args.traceback or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            traceback.print_exc()
        message, code = report(e)
        print(f"trajviz {args.command}: {message}", file=sys.stderr)
        return code


def console() -> int:
    """The ``trajviz`` command as a process of its own (the console script, ``python -m
    trajviz``): `main`, with the objects that exist before it and after it frozen
    (`gc.freeze`). What the imports built (torch, matplotlib: millions of objects) lives
    until exit anyway; frozen, it is not traversed again by each full collection during
    the command, nor by the interpreter's collections at exit (about a second here)."""
    gc.freeze()
    try:
        return main()
    finally:
        gc.freeze()


def report(e: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that ended a command."""
    if isinstance(e, UsageError):
        return f"error: {e}", 2
    if isinstance(e, UserCodeError):
        return str(e), 1
    if isinstance(e, OSError):
        where = f" ({e.filename})" if e.filename else ""
        return f"error: {e.strerror or e}{where}", 1
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(e, Terminated):
        return str(e), 128 + e.signum
    detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return (f"internal error: {type(e).__name__}: {detail} (a bug in trajviz: --traceback "
            "shows where; please report it)"), 1
