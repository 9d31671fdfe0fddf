"""The teaching race: what ``trajviz animate`` and ``trajviz plot`` draw, as library calls.

Unless told otherwise, the seed optimizers race on Rosenbrock; an optimizer named without
``lr`` runs at the surface's teaching learning rate, for the surface's teaching step count
(`trajviz.teaching`), and the animation is subsampled to `FRAMES` frames.

Example:
    >>> import trajviz
    >>> from trajviz.race import teaching_animation
    >>> anim = teaching_animation("rosenbrock")  # exactly `trajviz animate --surface rosenbrock`
    >>> path = trajviz.save(anim, "/tmp/rosenbrock.gif")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

import surfaces
from surfaces import Surface

from ._resolve import resolve_surface
from .engine import run
from .errors import UsageError
from .optimizers import SEED_OPTIMIZERS, OptimizerSpec
from .plot.animate import DEFAULT_FPS, RunAnimation, animate, plot
from .run import Run
from .teaching import teaching, teaching_optimizers

DEFAULT_SURFACE = "rosenbrock"
FRAMES = 200  # the teaching animation's frame budget (a long run is subsampled evenly)

Optimizers = str | Sequence[str | OptimizerSpec]


def noisy_surface(surface: Surface | str, noise: float = 0.0, *, batch_size: int = 1,
                  seed: int = 0) -> Surface:
    """``surface`` with Gaussian gradient noise of std ``noise / sqrt(batch_size)``
    (`surfaces.noisy`), or as it is without noise."""
    surface = resolve_surface(surface)
    if not noise:
        return surface
    try:
        return surfaces.noisy(surface, noise, batch_size=batch_size, seed=seed)
    except ValueError as e:
        raise UsageError(str(e)) from None


def teaching_run(surface: Surface | str = DEFAULT_SURFACE,
                 optimizers: Optimizers = SEED_OPTIMIZERS, *, steps: int | None = None,
                 noise: float = 0.0, batch_size: int = 1, seed: int = 0,
                 **run_options: Any) -> tuple[Surface, Run]:
    """The race on ``surface`` with its teaching defaults, and the surface it ran on.

    Args:
        surface: a `Surface` or a spec; its teaching learning rates and step count apply.
        optimizers: specs; a seed optimizer named without ``lr`` gets its teaching lr.
        steps: optimizer steps (default: the surface's teaching step count).
        noise, batch_size: gradient noise (`noisy_surface`); the teaching defaults are
            those of the surface without noise.
        seed: seeds torch before the run, and the noise.
        run_options: the other options of `trajviz.run` (``starts``, ``scheduler``,
            ``device``, ``dtype``, ``bound``, ``progress``).
    """
    base = resolve_surface(surface)
    specs = teaching_optimizers(base, optimizers)
    ran_on = noisy_surface(base, noise, batch_size=batch_size, seed=seed)
    return ran_on, run(ran_on, specs, steps=steps or teaching(base).steps, seed=seed,
                       **run_options)


def teaching_animation(surface: Surface | str = DEFAULT_SURFACE,
                       optimizers: Optimizers = SEED_OPTIMIZERS, *, frames: int = FRAMES,
                       fps: float = DEFAULT_FPS, run_options: Mapping[str, Any] | None = None,
                       **figure_options: Any) -> RunAnimation:
    """The teaching race as an animation (``trajviz animate``): `teaching_run` with
    ``run_options``, drawn by `trajviz.animate` with ``figure_options``."""
    ran_on, result = teaching_run(surface, optimizers, **(run_options or {}))
    return animate(result, ran_on, frames=frames, fps=fps, **figure_options)


def teaching_plot(surface: Surface | str = DEFAULT_SURFACE,
                  optimizers: Optimizers = SEED_OPTIMIZERS, *,
                  run_options: Mapping[str, Any] | None = None,
                  **figure_options: Any) -> Figure:
    """The teaching race's final state as a static figure (``trajviz plot``)."""
    ran_on, result = teaching_run(surface, optimizers, **(run_options or {}))
    return plot(result, ran_on, **figure_options)


def teaching_flow(n: int, surface: Surface | str = DEFAULT_SURFACE,
                  optimizers: Optimizers = SEED_OPTIMIZERS, *, frames: int = FRAMES,
                  fps: float = DEFAULT_FPS, run_options: Mapping[str, Any] | None = None,
                  **figure_options: Any) -> RunAnimation:
    """The teaching race from every cell of an ``n`` x ``n`` grid over the domain, as
    particles, one panel per optimizer (``trajviz animate --flow N``); a flow too large to
    record is refused before any work (`check_flow_size`)."""
    from .plot.flow import animate_flow, check_flow_size, flow_starts

    options = dict(run_options or {})
    if options.pop("starts", None) is not None:
        raise UsageError("a flow makes its own starts (an n x n grid over the domain)")
    base = resolve_surface(surface)
    check_flow_size(n, len(teaching_optimizers(base, optimizers)),
                    options.get("steps") or teaching(base).steps,
                    itemsize=8 if str(options.get("dtype")).endswith("float64") else 4)
    ran_on, result = teaching_run(base, optimizers, starts=flow_starts(base, n), **options)
    return animate_flow(result, ran_on, frames=frames, fps=fps, **figure_options)
