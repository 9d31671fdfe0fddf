"""Parsing of ``name:key=value,...`` spec strings, safely (Python literals only, never eval)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError, UsageTypeError

_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``adam:lr=0.05,betas=(0.9,0.99)`` -> name ``adam`` and its kwargs."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def split_top_level(text: str, sep: str) -> list[tuple[int, str]]:
    """Splits ``text`` on ``sep`` outside brackets and quotes; returns (offset, piece) pairs."""
    pieces, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                raise UsageError(f"malformed spec {text!r}: unmatched {ch!r} at position {i}")
        elif ch == sep and depth == 0:
            pieces.append((start, text[start:i]))
            start = i + 1
    if depth or quote:
        raise UsageError(f"malformed spec {text!r}: unclosed bracket or quote")
    pieces.append((start, text[start:]))
    return pieces


def parse_value(text: str) -> Any:
    """A Python literal (``0.1``, ``(0.9, 0.99)``, ``True``); a bare word stays a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if text.isidentifier():
            return {"true": True, "false": False, "none": None}.get(text.lower(), text)
        raise


def parse_spec(text: str) -> Spec:
    """Parses one spec. The name may itself hold a colon (``package.module:Class``); the
    kwargs start after the last colon that precedes the first ``=``."""
    if not isinstance(text, str):
        raise UsageTypeError(f"a spec must be a string such as 'adam:lr=0.1', got "
                             f"{type(text).__name__}")
    text = text.strip()
    if not text:
        raise UsageError("empty spec: expected a name such as 'adam' or 'adam:lr=0.1'")
    eq = text.find("=")
    colon = text.rfind(":", 0, eq) if eq >= 0 else -1
    if eq >= 0 and colon < 0:
        raise UsageError(f"malformed spec {text!r}: expected 'name:key=value,...'")
    if colon < 0:
        return Spec(text)
    name, body = text[:colon].strip(), text[colon + 1 :]
    if not name:
        raise UsageError(f"malformed spec {text!r}: missing name before ':'")
    kwargs: dict[str, Any] = {}
    for offset, item in split_top_level(body, ","):
        where = f"in {text!r} at position {colon + 1 + offset}"
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"malformed spec {where}: expected key=value, got {item!r}")
        if not raw.strip():
            raise UsageError(f"malformed spec {where}: missing value after '{key}='")
        if key in kwargs:
            raise UsageError(f"malformed spec {where}: {key!r} is given twice")
        try:
            kwargs[key] = parse_value(raw.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise UsageError(f"malformed spec {where}: {raw.strip()!r} is not a literal") from None
    return Spec(name, kwargs)


def split_specs(text: str) -> list[str]:
    """Splits a comma-separated list of specs whose own kwargs hold commas.

    A piece that is ``key=value`` with no name before it continues the previous spec, so
    ``adam:lr=0.05,betas=(0.9,0.99),sgd:lr=0.1`` is two specs.
    """
    specs: list[str] = []
    for _, piece in split_top_level(text, ","):
        head = piece.split("=", 1)[0]
        if "=" in piece and ":" not in head and specs:
            specs[-1] += "," + piece
        elif piece.strip():
            specs.append(piece.strip())
    if not specs:
        raise UsageError("no spec given: expected e.g. 'sgd,adam:lr=0.05'")
    return specs


def format_kwargs(kwargs: dict[str, Any]) -> str:
    """``lr=0.05, betas=(0.9, 0.99)``: the kwargs as a spec (and a legend) shows them."""
    return ",".join(f"{k}={v!r}" for k, v in kwargs.items())
