"""``trajviz lesson``: a lesson rendered, its caption's claims checked on the run first."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import lessons
from .._io import check_writable, check_writable_dir
from ..checks import check_figure_size
from ..errors import UsageError
from ..lessons._lesson import MAX_QUESTION_FRAMES
from ..plot.animate import MAX_FPS
from ..plot.figure import RunFigure
from ..plot.theme import THEMES
from ..plot.writers import supported, writer_for
from ..summary import format_table
from ._common import (
    add_command,
    dpi,
    integer,
    keyword_defaults,
    path,
    real,
    size,
)

EXAMPLES = """\
  trajviz lesson --list
  trajviz lesson ravine                       # writes ravine.gif
  trajviz lesson saddle --out saddle.html     # one page that plays offline in a browser
  trajviz lesson steplr --theme dark --out steplr.mp4
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "lesson", "Render a lesson: one pathology of optimization, its "
                    "question and a caption whose claims are checked on the run.", EXAMPLES)
    p.add_argument("name", nargs="?", metavar="NAME",
                   help=f"the lesson: {', '.join(lessons.names())}")
    p.add_argument("--list", action="store_true", help="list the lessons and exit")
    p.add_argument("--out", type=path,
                   help=f"output path (default: NAME.gif here); formats: {supported()}")
    figure, animation = keyword_defaults(RunFigure), keyword_defaults(lessons.LessonRun.save)
    p.add_argument("--theme", choices=sorted(THEMES), default=figure["theme"],
                   help="colour theme")
    width, height = figure["size"]
    p.add_argument("--size", type=size, default=(float(width), float(height)), metavar="WxH",
                   help="figure size in inches (times --dpi gives pixels)")
    p.add_argument("--dpi", type=dpi, default=figure["dpi"], help="pixels per inch")
    p.add_argument("--fps", type=real(0, MAX_FPS, lo_open=True), default=animation["fps"],
                   help="frames per second")
    p.add_argument("--frames", type=integer(1), default=animation["frames"],
                   help="at most this many frames after the question")
    p.add_argument("--question-seconds", type=real(0, 60), default=2.5,
                   help="how long the question is held before the run plays")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.list:
        rows = [[name, lesson.title, lesson.surface, ", ".join(lesson.track_names)]
                for name, lesson in ((n, lessons.get(n)) for n in lessons.names())]
        print(format_table(["lesson", "title", "surface", "tracks"], rows))
        return 0
    if not args.name:
        raise UsageError(f"give a lesson NAME or --list; lessons: {', '.join(lessons.names())}")
    lesson = lessons.get(args.name)
    out = Path(args.out) if args.out else Path(f"{lesson.name}.gif")
    writer = writer_for(out)  # an unknown format fails before any work
    if writer.extensions == ("",):
        check_writable_dir(out)
    else:
        check_writable(out)
    check_figure_size(args.size, args.dpi)
    question_frames = _question_frames(args.question_seconds, args.fps)
    result = lesson.run()
    print(result.report())
    if not result.holds:
        print(f"trajviz lesson: error: {lesson.name!r} no longer shows what its caption "
              "claims (see FAILS above); nothing written", file=sys.stderr)
        return 1
    path = result.save(out, frames=args.frames, fps=args.fps, progress=args.progress,
                       question_frames=question_frames,
                       theme=args.theme, size=args.size, dpi=args.dpi)
    print(f"wrote {path}")
    return 0


def _question_frames(seconds: float, fps: float) -> int:
    """The frames the question is held for; refused, before any work, above
    `MAX_QUESTION_FRAMES` (every held frame is rendered)."""
    frames = round(seconds * fps)
    if frames > MAX_QUESTION_FRAMES:
        raise UsageError(f"--question-seconds {seconds:g} at --fps {fps:g} holds the question "
                         f"for {frames} frames; at most {MAX_QUESTION_FRAMES} (e.g. "
                         f"{MAX_QUESTION_FRAMES / 20:g} s at 20 fps): lower --question-seconds "
                         "or --fps")
    return frames
