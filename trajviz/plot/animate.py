"""`animate`, `plot` and `save`: a run as a matplotlib animation or figure, saved to any format.

Example:
    >>> import trajviz
    >>> run = trajviz.run("rosenbrock", "adam:lr=0.05", steps=100)
    >>> anim = trajviz.animate(run, "rosenbrock", frames=50)
    >>> path = trajviz.save(anim, "/tmp/adam.gif")
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.animation import Animation, FFMpegWriter, FuncAnimation, PillowWriter
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from surfaces import Surface

from .._io import atomic_dir, atomic_path
from ..checks import check_figure_size, check_text, number
from ..errors import UsageError, UsageTypeError
from ..run import Run
from ._blit import BlittedFigure
from .figure import RunFigure
from .still import STILL_FORMATS, is_still_format, save_figure
from .writers import FrameWriter, ffmpeg_exe, writer_for

log = logging.getLogger(__name__)
MAX_FPS = 1000.0
DEFAULT_FPS = 20


class RunAnimation(FuncAnimation):
    """A `FuncAnimation` over the steps of a `RunFigure` (or any `BlittedFigure`, such as
    a flow); `save` renders it by blitting.

    Attributes:
        run_figure: the figure it animates.
        steps: the run's step shown in each frame.
        fps: its frame rate.
        rendered: whether `save` has rendered it.
    """

    def __init__(self, run_figure: BlittedFigure, steps: np.ndarray, fps: float) -> None:
        self.run_figure, self.steps, self.fps = run_figure, steps, fps
        self.rendered = False
        super().__init__(run_figure.fig, run_figure.set_step, frames=[int(t) for t in steps],
                         interval=1000 / fps, blit=False, repeat=True, cache_frame_data=False)

    def __del__(self) -> None:
        # matplotlib warns when an animation it never drew is deleted: one that `save`
        # rendered (by blitting, not through matplotlib) was not forgotten
        if not self.rendered:
            super().__del__()


def animate(run: Run, surface: Surface | str, *, frames: int | None = None,
            fps: float = DEFAULT_FPS,
            **figure_options: Any) -> RunAnimation:
    """The run as an animation: one frame per step, or ``frames`` evenly spread steps.

    ``figure_options`` go to `RunFigure` (``updates``, ``arrows``, ``view``, ``theme``,
    ``size``, ``dpi``, ...). In a notebook, ``anim.to_jshtml()`` shows it; `save` writes it.
    """
    fps = _check_fps(fps)
    frames = _check_frames(frames)
    rf = RunFigure(run, surface, **_checked_options(run, figure_options))
    return RunAnimation(rf, rf.frame_steps(frames), fps)


def plot(run: Run, surface: Surface | str, **figure_options: Any) -> Figure:
    """The run's final state as a static figure (options as for `RunFigure`)."""
    rf = RunFigure(run, surface, **_checked_options(run, figure_options))
    rf.set_step(run.steps)
    return rf.fig


def _checked_options(run: Run, options: dict[str, Any]) -> dict[str, Any]:
    """Checks what the figure will be made of before anything is drawn: the run, the size
    in pixels against the caps, and every text matplotlib would parse as math."""
    if not isinstance(run, Run):
        raise UsageTypeError(f"expected a trajviz.Run, got {type(run).__name__}")
    if "size" in options or "dpi" in options:
        size, dpi = check_figure_size(options.get("size", (8, 6)), options.get("dpi", 100))
        options = {**options, "size": size, "dpi": dpi}
    if options.get("title") is not None:
        check_text(options["title"], "title")
    for label in dict.fromkeys(run.meta.get("labels") or []):
        check_text(label, "optimizer label")
    return options


def save(obj: Animation | Figure | BlittedFigure, path: str | os.PathLike[str], *,
         fps: float | None = None,
         frames: int | None = None, progress: bool | None = None,
         writer: str | FrameWriter | None = None, helpers: int | None = None) -> Path:
    """Writes an animation or figure; the format follows the extension (see `writers`).

    Args:
        obj: a `RunAnimation` (from `animate`), a `RunFigure` (or another
            `BlittedFigure`), a static `Figure` (``.png``, ``.svg`` or ``.pdf``) or any
            matplotlib `Animation` (``.gif``/``.mp4``, matplotlib's own path).
        path: ``.gif``, ``.mp4``, ``.png``, ``.html`` (a page that plays offline) or a
            folder name (numbered PNG frames); a static figure: ``.png``, ``.svg``, ``.pdf``.
        fps: frames per second (default: the animation's own, else 20).
        frames: subsample to this many frames (default: the animation's own, or all steps).
        progress: show a progress bar (``None``: only on a terminal, after a moment).
        writer: a writer name or instance instead of choosing by extension (animations).
        helpers: forked processes that render frames besides this one (default: one per
            further CPU, at most 3, for 24 frames or more; 0: all frames here).

    Returns:
        The path written. The write is atomic: the writer writes a temporary file or
        folder, renamed onto ``path`` only when complete; on any failure nothing is left.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise UsageTypeError(f"path must be a file name, got {type(path).__name__}")
    path = Path(path)
    fps = None if fps is None else _check_fps(fps)
    frames = _check_frames(frames)
    if isinstance(obj, Figure):
        return _save_still(obj, path, writer)
    w = writer_for(path, writer)
    if isinstance(obj, RunAnimation):
        rf = obj.run_figure
        steps = obj.steps if frames is None else rf.frame_steps(frames)
        fps = fps or obj.fps
        obj.rendered = True
    elif isinstance(obj, BlittedFigure):
        rf, steps = obj, obj.frame_steps(frames)
    elif isinstance(obj, Animation):
        return _save_foreign(obj, path, w, fps or DEFAULT_FPS)
    else:
        raise UsageError(f"cannot save a {type(obj).__name__}; expected an Animation, a "
                         "Figure or a RunFigure")
    fps = fps or DEFAULT_FPS
    if w.single_frame:
        steps = steps[-1:]
    helpers = None if helpers is None else number(helpers, "helpers", integer=True, lo=0, hi=64)
    atomic = atomic_dir if w.extensions == ("",) else atomic_path
    with atomic(path) as tmp:
        if w.needs_figure:
            w.write_figure(tmp, rf, steps, fps=fps)
        else:
            _render(rf, steps, tmp, w, fps=fps, progress=progress,
                    helpers=helpers, name=path.name)
    log.info("wrote %s: %d frames at %g fps", path, len(steps), fps)
    return path


def _render(rf: BlittedFigure, steps: np.ndarray, path: Path, w: FrameWriter, *, fps: float,
            progress: bool | None, helpers: int | None, name: str) -> None:
    """Renders ``steps`` and hands the frames to ``w``, which writes them to ``path``.

    The writer's sample (the first and last frames: every colour used) comes first in the
    same rendering, so the static background is drawn once."""
    sampled = [steps[0], steps[-1]] if len(steps) > 1 and not w.single_frame else []
    bar = tqdm(total=len(steps), desc=f"rendering {name}", unit="frame", delay=0.5,
               disable=None if progress is None else not progress, leave=False)
    with contextlib.closing(rf.frames([*sampled, *steps], helpers=helpers)) as rendered:
        sample = np.concatenate([np.array(next(rendered)) for _ in sampled]) if sampled else None

        def frames() -> Iterator[np.ndarray]:
            for frame in rendered:
                yield frame
                bar.update()

        try:
            w.write(path, frames(), fps=fps, n_frames=len(steps), sample=sample)
        finally:
            bar.close()


def _save_still(fig: Figure, path: Path, writer: str | FrameWriter | None) -> Path:
    if writer is not None:
        raise UsageError("a static figure is saved in the format its extension names; "
                         "writer= is for animations")
    if not is_still_format(path):
        raise UsageError(f"a static figure can only be saved as {', '.join(STILL_FORMATS)}, "
                         f"not {str(path)!r}; use animate() for an animation")
    return save_figure(fig, path)


def _save_foreign(anim: Animation, path: Path, w: FrameWriter, fps: float) -> Path:
    """Any other matplotlib animation, through matplotlib's own writers."""
    if w.name not in ("gif", "mp4"):
        raise UsageError(f"a matplotlib Animation can be saved as .gif or .mp4, not "
                         f"{str(path)!r}")
    with atomic_path(path, suffix=path.suffix) as tmp, \
            mpl.rc_context({"animation.ffmpeg_path": ffmpeg_exe() or "ffmpeg"}):
        mpl_writer = PillowWriter(fps=fps) if w.name == "gif" else FFMpegWriter(fps=fps)
        anim.save(tmp, writer=mpl_writer)
    return path


def _check_fps(fps: float) -> float:
    return number(fps, "fps", lo=0, hi=MAX_FPS, lo_open=True)


def _check_frames(frames: int | None) -> int | None:
    return None if frames is None else number(frames, "frames", integer=True, lo=1)
