"""The ``trajviz`` command: argument parsing that calls the library, nothing more.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which registers
the command and sets ``func`` to a function taking the parsed namespace.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import UsageError
from . import animate_cmd, landscape_cmd, lesson_cmd, list_cmd, maps_cmd, run_cmd

COMMANDS = (list_cmd, run_cmd, animate_cmd, lesson_cmd, maps_cmd, landscape_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trajviz",
        description="See what torch.optim optimizers do: exact batched trajectories on "
                    "analytic surfaces and neural-net loss landscapes, plotted and animated.",
        epilog="Run 'trajviz COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"trajviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: bad input gets one line on stderr and exit code 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except UsageError as e:
        print(f"trajviz {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trajviz: interrupted", file=sys.stderr)
        return 130
