"""What a checkpoint key may say about the user's model and loss: a faithful description
of the computation, the same in every process, or ``None`` where none can be given.

A function is its module and qualified name (and default arguments); a module, or an
instance of a class written in Python, is its type plus its state: every tensor's
dtype, shape and bytes, every other attribute's value. A lambda, a closure, a
``functools.partial``, a class or function defined inside a function, or an attribute
holding an object that cannot be described gives ``None``: its state cannot be told apart
from another one's, so its checkpoints must never be reused (`loss_landscape` recomputes).
"""

from __future__ import annotations

import hashlib
import types
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

_MAX_DEPTH = 8
_SCALARS = (type(None), bool, int, float, str)
# torch's own bookkeeping of every module (hooks are described apart, state by tensors)
_MODULE_KEYS = frozenset(vars(nn.Module()))
_HOOKS = ("_forward_hooks", "_forward_pre_hooks")
_IMMUTABLE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a class implemented in C, never in Python


class Unknown(Exception):
    """Something in the object cannot be described faithfully."""


def describe(obj: Any) -> Any | None:
    """A JSON-ready description of ``obj`` that differs whenever its behaviour may, or
    ``None`` if it cannot be given (see the module docstring)."""
    try:
        return _describe(obj, 0, set())
    except (Unknown, RecursionError):
        return None


def _describe(obj: Any, depth: int, seen: set[int]) -> Any:
    if depth > _MAX_DEPTH:
        raise Unknown("too deep")
    if isinstance(obj, _SCALARS):
        return obj  # JSON keeps floats exact (repr), NaN and infinities included
    if isinstance(obj, (Tensor, np.ndarray)):
        return _array(obj)
    if isinstance(obj, (torch.dtype, torch.device, np.dtype)):
        return f"{type(obj).__name__}:{obj}"
    if id(obj) in seen:
        raise Unknown("a cycle")
    seen = seen | {id(obj)}
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [_describe(v, depth + 1, seen) for v in obj]]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise Unknown("a dict with keys other than strings")
        return {"dict": {k: _describe(v, depth + 1, seen) for k, v in sorted(obj.items())}}
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _function(obj, depth, seen)
    if isinstance(obj, types.MethodType):
        return {"method": _function(obj.__func__, depth, seen),
                "self": _describe(obj.__self__, depth + 1, seen)}
    if isinstance(obj, nn.Module):
        return _module(obj, depth, seen)
    if isinstance(obj, type):
        return {"class": _name(obj)}
    if _plain_object(obj):
        return {"object": _name(type(obj)), "vars": _describe(vars(obj), depth + 1, seen)}
    raise Unknown(f"a {type(obj).__name__}")


def _plain_object(obj: Any) -> bool:
    """An instance of classes all written in Python, without ``__slots__``: its whole state
    is its ``__dict__`` (a ``functools.partial``, whose state is in C, is not)."""
    classes = type(obj).__mro__[:-1]  # all but object
    return (hasattr(obj, "__dict__") and not isinstance(obj, (types.ModuleType, type))
            and all(not k.__flags__ & _IMMUTABLE and "__slots__" not in vars(k)
                    for k in classes))


def _name(obj: Any) -> str:
    """``module.qualname`` of a function or class defined at a module's top level."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)) or "<" in qualname:
        raise Unknown(f"{qualname!r} is a lambda or is defined inside a function")
    return f"{module}.{qualname}"


def _function(fn: Any, depth: int, seen: set[int]) -> dict[str, Any]:
    if getattr(fn, "__closure__", None):
        raise Unknown("a closure")
    out: dict[str, Any] = {"function": _name(fn)}
    for attr in ("__defaults__", "__kwdefaults__"):
        if getattr(fn, attr, None):
            out[attr] = _describe(getattr(fn, attr), depth + 1, seen)
    return out


def _module(module: nn.Module, depth: int, seen: set[int]) -> dict[str, Any]:
    """The module tree: each submodule's type, attributes and hooks; every tensor."""
    layers = {}
    for name, m in module.named_modules(remove_duplicate=False):
        attrs = {k: v for k, v in vars(m).items() if k not in _MODULE_KEYS}
        hooks = [list(getattr(m, h).values()) for h in _HOOKS]
        layers[name] = {"type": _name(type(m)), "training": m.training,
                        "attrs": _describe(attrs, depth + 1, seen),
                        "hooks": _describe(hooks, depth + 1, seen)}
    tensors = {f"p:{n}": _array(t) for n, t in module.named_parameters(remove_duplicate=False)}
    tensors.update({f"b:{n}": _array(t)
                    for n, t in module.named_buffers(remove_duplicate=False) if t is not None})
    return {"module": layers, "tensors": tensors}


def _array(a: Tensor | np.ndarray) -> str:
    """A tensor's dtype, shape and the SHA-256 of its bytes."""
    try:
        if isinstance(a, Tensor):
            flat = a.detach().cpu().contiguous().reshape(-1)
            data = flat.view(torch.uint8).numpy()
        else:
            if a.dtype.hasobject:
                raise Unknown("an array of Python objects")
            data = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    except Unknown:
        raise
    except Exception as e:  # sparse, meta, ... tensors: no bytes to describe them by
        raise Unknown(f"a tensor without plain bytes ({type(e).__name__})") from e
    return f"{a.dtype}{tuple(a.shape)}:{hashlib.sha256(data).hexdigest()}"


__all__ = ["describe"]
