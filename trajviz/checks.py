"""Checks every entry point shares: numbers in range, and a request's size against a cap.

`number` checks one value (from Python or parsed from a command-line string) and names the
valid range when it is out of it; `check_memory` refuses, before any work, a request that
would need more memory than the stated cap (`memory_cap`).

Example:
    >>> number(500, "steps", integer=True, lo=1)
    500
    >>> parse_number("nan", "--memory-mb", lo=0, lo_open=True)
    Traceback (most recent call last):
    ...
    trajviz.errors.UsageError: --memory-mb must be greater than 0 (a finite number), got 'nan'
"""

from __future__ import annotations

import math
import numbers
import os
import re
from typing import Any

from .errors import UsageError, UsageTypeError

MAX_SEED = 2**63 - 1
MAX_PIXELS_PER_SIDE = 2**16 - 1  # matplotlib's Agg canvas refuses anything larger
MIN_PIXELS_PER_SIDE = 32  # smaller, matplotlib's layout and fonts fail or draw nothing
MIN_DPI = 10  # lower, FreeType refuses the fonts' pixel size
MEMORY_CAP_ENV = "TRAJVIZ_MAX_MEMORY_MB"
MAX_TEXT_CHARS = 500  # a title or label; longer ones take seconds to lay out
MAX_TEXT_NESTING = 12  # mathtext parses each level with ~25 nested calls


def number(value: Any, name: str, *, integer: bool = False, lo: float | None = None,
           hi: float | None = None, lo_open: bool = False) -> Any:
    """``value`` as an ``int`` (``integer``) or finite ``float``, within ``[lo, hi]``.

    A ``bool`` or a string is not a number here (`parse_number` reads text). ``lo_open``
    makes the lower bound exclusive (``> 0``).

    Raises:
        UsageTypeError: not a number (or not an integer where one is needed).
        UsageError: NaN, infinite, or out of range; the message names the range.
    """
    if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if integer else numbers.Real):
        raise UsageTypeError(f"{_must(name, integer, lo, hi, lo_open)}, got {shown(value)}")
    return _in_range(int(value) if integer else float(value), value, name, integer, lo, hi,
                     lo_open)


def parse_number(text: str, name: str, *, integer: bool = False, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False) -> Any:
    """A number typed as text (the command line, an environment variable), checked as
    `number` checks a value; the message quotes the text."""
    try:
        value = int(text.strip()) if integer else float(text.strip())
    except ValueError:
        raise UsageTypeError(f"{_must(name, integer, lo, hi, lo_open)}, got {shown(text)}"
                             ) from None
    return _in_range(value, text, name, integer, lo, hi, lo_open)


def _in_range(value: int | float, given: Any, name: str, integer: bool, lo: float | None,
              hi: float | None, lo_open: bool) -> int | float:
    finite = isinstance(value, int) or math.isfinite(value)
    below = lo is not None and (value < lo or (lo_open and value == lo))
    if not finite or below or (hi is not None and value > hi):
        raise UsageError(f"{_must(name, integer, lo, hi, lo_open)}, got {shown(given)}")
    return value


def _must(name: str, integer: bool, lo: float | None, hi: float | None, lo_open: bool) -> str:
    return f"{name} must be {_range_text(integer, lo, hi, lo_open)}".lstrip()


def _range_text(integer: bool, lo: float | None, hi: float | None, lo_open: bool) -> str:
    """``at least 1 (an integer)``, ``from 0 to 9 (an integer)``, ``greater than 0 (a
    finite number)``."""
    kind = "an integer" if integer else "a finite number"
    if lo is not None and hi is not None and not lo_open:
        return f"from {_fmt(lo)} to {_fmt(hi)} ({kind})"
    parts = []
    if lo is not None:
        parts.append(f"greater than {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}")
    if hi is not None:
        parts.append(f"at most {_fmt(hi)}")
    return f"{' and '.join(parts)} ({kind})" if parts else kind


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)``, shortened for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


def seed(value: Any, name: str = "seed") -> int:
    """A random seed: an integer from 0 to 2**63 - 1 (what torch and NumPy both take)."""
    return number(value, name, integer=True, lo=0, hi=MAX_SEED)


def parse_seed(text: str, name: str = "seed") -> int:
    return parse_number(text, name, integer=True, lo=0, hi=MAX_SEED)


def memory_cap() -> int:
    """The most bytes one request may need: ``$TRAJVIZ_MAX_MEMORY_MB`` if set, else half of
    this machine's physical memory (at least 1 GiB)."""
    env = os.environ.get(MEMORY_CAP_ENV)
    if env:
        return int(parse_number(env, f"${MEMORY_CAP_ENV}", lo=0, lo_open=True) * 2**20)
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        physical = 16 * 2**30
    return max(2**30, physical // 2)


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(what: str, nbytes: float) -> None:
    """Refuses ``what`` before any work when it needs more than `memory_cap` bytes.

    Args:
        what: the request as the user asked for it (``"basins --grid 1000000"``).
        nbytes: the memory it needs (its results, or its largest buffer).
    """
    cap = memory_cap()
    if nbytes > cap:
        source = (f"${MEMORY_CAP_ENV}" if os.environ.get(MEMORY_CAP_ENV)
                  else f"half this machine's memory; set ${MEMORY_CAP_ENV} to change it")
        raise UsageError(f"{what} needs {format_bytes(nbytes)}, more than the cap of "
                         f"{format_bytes(cap)} ({source}); ask for less")


def check_step(t: Any) -> int:
    """A figure's step: an integer (``bool`` and ``1.5`` are not); callers clip it."""
    return number(t, "step", integer=True)


def check_figure_size(size: Any, dpi: Any, what: str = "the figure") -> tuple[
        tuple[float, float], int]:
    """``size`` (inches, ``(w, h)``) and ``dpi`` checked: positive, finite, a dpi of at
    least `MIN_DPI`, from `MIN_PIXELS_PER_SIDE` to `MAX_PIXELS_PER_SIDE` pixels a side, and
    the frame buffers within `memory_cap`."""
    try:
        w, h = size
    except (TypeError, ValueError):
        raise UsageTypeError(f"size must be (width, height) in inches, got {size!r}") from None
    w = number(w, "figure width (inches)", lo=0, lo_open=True)
    h = number(h, "figure height (inches)", lo=0, lo_open=True)
    dpi = number(dpi, "dpi", integer=True, lo=MIN_DPI)
    px, py = w * dpi, h * dpi
    if max(px, py) > MAX_PIXELS_PER_SIDE or min(px, py) < MIN_PIXELS_PER_SIDE:
        raise UsageError(f"{what} would be {px:.4g} x {py:.4g} pixels (size {w:g}x{h:g} in at "
                         f"{dpi} dpi); at least {MIN_PIXELS_PER_SIDE} and at most "
                         f"{MAX_PIXELS_PER_SIDE} pixels a side")
    # the canvas (RGBA), the kept background and a frame copy (RGB) are alive at once
    check_memory(f"{what} of {px:.0f} x {py:.0f} pixels", px * py * (4 + 4 + 3))
    return (w, h), dpi


def check_text(text: Any, what: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Text matplotlib will draw: a string of at most ``limit`` characters whose ``$...$``
    parts are valid mathtext, nested at most `MAX_TEXT_NESTING` deep (an invalid one would
    fail only when the figure is drawn; a deeper one can exhaust Python's stack there)."""
    if not isinstance(text, str):
        raise UsageTypeError(f"{what} must be a string, got {shown(text)}")
    if len(text) > limit:
        raise UsageError(f"{what} {shown(text)} is {len(text)} characters long; at most "
                         f"{limit}")
    from matplotlib import cbook, mathtext

    if cbook.is_math_text(text):
        depth = _nesting(text)
        if depth > MAX_TEXT_NESTING:
            raise UsageError(f"{what} {shown(text)} nests braces or \\left {depth} deep; at "
                             f"most {MAX_TEXT_NESTING}")
        try:
            mathtext.MathTextParser("path").parse(text)
        except Exception as e:  # noqa: BLE001 - whatever the parser raises, the text is bad
            reason = str(e).strip().splitlines()[-1].split(": ", 1)[-1].split("  (at ")[0]
            if not isinstance(e, ValueError):
                reason = f"{type(e).__name__}: {reason}".rstrip(": ")
            raise UsageError(f"{what} {shown(text)} is not valid matplotlib text: {reason} "
                             r"(write a literal dollar sign as \$)") from None
    return text


def _nesting(text: str) -> int:
    """How deep ``{`` and ``\\left`` nest in the ``$...$`` parts of ``text`` (escaped
    braces and dollars aside)."""
    depth = deepest = 0
    math = "".join(re.split(r"(?<!\\)\$", text)[1::2])
    for token in re.findall(r"\\[{}]|\\(?:left|right)(?![a-zA-Z])|[{}]", math):
        if token in ("{", "\\left"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("}", "\\right"):
            depth -= 1
    return deepest
