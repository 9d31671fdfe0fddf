"""Turning user-facing names (surface specs, device and dtype strings) into objects."""

from __future__ import annotations

import importlib

import torch

import surfaces
from surfaces import Surface

from .errors import UsageError
from .specs import parse_spec

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("auto", "cpu", "cuda")


def resolve_surface(spec: str | Surface) -> Surface:
    """``rosenbrock``, ``quadratic:kappa=50`` or ``package.module:attribute`` (a `Surface`
    or a callable ``f(xy)`` on ``(..., 2)`` tensors)."""
    if isinstance(spec, Surface):
        return spec
    parsed = parse_spec(spec)
    if ":" in parsed.name:
        return _import_surface(parsed.name, parsed.kwargs)
    try:
        return surfaces.get(parsed.name, **parsed.kwargs)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in DEVICES:
        raise UsageError(f"unknown device {name!r}; valid devices: {', '.join(DEVICES)}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} is not available: torch sees no CUDA GPU "
                         "(use --device cpu or --device auto)")
    return torch.device(name)


def resolve_dtype(name: str | torch.dtype = "float32") -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    try:
        return DTYPES[name]
    except KeyError:
        raise UsageError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPES)}") from None


def _import_surface(path: str, params: dict[str, object]) -> Surface:
    module_name, _, attr = path.rpartition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot import surface {path!r}: {e}") from None
    if params:
        raise UsageError(f"surface {path!r} takes no parameters on the command line")
    if isinstance(obj, Surface):
        return obj
    if callable(obj):
        return Surface.from_callable(obj, name=attr)
    raise UsageError(f"{path!r} is neither a surfaces.Surface nor a callable f(xy)")
