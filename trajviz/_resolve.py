"""Turning user-facing names (surface specs, device and dtype strings) into objects.

A name the user typed may be an import path (``package.module:attribute``), which imports
and so runs that module's code: that is the user's choice. A name read from a file (a run,
grid or map) never is: `surface_from_file` resolves it against the built-in registry only.
"""

from __future__ import annotations

import importlib
import os
import weakref
from dataclasses import replace
from typing import Any

import torch

import surfaces
from surfaces import Surface

from ._specs import Spec, parse_spec
from .checks import shown
from .errors import UsageError, UsageTypeError, UserCodeError, guarded, user_code

DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("auto", "cpu", "cuda")
NOISE = "+noise"  # `surfaces.noisy` appends this to the name, and sigma and batch_size
_checked: weakref.WeakValueDictionary[int, Surface] = weakref.WeakValueDictionary()


def resolve_surface(spec: str | Surface) -> Surface:
    """``rosenbrock``, ``quadratic:kappa=50`` or ``package.module:attribute`` (a `Surface`
    or a callable ``f(xy)`` on ``(..., 2)`` tensors; importing it runs that module).

    Every surface is checked once (`Surface.check`): one differentiable loss per point.
    """
    if isinstance(spec, Surface):
        surface = spec
    elif isinstance(spec, str):
        parsed = parse_spec(spec)
        if ":" in parsed.name:
            surface = _import_surface(parsed.name, parsed.kwargs)
        else:
            surface = _registered(parsed)
    else:
        raise UsageTypeError(f"surface must be a surfaces.Surface or a spec string such as "
                             f"'rosenbrock' or 'quadratic:kappa=50', got {type(spec).__name__} "
                             f"{shown(spec)}")
    return _check_once(surface)


def surface_from_file(meta: dict[str, Any], path: str | os.PathLike[str]) -> Surface:
    """The surface a file's ``meta`` names, from the built-in registry only (with its
    parameters). A file made on the user's own surface names no code to run: the message
    asks for ``--surface`` to be given again."""
    spec = meta.get("surface")
    if not isinstance(spec, str) or not spec:
        raise UsageError(f"{str(path)!r} names no surface; give --surface")
    origin = meta.get("surface_origin", "builtin")
    if origin != "builtin":
        how = (f"--surface {origin}" if isinstance(origin, str) and ":" in origin
               else "--surface package.module:attribute")
        raise UsageError(f"{str(path)!r} was made on your own surface {spec!r}, and a file "
                         f"never chooses code to run: give it again with {how}")
    parsed = parse_spec(spec)
    name, params = parsed.name, dict(parsed.kwargs)
    noise = name.endswith(NOISE)
    if noise:
        name = name[:-len(NOISE)]
        sigma, batch = params.pop("sigma", None), params.pop("batch_size", 1)
    if name not in surfaces.names():
        raise UsageError(f"{str(path)!r} names surface {spec!r}, which is not a built-in "
                         f"surface (valid: {', '.join(surfaces.names())}); give --surface")
    surface = _registered(Spec(name, params))
    if noise:
        try:
            surface = surfaces.noisy(surface, sigma, batch_size=batch)
        except (TypeError, ValueError) as e:
            raise UsageError(f"{str(path)!r}: bad noise settings in {spec!r}: {e}") from None
    return _check_once(surface)


def _registered(parsed: Spec) -> Surface:
    try:
        return surfaces.get(parsed.name, **parsed.kwargs)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None


def _check_once(surface: Surface) -> Surface:
    if _checked.get(id(surface)) is not surface:
        try:
            surface.check()
        except ValueError as e:
            raise UsageError(str(e)) from None
        except ArithmeticError as e:
            if surface.origin != "builtin":  # the user's own code: its error, as it is
                raise
            # a built-in surface's math on extreme parameters
            raise UsageError(f"surface {surface.spec!r} cannot be evaluated on its domain "
                             f"({type(e).__name__}: {e}): its values overflow; use smaller "
                             "parameters") from None
        _checked[id(surface)] = surface
    return surface


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU."""
    if isinstance(name, torch.device):
        return name
    if not isinstance(name, str):
        raise UsageTypeError(f"device must be one of {', '.join(DEVICES)} or a torch.device, "
                             f"got {shown(name)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in DEVICES:
        raise UsageError(f"unknown device {name!r}; valid devices: {', '.join(DEVICES)}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"device {name!r} is not available: torch sees no CUDA GPU "
                         "(use --device cpu or --device auto)")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"invalid device {name!r}: {e}") from None


def resolve_dtype(name: str | torch.dtype = "float32") -> torch.dtype:
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    try:
        return DTYPES[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown dtype {shown(name)}; valid dtypes: "
                         f"{', '.join(DTYPES)}") from None


def import_object(path: str, kind: str, *, base: type | None = None) -> Any:
    """``package.module:attribute``, imported: this runs that module's code, so only a path
    the user gave is ever imported. An exception in the module is the user's
    (`trajviz.errors.UserCodeError`); a missing module or attribute, or with ``base`` an
    attribute that is not a subclass of it, is a `UsageError`. ``kind`` (``surface``,
    ``optimizer``, ``scheduler``) names it in messages."""
    module_name, _, attr = path.rpartition(":")
    if not module_name or not attr:
        raise UsageError(f"cannot import {kind} {path!r}: expected package.module:attribute")
    try:
        with user_code(kind, path):
            module = importlib.import_module(module_name)
    except UserCodeError as e:
        if not isinstance(e.error, ImportError):
            raise
        raise UsageError(f"cannot import {kind} {path!r}: {e.error}") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise UsageError(f"cannot import {kind} {path!r}: module {module_name!r} has no "
                         f"attribute {attr!r}") from None
    if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
        raise UsageError(f"{kind} {path!r} is not a {base.__module__}.{base.__qualname__} "
                         "subclass")
    return obj


def _import_surface(path: str, params: dict[str, object]) -> Surface:
    """Imports the user's surface and guards its function, so that an exception inside it
    is reported as the user's (`trajviz.errors.UserCodeError`)."""
    obj = import_object(path, "surface")
    attr = path.rpartition(":")[2]
    if params:
        raise UsageError(f"surface {path!r} takes no parameters on the command line")
    if isinstance(obj, Surface):
        return replace(obj, fn=guarded(obj.fn, "surface", path), origin=path)
    if callable(obj):
        return Surface.from_callable(guarded(obj, "surface", path), name=attr, origin=path)
    raise UsageError(f"{path!r} is neither a surfaces.Surface nor a callable f(xy)")
