"""The `Surface` type and the registry every surface family registers into."""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

Point = tuple[float, float]
Domain = tuple[tuple[float, float], tuple[float, float]]
SurfaceFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Surface:
    """A differentiable loss over two parameters.

    ``fn`` maps a tensor of shape ``(..., 2)`` to the loss, shape ``(...)``, on any device
    and floating dtype (`check` tests that once). Everything else describes how to show it;
    ``origin`` says where it came from: ``"builtin"`` for the registry (`get`), an import
    path for a user's surface loaded by name, ``""`` for one made in Python.

    Example:
        >>> s = Surface("bowl", lambda p: (p**2).sum(-1), domain=((-1, 1), (-1, 1)))
        >>> float(s(torch.tensor([0.5, 0.5])))
        0.5
    """

    name: str
    fn: SurfaceFn
    domain: Domain
    minima: tuple[Point, ...] = ()
    min_value: float | None = None
    saddles: tuple[Point, ...] = ()
    start: Point = (0.0, 0.0)
    log_scale: bool = False
    description: str = ""
    params: Mapping[str, float] = field(default_factory=dict)
    origin: str = ""

    def __call__(self, xy: Tensor) -> Tensor:
        return self.fn(xy)

    @property
    def spec(self) -> str:
        """The name with its parameters, as the CLI takes it: ``quadratic:kappa=50``."""
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v!r}" for k, v in self.params.items())

    def check(self) -> None:
        """Evaluates ``fn`` once on three points of the domain and checks that it returns
        one loss per point (shape ``(3,)`` for input ``(3, 2)``) that autograd can
        differentiate. A surface that returned one value for the whole batch would
        silently couple independent runs.

        Raises:
            ValueError: the domain is not finite (or empty), or the output has the wrong
                type or shape, or has no gradient.
        """
        who = repr(self.origin if self.origin not in ("", "builtin") else self.name)
        (x0, x1), (y0, y1) = self.domain
        if not _finite_interval(x0, x1) or not _finite_interval(y0, y1):
            named = repr(self.spec) if self.origin == "builtin" else who
            raise ValueError(f"surface {named} has domain {self.domain}; a domain needs finite "
                             "numbers with x0 < x1 and y0 < y1 (are its parameters too large?)")
        xy = torch.tensor([[x0 + (x1 - x0) * u, y0 + (y1 - y0) * v]
                           for u, v in ((0.3, 0.4), (0.5, 0.5), (0.7, 0.8))],
                          dtype=torch.float32, requires_grad=True)
        out = self.fn(xy)
        if not isinstance(out, Tensor):
            raise ValueError(f"surface {who} returned a {type(out).__name__}; it must "
                             "return a torch tensor")
        if tuple(out.shape) != (3,):
            raise ValueError(
                f"surface {who} returned shape {tuple(out.shape)} for input of shape "
                "(3, 2); a surface must return one loss per point, shape (3,) (reduce over "
                "the last axis only, e.g. (xy ** 2).sum(-1), never over the batch)")
        try:
            torch.autograd.grad(out.sum(), xy)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"surface {who} cannot be differentiated by torch "
                             f"autograd: {first}") from None

    def nearest_minimum(self, xy: Tensor) -> tuple[Tensor, Tensor]:
        """Index of and distance to the closest known minimum for points ``(..., 2)``."""
        if not self.minima:
            raise ValueError(f"surface {self.name!r} has no known minima")
        m = torch.tensor(self.minima, dtype=xy.dtype, device=xy.device)
        d = torch.linalg.vector_norm(xy[..., None, :] - m, dim=-1)
        dist, idx = d.min(dim=-1)
        return idx, dist

    @classmethod
    def from_callable(
        cls,
        fn: SurfaceFn,
        *,
        name: str | None = None,
        domain: Domain = ((-3.0, 3.0), (-3.0, 3.0)),
        **kwargs: object,
    ) -> Surface:
        """Wraps a user's ``f(xy) -> loss`` (``xy`` of shape ``(..., 2)``) as a surface."""
        return cls(name or getattr(fn, "__name__", "custom"), fn, domain, **kwargs)


def _finite_interval(lo: object, hi: object) -> bool:
    """Whether ``lo < hi`` are finite numbers."""
    try:
        a, b = float(lo), float(hi)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return math.isfinite(a) and math.isfinite(b) and a < b


SurfaceFactory = Callable[..., Surface]
_REGISTRY: dict[str, SurfaceFactory] = {}


def register(factory: SurfaceFactory) -> SurfaceFactory:
    """Registers a surface factory under its function name; its keyword defaults are the
    surface's parameters and its docstring's first line is the description."""
    description = (factory.__doc__ or "").strip().splitlines()[0]

    @functools.wraps(factory)
    def build(**params: float) -> Surface:
        surface = factory(**params)
        return replace(surface, description=surface.description or description,
                       origin="builtin")

    _REGISTRY[factory.__name__] = build
    return build


def names() -> list[str]:
    """The registered surfaces' names, sorted (what `get` takes)."""
    return sorted(_REGISTRY)


def defaults(name: str) -> dict[str, object]:
    """The parameters a registered surface takes, with their default values."""
    sig = inspect.signature(_lookup(name))
    return {p.name: p.default for p in sig.parameters.values()}


def get(name: str, **params: float) -> Surface:
    """Builds the registered surface ``name`` with ``params`` overriding its defaults."""
    factory = _lookup(name)
    valid = defaults(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        takes = ", ".join(valid) if valid else "no parameters"
        raise ValueError(f"surface {name!r} does not take {', '.join(unknown)}; it takes {takes}")
    for key, value in params.items():
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value)):
            raise ValueError(f"surface {name!r}: {key} must be a finite number, got {value!r}")
    return factory(**params)


def closest(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``name``, else an empty string."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _lookup(name: str) -> SurfaceFactory:
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(names())
        raise ValueError(
            f"unknown surface {name!r}{closest(name, names())}; valid surfaces: {valid}"
        ) from None
