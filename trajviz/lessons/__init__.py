"""Lessons for teachers: each shows one pathology of optimization, with a caption whose
claims are checked on the run.

Example:
    >>> from trajviz import lessons
    >>> result = lessons.ravine().run()
    >>> result.holds
    True
    >>> path = result.save("/tmp/ravine.gif")
"""

from ._catalogue import (
    LESSONS,
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
    "LESSONS",
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
