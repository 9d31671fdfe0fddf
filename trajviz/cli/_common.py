"""Options and helpers that several subcommands share."""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import UsageError
from ..resolve import DEVICES, DTYPES

OPTIMIZERS_HELP = (
    "comma-separated optimizer specs NAME[:key=value,...]; a key=value piece belongs to the "
    "spec before it, so 'adam:lr=0.05,betas=(0.9,0.99),sgd:lr=0.1' is two optimizers. "
    "NAME is a torch.optim class in lower case (see 'trajviz list optimizers'), 'momentum', "
    "'nesterov', or package.module:Class"
)


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples' line breaks and shows every default."""


def add_command(sub: argparse._SubParsersAction, name: str, summary: str, examples: str
                ) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=summary,
                          epilog="examples:\n" + examples, formatter_class=Formatter)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)}; "
                   "auto uses CUDA when a GPU is present")
    p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    p.add_argument("--seed", type=int, default=0, help="seeds torch before running")


def parse_point(text: str) -> tuple[float, float]:
    """``x,y`` -> (x, y)."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"expected a point 'x,y' such as '-1.5,2', got {text!r}") from None
    return x, y


def parse_points(text: str) -> np.ndarray:
    """``x1,y1;x2,y2`` -> array of shape (k, 2)."""
    return np.array([parse_point(p) for p in text.split(";") if p.strip()], dtype=float)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns under a dashed rule, for terminal output."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
