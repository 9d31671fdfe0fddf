"""The lessons: the famous optimizer animations, each with its claims written down.

Every function returns its `Lesson`; `LESSONS` maps each name to its function (filled by
`_register`, so the list is what is defined here). The numbers in the claims are what the
run shows with this torch; `tests/test_lessons.py` runs every lesson and fails if one stops
holding.
"""

from __future__ import annotations

from collections.abc import Callable

from surfaces import closest

from ..errors import UsageError
from ._claims import (
    Arrives,
    ArrivesFirst,
    DivergesAbove,
    DivergesAt,
    GradientAbove,
    Jumps,
    LateLossOrder,
    Leaves,
    LossDrops,
    LossFalls,
    LrAt,
    Speeds,
    StaysAway,
    StaysOn,
    StepIs,
    StepRatio,
    ZigZags,
)
from ._lesson import Lesson, Track

LESSONS: dict[str, Callable[[], Lesson]] = {}


def _register(fn: Callable[[], Lesson]) -> Callable[[], Lesson]:
    LESSONS[fn.__name__] = fn
    return fn


def names() -> list[str]:
    """The lessons' names, in teaching order (what `get` takes)."""
    return list(LESSONS)


def get(name: str) -> Lesson:
    """The lesson called ``name``; an unknown name lists the valid ones."""
    try:
        return LESSONS[name]()
    except KeyError:
        raise UsageError(f"unknown lesson {name!r}{closest(name, names())}; valid lessons: "
                         f"{', '.join(names())}") from None


@_register
def ravine() -> Lesson:
    """A long narrow valley: SGD zig-zags across it, momentum builds speed along it."""
    return Lesson(
        name="ravine", title="A ravine: zig-zag or build speed?",
        surface="quadratic:kappa=50", start=(-1.8, 0.8), steps=250,
        tracks=(Track("sgd:lr=0.035"), Track("momentum:lr=0.01")),
        question="Plain SGD, or momentum with a smaller lr: which one reaches the bottom "
                 "of the ravine first?",
        caption="Watch the bars: SGD's Δy flips sign at every step as it zig-zags across "
                "the ravine, then it crawls along it. Momentum swings wider, but its Δx grows "
                "step after step: it builds speed along the ravine and arrives first.",
        claims=(ZigZags("sgd", axis=1, steps=30), Speeds("momentum", axis=0, steps=10),
                ArrivesFirst("momentum", "sgd", within=1e-3)),
    )


@_register
def saddle() -> Lesson:
    """A saddle point: from its axis, no gradient method breaks the symmetry; noise does."""
    return Lesson(
        name="saddle", title="A saddle point: who gets out?",
        surface="saddle", start=(-1.8, 0.0), steps=120, bound=3.0,
        tracks=(Track("sgd:lr=0.05"), Track("momentum:lr=0.01"), Track("adam:lr=0.05"),
                Track("sgd:lr=0.05", name="noisy sgd", noise=1.0)),
        question="Starting on the saddle's axis (y = 0): which optimizers get out of the "
                 "saddle?",
        caption="On y = 0 the gradient has no y part: SGD, momentum and Adam slide into the "
                "saddle point and stay, as nothing breaks the symmetry. Noisy gradients push "
                "SGD off the axis and out.",
        claims=(StaysOn("sgd", axis=1), StaysOn("momentum", axis=1), StaysOn("adam", axis=1),
                Arrives("sgd", within=1e-3, by=100, point=(0.0, 0.0)),
                Leaves("noisy sgd", axis=1, beyond=1.0, by=60)),
    )


@_register
def noise() -> Lesson:
    """Batch, mini-batch and stochastic gradients: the same SGD, noisier and noisier."""
    return Lesson(
        name="noise", title="Batch, mini-batch, stochastic",
        surface="quadratic:kappa=10", start=(-1.8, 0.8), steps=150,
        tracks=(Track("sgd:lr=0.05", name="batch"),
                Track("sgd:lr=0.05", name="mini-batch", noise=3.0, batch_size=16),
                Track("sgd:lr=0.05", name="stochastic", noise=3.0, batch_size=1)),
        question="The same SGD with exact, mini-batch and single-example gradients: "
                 "which one settles closest to the minimum?",
        caption="The exact (batch) gradient slides smoothly down; a mini-batch of 16 "
                "jitters; one example at a time wanders most and never settles, its loss "
                "staying highest.",
        claims=(LossFalls("batch"),
                LateLossOrder(("batch", "mini-batch", "stochastic"), fraction=0.25)),
    )


@_register
def beale() -> Lesson:
    """Beale's function: large gradients at the start, a flat valley after."""
    return Lesson(
        name="beale", title="Beale: large gradients first",
        surface="beale", start=(1.0, 1.5), steps=400, bound=10.0,
        tracks=(Track("sgd:lr=0.05", name="sgd 0.05"), Track("sgd:lr=0.01", name="sgd 0.01"),
                Track("adam:lr=0.1")),
        question="The gradient at the start is longer than 90; near the minimum it is tiny. "
                 "Whose first steps are sane?",
        caption="SGD's step is lr times the gradient: with lr 0.05 its first step is over 30 "
                "times Adam's and it diverges at step 2 (|x| > 10); with lr 0.01 it survives "
                "but crawls in the flat valley. Adam's first step is its lr along each axis, "
                "whatever the gradient, and it reaches the minimum first.",
        claims=(GradientAbove("adam", step=0, size=90), DivergesAt("sgd 0.05", step=2),
                StepIs("adam", step=0, length=0.1),
                StepRatio("sgd 0.05", "adam", step=0, factor=30),
                ArrivesFirst("adam", "sgd 0.01", within=0.05)),
    )


@_register
def rosenbrock() -> Lesson:
    """Rosenbrock's curved valley: easy to find, slow to follow."""
    return Lesson(
        name="rosenbrock", title="Rosenbrock: a curved valley",
        surface="rosenbrock", start=(0.0, 2.5), steps=500,
        tracks=(Track("sgd:lr=0.001"), Track("momentum:lr=0.001"), Track("adam:lr=0.1")),
        question="Finding the valley is easy. Who follows its curve all the way to the "
                 "minimum at (1, 1)?",
        caption="Within 20 steps every optimizer is down to 1% of its starting loss: the "
                "valley is found. Its floor is nearly flat and curved: Adam gets within 0.2 of the "
                "minimum first, then momentum; SGD crawls and never gets within 0.8.",
        claims=(*(LossDrops(t, share=0.01, by=20) for t in ("sgd", "momentum", "adam")),
                ArrivesFirst("adam", "momentum", within=0.2),
                ArrivesFirst("momentum", "sgd", within=0.2), StaysAway("sgd", within=0.8)),
    )


@_register
def plateau() -> Lesson:
    """A plateau, then a cliff: tiny gradients first, a sudden drop after."""
    return Lesson(
        name="plateau", title="A plateau, then a cliff",
        surface="plateau", start=(3.0, 2.5), steps=200,
        tracks=(Track("sgd:lr=2.0"), Track("momentum:lr=0.2"), Track("adam:lr=0.3")),
        question="On a plateau the gradient almost vanishes. Who crosses it first, and what "
                 "happens at the cliff?",
        caption="SGD's step is as small as the gradient: it creeps across the plateau, then "
                "at the cliff its step grows over 15 times and flings it across the well. "
                "Adam divides by the gradient's size: it crosses first, at a steady pace.",
        claims=(ArrivesFirst("adam", "sgd", within=1.2), Jumps("sgd", factor=15),
                Arrives("sgd", within=1e-3, by=200)),
    )


@_register
def divergence() -> Lesson:
    """A learning rate too large: each step overshoots more than it corrects."""
    return Lesson(
        name="divergence", title="A learning rate too large",
        surface="quadratic:kappa=10", start=(-1.8, 0.8), steps=100, bound=10.0,
        tracks=(Track("sgd:lr=0.05", name="lr 0.05"), Track("sgd:lr=0.19", name="lr 0.19"),
                Track("sgd:lr=0.21", name="lr 0.21")),
        question="Three learning rates for the same SGD. Which one blows up?",
        caption="Along y the curvature is 10: above two over the curvature, 0.2, each step "
                "overshoots by more than it corrects. lr 0.21 zig-zags outwards and diverges "
                "at step 27 (|y| > 10); lr 0.19 zig-zags inwards; lr 0.05 glides.",
        claims=(DivergesAbove(limit=0.2), DivergesAt("lr 0.21", step=27),
                ZigZags("lr 0.19", axis=1, steps=50),
                Arrives("lr 0.19", within=1e-3, by=100)),
    )


@_register
def steplr() -> Lesson:
    """A StepLR schedule: large steps early to travel, small steps late to settle."""
    return Lesson(
        name="steplr", title="StepLR: large steps early, small late",
        surface="quadratic:kappa=3", start=(-1.8, 0.8), steps=200,
        tracks=(Track("sgd:lr=0.3", name="steplr", noise=1.0,
                      scheduler="steplr:step_size=40,gamma=0.2"),
                Track("sgd:lr=0.3", name="lr 0.3", noise=1.0),
                Track("sgd:lr=0.02", name="lr 0.02", noise=1.0)),
        question="Noisy gradients: a large lr, a small lr, or a large lr cut every 40 "
                 "steps. Which one ends closest to the minimum?",
        caption="A large lr (0.3) travels fast but keeps bouncing in the noise; a small "
                "one (0.02) is calm but slow. StepLR starts large and cuts the lr to a "
                "fifth every 40 steps: it travels first, then settles, with the lowest loss.",
        claims=(LrAt("steplr", step=39, lr=0.3), LrAt("steplr", step=40, lr=0.06),
                ArrivesFirst("steplr", "lr 0.02", within=0.3),
                LateLossOrder(("steplr", "lr 0.3")), LateLossOrder(("steplr", "lr 0.02"))),
    )
