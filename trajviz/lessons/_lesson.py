"""`Lesson`: one pathology of optimization, its run, its caption and the claims behind it.

A lesson is data: a surface, one shared start, a few tracks (an optimizer with its learning
rate, and optionally gradient noise or a scheduler), a question, a caption and the claims
the caption makes. `Lesson.run` runs it with the real optimizers and checks every claim on
that run; `LessonRun` draws it (a `RunFigure` with the caption under the title and the
question on a card over the first frames) and saves it through the usual writers.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import surfaces
from surfaces import Surface

from .._resolve import resolve_surface
from ..checks import check_step, number
from ..engine import run as run_engine
from ..optimizers import parse_optimizer, parse_scheduler
from ..plot.animate import RunAnimation, save
from ..plot.figure import RunFigure
from ..plot.panels import Grid
from ..run import ARRAYS, Run
from ._claims import Claim, Tracks, Verdict

QUESTION_STEP = -1  # the step a `LessonFigure` shows its question card at
MAX_QUESTION_FRAMES = 1200  # 60 s at 20 fps; each held frame is rendered like any other


class ClaimError(AssertionError):
    """A lesson's caption claims something its run no longer shows."""


@dataclass(frozen=True)
class Track:
    """One trajectory of a lesson: an optimizer, and how its gradient or lr is made.

    Attributes:
        optimizer: a spec such as ``"sgd:lr=0.035"``.
        name: what the figure and the claims call it (default: the optimizer's name).
        noise: std of Gaussian noise added to each gradient (`surfaces.noisy`).
        batch_size: the noise shrinks as ``noise / sqrt(batch_size)`` (a mini-batch).
        scheduler: an LR scheduler spec, e.g. ``"steplr:step_size=50,gamma=0.2"``.
    """

    optimizer: str
    name: str | None = None
    noise: float = 0.0
    batch_size: int = 1
    scheduler: str | None = None

    @property
    def key(self) -> str:
        return self.name or parse_optimizer(self.optimizer).name

    @property
    def label(self) -> str:
        """``name(settings)``: the legend shows the settings, learning rate included."""
        spec = parse_optimizer(self.optimizer)
        parts = [] if spec.name in self.key.split() else [spec.name]
        parts += [f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                  for k, v in spec.kwargs.items()]
        if self.noise:
            parts.append(f"noise={self.noise:g}" + (f", B={self.batch_size}"
                                                     if self.batch_size > 1 else ""))
        if self.scheduler:
            parts.append(parse_scheduler(self.scheduler).label)
        return f"{self.key}({', '.join(parts)})"


@dataclass(frozen=True)
class Lesson:
    """A lesson as data (see the module's docstring).

    Attributes:
        name: what ``trajviz lesson NAME`` takes.
        title: one line for the list and the figure's title.
        surface: a surface spec.
        start: the one start every track shares.
        steps: optimizer steps.
        tracks: the trajectories, each with its own name.
        question: held on a card over the first frames.
        caption: what to watch, shown under the title all along.
        claims: what the caption asserts, checked on every run.
        bound: a track diverges where a coordinate's magnitude exceeds it (default: the
            engine's, 1000 times the domain's extent).
        dtype: the run's precision.
        seed: seeds the run and the gradient noise.
    """

    name: str
    title: str
    surface: str
    start: tuple[float, float]
    steps: int
    tracks: tuple[Track, ...]
    question: str
    caption: str
    claims: tuple[Claim, ...]
    bound: float | None = None
    dtype: str = "float64"
    seed: int = 0

    def __post_init__(self) -> None:
        keys = [t.key for t in self.tracks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"lesson {self.name!r}: track names must differ, got {keys}")

    @property
    def track_names(self) -> list[str]:
        return [t.key for t in self.tracks]

    def run(self, *, device: str = "cpu", progress: bool | None = False) -> LessonRun:
        """Runs every track from the shared start and checks every claim on the run.

        Tracks that share their noise and scheduler run together in one batched engine
        run; the others run on their own (each noisy track from the same seeded noise).
        """
        base = resolve_surface(self.surface)
        groups: dict[tuple, list[int]] = {}
        for i, t in enumerate(self.tracks):
            groups.setdefault((t.noise, t.batch_size, t.scheduler), []).append(i)
        runs: list[tuple[list[int], Run]] = []
        for (noise, batch, scheduler), rows in groups.items():
            surface = surfaces.noisy(base, noise, batch_size=batch, seed=self.seed) if noise \
                else base
            runs.append((rows, run_engine(surface, [self.tracks[i].optimizer for i in rows],
                                          steps=self.steps, starts=[self.start],
                                          scheduler=scheduler, device=device,
                                          dtype=self.dtype, seed=self.seed, bound=self.bound,
                                          progress=progress)))
        run = _join(runs, self, base)
        tracks = Tracks(run, self.track_names, np.asarray(base.minima, dtype=float))
        return LessonRun(self, base, run, tuple(c.check(tracks) for c in self.claims))


def _join(runs: list[tuple[list[int], Run]], lesson: Lesson, surface: Surface) -> Run:
    """One `Run` with the tracks in the lesson's order, labelled as the lesson names them."""
    order = np.argsort(np.concatenate([rows for rows, _ in runs]))
    arrays = {name: np.concatenate([getattr(r, name) for _, r in runs])[order]
              for name in ARRAYS}
    described = [d for _, r in runs for d in r.meta["optimizers"]]
    described = [described[i] for i in order]
    labels = [t.label for t in lesson.tracks]
    meta = {**runs[0][1].meta, "surface": surface.spec, "surface_name": surface.name,
            "labels": labels, "n_starts": 1, "lesson": lesson.name,
            "optimizers": [{**d, "label": label, "noise": t.noise, "batch_size": t.batch_size,
                            "scheduler": t.scheduler}
                           for d, label, t in zip(described, labels, lesson.tracks,
                                                  strict=True)],
            "scheduler": None}
    return Run(**arrays, meta=meta)


@dataclass(frozen=True, eq=False)
class LessonRun:
    """A lesson's run and its claims, checked.

    Attributes:
        lesson: the lesson.
        surface: the surface it ran on (without the noise).
        run: one trajectory per track, in the lesson's order.
        verdicts: one per claim.
    """

    lesson: Lesson
    surface: Surface
    run: Run
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def holds(self) -> bool:
        """Whether every claim holds."""
        return all(v.holds for v in self.verdicts)

    def check(self) -> LessonRun:
        """Raises `ClaimError` naming every claim that does not hold; returns itself."""
        failed = [v for v in self.verdicts if not v.holds]
        if failed:
            raise ClaimError(f"lesson {self.lesson.name!r}: "
                             + "; ".join(str(v) for v in failed))
        return self

    def report(self) -> str:
        """The title, the caption and every claim with what was measured."""
        lines = [f"{self.lesson.name}: {self.lesson.title}", *textwrap.wrap(
            self.lesson.caption, 88, initial_indent="  ", subsequent_indent="  ")]
        return "\n".join([*lines, *(f"  {v}" for v in self.verdicts)])

    def figure(self, *, question_frames: int = 40, background: Grid | None = None,
               **options: Any) -> LessonFigure:
        """The run drawn with its caption and question (options as for `RunFigure`)."""
        options.setdefault("title", f"{self.lesson.title}")
        return LessonFigure(self.run, self.surface, question=self.lesson.question,
                            question_frames=question_frames, caption=self.lesson.caption,
                            background=background, **options)

    def animate(self, *, frames: int | None = 200, fps: float = 20,
                **options: Any) -> RunAnimation:
        """An animation: the question card, then ``frames`` steps (see `trajviz.animate`)."""
        rf = self.figure(**options)
        return RunAnimation(rf, rf.frame_steps(frames), fps)

    def save(self, path: str | os.PathLike[str], *, frames: int | None = 200,
             fps: float = 20, progress: bool | None = None, **options: Any) -> Path:
        """Writes the lesson to ``path`` with any writer (``.gif``, ``.mp4``, ``.html``,
        ...); refuses with `ClaimError`, writing nothing, if a claim does not hold."""
        self.check()
        return save(self.animate(frames=frames, fps=fps, **options), path, progress=progress)


class LessonFigure(RunFigure):
    """A `RunFigure` with a caption under the title and a question card that shows at
    step `QUESTION_STEP` (``-1``): `frame_steps` opens with ``question_frames`` of them.

    Args:
        question: the card's text.
        question_frames: how many frames the card is held for, at most
            `MAX_QUESTION_FRAMES`.
        options: as for `RunFigure` (``caption`` among them).
    """

    def __init__(self, run: Run, surface: Surface | str, *, question: str,
                 question_frames: int = 40, **options: Any) -> None:
        self.question = question
        self.question_frames = number(question_frames, "question_frames", integer=True, lo=0,
                                      hi=MAX_QUESTION_FRAMES)
        super().__init__(run, surface, **options)

    def _build(self, grid: Grid, **kwargs: Any) -> None:
        super()._build(grid, **kwargs)
        th = self.theme
        self.question_card = self.fig.text(
            0.5, 0.5, "\n".join(textwrap.wrap(self.question, 34)), ha="center", va="center",
            fontsize=17, fontweight="bold", color=th.foreground, zorder=20, visible=False,
            linespacing=1.4,
            bbox=dict(boxstyle="round,pad=0.9", facecolor=th.background, alpha=0.94,
                      edgecolor=th.foreground, linewidth=1.2))

    @property
    def dynamic(self) -> list:
        return sorted([*super().dynamic, self.question_card], key=lambda a: a.get_zorder())

    def set_step(self, t: int) -> list:
        t = check_step(t)
        self.question_card.set_visible(t < 0)
        return [*super().set_step(max(t, 0)), self.question_card]

    def frame_steps(self, frames: int | None = None) -> np.ndarray:
        return np.concatenate([np.full(self.question_frames, QUESTION_STEP),
                               super().frame_steps(frames)])

