"""Lessons for teachers: each shows one pathology of optimization, with a caption whose
claims are checked on the run.

The lessons are functions (`ravine`, `saddle`, ...; `names` lists them, `get` finds one by
name); a `Lesson` is made of `Track` rows and `Claim` objects (`Arrives`, `StaysOn`, ...), and
its figure opens on its question card, the frame at step `QUESTION_STEP`.

Example:
    >>> from trajviz import lessons
    >>> result = lessons.ravine().run()
    >>> result.holds
    True
    >>> path = result.save("/tmp/ravine.gif")
"""

from ._catalogue import (
    beale,
    divergence,
    get,
    names,
    noise,
    plateau,
    ravine,
    rosenbrock,
    saddle,
    steplr,
)
from ._claims import (
    Arrives,
    ArrivesFirst,
    Claim,
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
    Tracks,
    Verdict,
    ZigZags,
)
from ._lesson import QUESTION_STEP, ClaimError, Lesson, LessonFigure, LessonRun, Track

__all__ = [
    "Arrives",
    "ArrivesFirst",
    "Claim",
    "ClaimError",
    "DivergesAbove",
    "DivergesAt",
    "GradientAbove",
    "Jumps",
    "LateLossOrder",
    "Leaves",
    "Lesson",
    "LessonFigure",
    "LessonRun",
    "LossDrops",
    "LossFalls",
    "LrAt",
    "QUESTION_STEP",
    "Speeds",
    "StaysAway",
    "StaysOn",
    "StepIs",
    "StepRatio",
    "Track",
    "Tracks",
    "Verdict",
    "ZigZags",
    "beale",
    "divergence",
    "get",
    "names",
    "noise",
    "plateau",
    "ravine",
    "rosenbrock",
    "saddle",
    "steplr",
]
