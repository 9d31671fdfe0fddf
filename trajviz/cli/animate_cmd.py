"""``trajviz animate`` and ``trajviz plot``: a run drawn as an animation or a static figure.

Without ``--from`` they draw the teaching race (`trajviz.race`), whose defaults live there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from surfaces import Surface

from .._io import check_writable, check_writable_dir
from .._resolve import resolve_surface, surface_from_file
from .._specs import parse_spec
from ..checks import check_figure_size
from ..errors import UsageError
from ..plot.animate import MAX_FPS, RunAnimation, animate, plot, save
from ..plot.figure import VIEWS, RunFigure
from ..plot.still import STILL_FORMATS, is_still_format
from ..plot.theme import THEMES
from ..plot.writers import supported, writer_for
from ..race import (
    DEFAULT_SURFACE,
    teaching_animation,
    teaching_flow,
    teaching_plot,
)
from ..run import Run
from ._common import add_command, dpi, integer, keyword_defaults, path, real, size, title_type
from .run_cmd import add_run_options, run_options

ANIMATE_EXAMPLES = """\
  trajviz animate --surface rosenbrock                  # writes rosenbrock.gif
  trajviz animate --surface himmelblau --arrows --theme dark --out himmelblau.mp4
  trajviz animate --surface rosenbrock --optimizers sgd,adam --view 3d
  trajviz animate --surface quadratic:kappa=50 --optimizers sgd:lr=0.03 \\
      --scheduler steplr:step_size=50,gamma=0.5
  trajviz animate --from run.npz --out frames/          # a folder of numbered PNG frames
  trajviz animate --surface rosenbrock --out race.html  # one page that plays offline
  trajviz animate --surface himmelblau --flow 32        # 32 x 32 starts as particles
"""
PLOT_EXAMPLES = """\
  trajviz plot --surface rosenbrock                     # writes rosenbrock.png
  trajviz plot --surface beale --no-updates --out beale.pdf
  trajviz plot --from run.npz --view 3d
"""
FIGURE = keyword_defaults(RunFigure)
ANIMATION = keyword_defaults(teaching_animation)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "animate", "Animate optimizers on a surface: GIF, MP4, PNG frames, "
                    "an offline HTML page.",
                    ANIMATE_EXAMPLES)
    _add_options(p, default_out="SURFACE.gif")
    p.add_argument("--fps", type=real(0, MAX_FPS, lo_open=True), default=ANIMATION["fps"],
                   help="frames per second")
    p.add_argument("--frames", type=integer(1), default=ANIMATION["frames"],
                   help="at most this many frames (long runs are subsampled evenly)")
    p.add_argument("--flow", type=integer(), metavar="N",
                   help="start every optimizer from each cell of an N x N grid over the "
                        "domain and animate the starts as particles, one panel per optimizer")
    p.set_defaults(func=main_animate)
    p = add_command(sub, "plot", "Plot optimizers' paths on a surface as a static figure.",
                    PLOT_EXAMPLES)
    _add_options(p, default_out="SURFACE.png")
    p.set_defaults(func=main_plot)


def _add_options(p: argparse.ArgumentParser, *, default_out: str) -> None:
    add_run_options(p, teaching=True)
    p.add_argument("--from", dest="run_file", metavar="RUN.npz", type=path,
                   help="draw a saved run (from 'trajviz run --out') instead of computing one; "
                        "its surface is looked up among the built-in ones (a file never "
                        "chooses code to run): for a run on your own surface give --surface")
    p.add_argument("--out", type=path,
                   help=f"output path (default: {default_out} in this folder); "
                   f"formats: {supported()}")
    p.add_argument("--view", choices=VIEWS, default=FIGURE["view"],
                   help="the surface seen from above, or in 3-D")
    p.add_argument("--theme", choices=sorted(THEMES), default=FIGURE["theme"],
                   help="colour theme")
    width, height = FIGURE["size"]
    p.add_argument("--size", type=size, metavar="WxH",
                   help="figure size in inches, e.g. 8x6 (times --dpi gives pixels; "
                        f"default {width:g}x{height:g}, with --flow about 2.4 inches a panel)")
    p.add_argument("--dpi", type=dpi, default=FIGURE["dpi"], help="pixels per inch")
    p.add_argument("--title", type=title_type, help="title (default: the surface's name); "
                   r"matplotlib text, so $...$ is math and \$ a dollar sign")
    p.add_argument("--no-updates", dest="updates", action="store_false",
                   help="leave out the per-step update panel")
    p.add_argument("--no-loss", dest="loss_panel", action="store_false",
                   help="leave out the loss-versus-step panel")
    p.add_argument("--arrows", action="store_true",
                   help="draw the negative gradient and the actual update at each head")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")


def _given(**options: Any) -> dict[str, Any]:
    """The options that were given (left out, the library's defaults apply)."""
    return {k: v for k, v in options.items() if v is not None}


def _race(args: argparse.Namespace) -> dict[str, Any]:
    """The teaching race's surface, optimizers and run options, as given."""
    return dict(**_given(surface=args.surface, optimizers=args.optimizers),
                run_options=dict(run_options(args), noise=args.noise,
                                 batch_size=args.batch_size))


def _from_file(args: argparse.Namespace) -> tuple[Surface, Run]:
    """The saved run, and its surface: the one given with --surface, else the built-in
    surface the run file names."""
    run = Run.load(args.run_file)
    if args.surface:
        return resolve_surface(args.surface), run
    return surface_from_file(run.meta, args.run_file), run


def _figure_options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(updates=args.updates, arrows=args.arrows, loss_panel=args.loss_panel,
                view=args.view, theme=args.theme, dpi=args.dpi,
                **_given(size=args.size, title=args.title))


def _out_path(args: argparse.Namespace, ext: str) -> Path:
    """--out, else the run file's or the surface's name with ``ext``, in this folder."""
    if args.out:
        return Path(args.out)
    if args.run_file:
        return Path(Path(args.run_file).stem + ext)
    name = parse_spec(args.surface or DEFAULT_SURFACE).name
    return Path(name.rpartition(":")[2] + ext)


def main_animate(args: argparse.Namespace) -> int:
    out = _out_path(args, ".gif")
    writer = writer_for(out)  # an unknown format or a missing encoder fails before any work
    if writer.extensions == ("",):
        check_writable_dir(out)
    else:
        check_writable(out)
    check_figure_size(args.size or FIGURE["size"], args.dpi)
    if args.flow is not None:
        anim = _flow(args)
    elif args.run_file:
        surface, run = _from_file(args)
        anim = animate(run, surface, frames=args.frames, fps=args.fps, **_figure_options(args))
    else:
        anim = teaching_animation(frames=args.frames, fps=args.fps, **_race(args),
                                  **_figure_options(args))
    path = save(anim, out, writer=writer, progress=args.progress)
    print(f"wrote {path}")
    return 0


def _flow(args: argparse.Namespace) -> RunAnimation:
    """``--flow N``: the teaching race from every start of an N x N grid, as particles."""
    if args.run_file or args.start or args.starts is not None:
        raise UsageError("--flow makes its own starts (an N x N grid over the domain); "
                         "leave out --from, --start and --starts")
    if args.view != "2d" or args.arrows:
        raise UsageError("--flow draws particles on 2d panels; leave out --view 3d and --arrows")
    return teaching_flow(args.flow, frames=args.frames, fps=args.fps, **_race(args),
                         theme=args.theme, size=args.size, dpi=args.dpi, title=args.title)


def main_plot(args: argparse.Namespace) -> int:
    out = _out_path(args, ".png")
    if not is_still_format(out):
        raise UsageError(f"cannot write {str(out)!r}: a plot is saved as "
                         f"{', '.join(STILL_FORMATS)}")
    check_writable(out)
    check_figure_size(args.size or FIGURE["size"], args.dpi)
    if args.run_file:
        surface, run = _from_file(args)
        fig = plot(run, surface, **_figure_options(args))
    else:
        fig = teaching_plot(**_race(args), **_figure_options(args))
    print(f"wrote {save(fig, out)}")
    return 0
