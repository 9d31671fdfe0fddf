"""Claims: what a lesson's caption asserts, as data that is checked on the actual run.

Each claim is a frozen dataclass naming tracks of the lesson (``"sgd"``, ``"momentum"``) and
numbers; ``text`` says it in words (derived from the data, so the words cannot drift from
the check) and ``check`` measures it on a `Tracks` view of the run, returning a `Verdict`
with what was measured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..run import Run

AXES = ("x", "y")


class Tracks:
    """A lesson's run seen by track name: each track is one trajectory of the run.

    Args:
        run: one trajectory per track, in the order of ``names``.
        names: the tracks' names.
        minima: the surface's known minima, ``(M, 2)``.
    """

    def __init__(self, run: Run, names: Sequence[str], minima: np.ndarray) -> None:
        self.run, self.names = run, list(names)
        self.minima = np.asarray(minima, dtype=float).reshape(-1, 2)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no track {name!r}; tracks: {', '.join(self.names)}") from None

    def positions(self, name: str) -> np.ndarray:
        """``(steps + 1, 2)``, NaN from the step it diverged."""
        return self.run.positions[self.index(name)].astype(float)

    def updates(self, name: str) -> np.ndarray:
        return self.run.updates[self.index(name)].astype(float)

    def loss(self, name: str) -> np.ndarray:
        return self.run.loss[self.index(name)].astype(float)

    def distance(self, name: str, point: tuple[float, float] | None = None) -> np.ndarray:
        """Distance to ``point`` (default: the nearest known minimum) at every step."""
        target = self.minima if point is None else np.asarray([point], dtype=float)
        if not len(target):
            raise ValueError("this surface has no known minimum; give the claim a point")
        pos = self.positions(name)
        return np.linalg.norm(pos[:, None, :] - target[None], axis=-1).min(axis=1)

    def first_within(self, name: str, within: float,
                     point: tuple[float, float] | None = None) -> int:
        """The first step within ``within`` of the point, or -1."""
        hit = self.distance(name, point) <= within
        return int(hit.argmax()) if hit.any() else -1

    def diverged_at(self, name: str) -> int:
        return int(self.run.diverged_at[self.index(name)])


@dataclass(frozen=True)
class Verdict:
    """A claim checked: whether it holds, and what was measured."""

    claim: Claim
    holds: bool
    measured: str

    def __str__(self) -> str:
        return f"{'holds' if self.holds else 'FAILS'}: {self.claim.text} ({self.measured})"


class Claim(ABC):
    """Something a caption says, checkable on the run."""

    @property
    @abstractmethod
    def text(self) -> str:
        """The claim in words."""

    @abstractmethod
    def check(self, tracks: Tracks) -> Verdict:
        """Measures the claim on the run."""

    def _verdict(self, holds: bool, measured: str) -> Verdict:
        return Verdict(self, bool(holds), measured)


def _at(step: int) -> str:
    return "never" if step < 0 else f"step {step}"


def _target(point: tuple[float, float] | None) -> str:
    return "the minimum" if point is None else f"({point[0]:g}, {point[1]:g})"


@dataclass(frozen=True)
class ArrivesFirst(Claim):
    """``first`` comes within ``within`` of the minimum (or ``point``) before ``second``
    does (``second`` may never arrive)."""

    first: str
    second: str
    within: float
    point: tuple[float, float] | None = None

    @property
    def text(self) -> str:
        return (f"{self.first} is within {self.within:g} of {_target(self.point)} before "
                f"{self.second}")

    def check(self, tracks: Tracks) -> Verdict:
        a = tracks.first_within(self.first, self.within, self.point)
        b = tracks.first_within(self.second, self.within, self.point)
        return self._verdict(a >= 0 and (b < 0 or a < b),
                             f"{self.first} {_at(a)}, {self.second} {_at(b)}")


@dataclass(frozen=True)
class Arrives(Claim):
    """``track`` comes within ``within`` of the minimum (or ``point``) by step ``by``."""

    track: str
    within: float
    by: int
    point: tuple[float, float] | None = None

    @property
    def text(self) -> str:
        return f"{self.track} is within {self.within:g} of {_target(self.point)} by step {self.by}"

    def check(self, tracks: Tracks) -> Verdict:
        a = tracks.first_within(self.track, self.within, self.point)
        return self._verdict(0 <= a <= self.by, f"first within at {_at(a)}")


@dataclass(frozen=True)
class StaysAway(Claim):
    """``track`` is never within ``within`` of the minimum (or ``point``) during the run."""

    track: str
    within: float
    point: tuple[float, float] | None = None

    @property
    def text(self) -> str:
        return f"{self.track} never comes within {self.within:g} of {_target(self.point)}"

    def check(self, tracks: Tracks) -> Verdict:
        d = tracks.distance(self.track, self.point)
        closest = float(np.nanmin(d)) if np.isfinite(d).any() else float("nan")
        return self._verdict(np.isfinite(closest) and closest > self.within,
                             f"closest {closest:.3g}")


@dataclass(frozen=True)
class StaysOn(Claim):
    """``track``'s coordinate ``axis`` is exactly ``value`` at every step."""

    track: str
    axis: int
    value: float = 0.0

    @property
    def text(self) -> str:
        return f"{self.track}'s {AXES[self.axis]} stays exactly {self.value:g} at every step"

    def check(self, tracks: Tracks) -> Verdict:
        coord = tracks.positions(self.track)[:, self.axis]
        off = np.flatnonzero(coord != self.value)
        return self._verdict(off.size == 0, "at every step" if off.size == 0 else
                             f"{AXES[self.axis]} = {coord[off[0]]:.3g} at step {off[0]}")


@dataclass(frozen=True)
class Leaves(Claim):
    """``track``'s coordinate ``axis`` gets farther than ``beyond`` from 0 by step ``by``."""

    track: str
    axis: int
    beyond: float
    by: int

    @property
    def text(self) -> str:
        return f"{self.track}'s |{AXES[self.axis]}| exceeds {self.beyond:g} by step {self.by}"

    def check(self, tracks: Tracks) -> Verdict:
        out = np.abs(tracks.positions(self.track)[:, self.axis]) > self.beyond
        at = int(out.argmax()) if out.any() else -1
        return self._verdict(0 <= at <= self.by, f"first at {_at(at)}")


@dataclass(frozen=True)
class DivergesAt(Claim):
    """``track`` diverges at step ``step`` (``-1``: it never diverges): its position turns
    non-finite or leaves the lesson's bound there."""

    track: str
    step: int

    @property
    def text(self) -> str:
        if self.step < 0:
            return f"{self.track} does not diverge"
        return f"{self.track} diverges at step {self.step}"

    def check(self, tracks: Tracks) -> Verdict:
        at = tracks.diverged_at(self.track)
        return self._verdict(at == self.step, f"diverged at {_at(at)}")


@dataclass(frozen=True)
class DivergesAbove(Claim):
    """Exactly the tracks whose first learning rate exceeds ``limit`` diverge."""

    limit: float

    @property
    def text(self) -> str:
        return f"every track with an lr above {self.limit:g} diverges, and no other"

    def check(self, tracks: Tracks) -> Verdict:
        lr = tracks.run.lr[:, 0]
        gone = tracks.run.diverged_at >= 0
        seen = [f"lr {lr[i]:g} {'diverges' if gone[i] else 'does not'}"
                for i in range(len(tracks.names))]
        return self._verdict(np.array_equal(gone, lr > self.limit), ", ".join(seen))


@dataclass(frozen=True)
class ZigZags(Claim):
    """``track``'s update along ``axis`` changes sign at each of its first ``steps`` steps."""

    track: str
    axis: int
    steps: int

    @property
    def text(self) -> str:
        return (f"{self.track}'s Δ{AXES[self.axis]} changes sign at each of its first "
                f"{self.steps} steps")

    def check(self, tracks: Tracks) -> Verdict:
        sign = np.sign(tracks.updates(self.track)[: self.steps, self.axis])
        same = np.flatnonzero(sign[1:] * sign[:-1] >= 0)
        return self._verdict(len(sign) == self.steps and same.size == 0,
                             "it does" if same.size == 0 else f"not at step {same[0] + 1}")


@dataclass(frozen=True)
class Speeds(Claim):
    """``track``'s step along ``axis`` grows at each of its first ``steps`` steps."""

    track: str
    axis: int
    steps: int

    @property
    def text(self) -> str:
        return f"{self.track}'s |Δ{AXES[self.axis]}| grows at each of its first {self.steps} steps"

    def check(self, tracks: Tracks) -> Verdict:
        size = np.abs(tracks.updates(self.track)[: self.steps + 1, self.axis])
        shrinks = np.flatnonzero(~(size[1:] > size[:-1]))
        return self._verdict(len(size) == self.steps + 1 and shrinks.size == 0,
                             f"x{size[-1] / size[0]:.3g} over them" if shrinks.size == 0
                             else f"not at step {shrinks[0] + 1}")


@dataclass(frozen=True)
class GradientAbove(Claim):
    """``track``'s gradient at ``step`` is longer than ``size``."""

    track: str
    step: int
    size: float

    @property
    def text(self) -> str:
        return f"{self.track}'s gradient at step {self.step} is longer than {self.size:g}"

    def check(self, tracks: Tracks) -> Verdict:
        g = float(np.linalg.norm(tracks.run.grads[tracks.index(self.track), self.step]))
        return self._verdict(g > self.size, f"|gradient| = {g:.4g}")


@dataclass(frozen=True)
class StepIs(Claim):
    """``track``'s update at ``step`` is ``length`` long along each axis (relative ``rtol``)."""

    track: str
    step: int
    length: float
    rtol: float = 1e-3

    @property
    def text(self) -> str:
        return f"{self.track}'s step {self.step} moves {self.length:g} along x and along y"

    def check(self, tracks: Tracks) -> Verdict:
        move = np.abs(tracks.updates(self.track)[self.step])
        return self._verdict(np.allclose(move, self.length, rtol=self.rtol, atol=0),
                             f"|Δx| = {move[0]:.4g}, |Δy| = {move[1]:.4g}")


@dataclass(frozen=True)
class StepRatio(Claim):
    """``big``'s update at ``step`` is at least ``factor`` times as long as ``small``'s."""

    big: str
    small: str
    step: int
    factor: float

    @property
    def text(self) -> str:
        return (f"{self.big}'s step {self.step} is at least {self.factor:g} times as long as "
                f"{self.small}'s")

    def check(self, tracks: Tracks) -> Verdict:
        a = float(np.linalg.norm(tracks.updates(self.big)[self.step]))
        b = float(np.linalg.norm(tracks.updates(self.small)[self.step]))
        return self._verdict(a >= self.factor * b, f"{a:.3g} vs {b:.3g}, x{a / b:.3g}")


@dataclass(frozen=True)
class LateLossOrder(Claim):
    """The mean loss over the last ``fraction`` of the run rises along ``tracks``."""

    tracks: tuple[str, ...]
    fraction: float = 0.25

    @property
    def text(self) -> str:
        share = f"last {self.fraction:.0%} of the steps"
        return f"mean loss over the {share}: {' < '.join(self.tracks)}"

    def check(self, tracks: Tracks) -> Verdict:
        means = []
        for name in self.tracks:
            loss = tracks.loss(name)
            means.append(float(np.mean(loss[-max(1, int(len(loss) * self.fraction)):])))
        rising = all(a < b for a, b in zip(means, means[1:], strict=False))
        holds = all(np.isfinite(means)) and rising
        return self._verdict(holds, ", ".join(f"{m:.3g}" for m in means))


@dataclass(frozen=True)
class LrAt(Claim):
    """``track``'s learning rate in force at ``step`` is ``lr`` (relative 1e-9)."""

    track: str
    step: int
    lr: float

    @property
    def text(self) -> str:
        return f"{self.track}'s learning rate at step {self.step} is {self.lr:g}"

    def check(self, tracks: Tracks) -> Verdict:
        lr = float(tracks.run.lr[tracks.index(self.track), self.step])
        return self._verdict(np.isclose(lr, self.lr, rtol=1e-9, atol=0), f"{lr:.6g}")


@dataclass(frozen=True)
class LossFalls(Claim):
    """``track``'s loss falls at every one of its steps."""

    track: str

    @property
    def text(self) -> str:
        return f"{self.track}'s loss falls at every step"

    def check(self, tracks: Tracks) -> Verdict:
        loss = tracks.loss(self.track)
        rises = np.flatnonzero(~(loss[1:] < loss[:-1]))
        return self._verdict(rises.size == 0, "it does" if rises.size == 0 else
                             f"not at step {rises[0]}")


@dataclass(frozen=True)
class LossDrops(Claim):
    """``track``'s loss falls below ``share`` of its starting value by step ``by``."""

    track: str
    share: float
    by: int

    @property
    def text(self) -> str:
        return f"{self.track}'s loss falls below {self.share:.0%} of its start by step {self.by}"

    def check(self, tracks: Tracks) -> Verdict:
        loss = tracks.loss(self.track)
        below = np.flatnonzero(loss < self.share * loss[0])
        at = int(below[0]) if below.size else -1
        return self._verdict(0 <= at <= self.by, f"at {_at(at)}")


@dataclass(frozen=True)
class Jumps(Claim):
    """``track``'s longest step is at least ``factor`` times as long as its first."""

    track: str
    factor: float

    @property
    def text(self) -> str:
        return f"{self.track}'s longest step is at least {self.factor:g} times its first"

    def check(self, tracks: Tracks) -> Verdict:
        size = np.linalg.norm(tracks.updates(self.track), axis=1)
        longest = int(np.nanargmax(size))
        ratio = size[longest] / size[0]
        return self._verdict(ratio >= self.factor,
                             f"x{ratio:.3g}, {size[longest]:.3g} at step {longest}")
