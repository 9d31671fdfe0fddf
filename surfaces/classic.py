"""Classic optimisation test functions: valleys, bowls and polynomial puzzles."""

from __future__ import annotations

from torch import Tensor

from ._base import Surface, register


def _xy(p: Tensor) -> tuple[Tensor, Tensor]:
    return p[..., 0], p[..., 1]


@register
def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Curved narrow valley; easy to find, slow to follow to the minimum."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return (a - x) ** 2 + b * (y - x**2) ** 2

    return Surface("rosenbrock", fn, ((-2.0, 2.0), (-1.0, 3.0)), minima=((a, a * a),),
                   min_value=0.0, start=(-1.5, 2.5), log_scale=True, params={"a": a, "b": b})


@register
def beale() -> Surface:
    """Sharp ridges at the corners, flat valley to the minimum at (3, 0.5)."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
                + (2.625 - x + x * y**3) ** 2)

    return Surface("beale", fn, ((-4.5, 4.5), (-4.5, 4.5)), minima=((3.0, 0.5),),
                   min_value=0.0, start=(1.0, 1.5), log_scale=True)


@register
def himmelblau() -> Surface:
    """Four equal minima: which one an optimizer finds depends on where it starts."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    minima = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573),
              (-3.779310253377747, -3.283185991286169), (3.5844283403304917, -1.8481265269644034))
    return Surface("himmelblau", fn, ((-5.0, 5.0), (-5.0, 5.0)), minima=minima, min_value=0.0,
                   saddles=((-0.270845, -0.923039),), start=(-0.5, 0.0), log_scale=True)


@register
def booth() -> Surface:
    """A tilted quadratic bowl with its minimum at (1, 3)."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    return Surface("booth", fn, ((-10.0, 10.0), (-10.0, 10.0)), minima=((1.0, 3.0),),
                   min_value=0.0, start=(-8.0, -8.0), log_scale=True)


@register
def matyas() -> Surface:
    """A flat, slightly elongated bowl: small gradients everywhere."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return 0.26 * (x**2 + y**2) - 0.48 * x * y

    return Surface("matyas", fn, ((-10.0, 10.0), (-10.0, 10.0)), minima=((0.0, 0.0),),
                   min_value=0.0, start=(-8.0, 6.0), log_scale=True)


@register
def goldstein_price() -> Surface:
    """Steep walls around several local minima; the global one is 3 at (0, -1)."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
        b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
        return a * b

    return Surface("goldstein_price", fn, ((-2.0, 2.0), (-3.0, 1.0)), minima=((0.0, -1.0),),
                   min_value=3.0, start=(-0.5, 0.5), log_scale=True)


@register
def six_hump_camel() -> Surface:
    """Two global minima among six humps and valleys."""

    def fn(p: Tensor) -> Tensor:
        x, y = _xy(p)
        return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2

    minima = ((0.08984201310031806, -0.7126564030207396),
              (-0.08984201310031806, 0.7126564030207396))
    return Surface("six_hump_camel", fn, ((-2.0, 2.0), (-1.2, 1.2)), minima=minima,
                   min_value=-1.0316284534898774, start=(-1.6, -0.9))
