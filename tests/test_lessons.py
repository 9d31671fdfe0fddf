"""Lessons: every lesson's claims hold on its actual run, every claim can fail, a lesson
whose claim fails is not rendered, and each lesson renders."""

import re
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from trajviz import lessons
from trajviz.cli import main
from trajviz.errors import UsageError, UsageTypeError
from trajviz.lessons import (
    Arrives,
    ArrivesFirst,
    ClaimError,
    DivergesAbove,
    DivergesAt,
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
    Track,
    Tracks,
    ZigZags,
)
from trajviz.run import Run

SMALL = dict(size=(4, 3), dpi=50)


@pytest.fixture(scope="module")
def results():
    return {name: lessons.get(name).run() for name in lessons.names()}


def test_at_least_eight_lessons_each_a_function_for_notebooks():
    assert len(lessons.names()) >= 8
    for name in lessons.names():
        assert getattr(lessons, name)().name == name
        assert name in lessons.__all__


@pytest.mark.parametrize("name", lessons.names())
def test_every_claim_holds_on_the_lessons_run(results, name):
    result = results[name]
    assert result.verdicts, f"{name} states no claims"
    assert result.holds, result.report()
    assert result.check() is result
    assert result.run.n_traj == len(result.lesson.tracks)
    assert np.all(result.run.positions[:, 0] == result.lesson.start)  # one shared start


@pytest.mark.parametrize("name", lessons.names())
def test_numbers_in_captions_are_backed_by_claims_or_settings(name):
    """A number a caption or question states must be one the lesson's claims check or its
    settings set, so words cannot drift from what is verified."""
    lesson = lessons.get(name)
    backed = " ".join([*(c.text for c in lesson.claims), *(t.label for t in lesson.tracks),
                       lesson.surface, str(lesson.steps), str(lesson.start), str(lesson.bound)])
    known = {float(v) for v in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", backed)}
    for text in (lesson.caption, lesson.question):
        for v in re.findall(r"\d+(?:\.\d+)?", text):
            assert float(v) in known, f"{name}: {v!r} in {text!r} is not backed"


def test_learning_rates_are_in_the_legend(results):
    for result in results.values():
        for label in result.run.meta["labels"]:
            assert "lr=" in label, label


def test_a_claim_that_stops_holding_fails_and_nothing_is_written(tmp_path):
    slow = replace(lessons.ravine(), tracks=(Track("sgd:lr=0.035"), Track("momentum:lr=1e-4")))
    result = slow.run()
    assert not result.holds
    failed = [str(v) for v in result.verdicts if not v.holds]
    assert any("momentum is within 0.001 of the minimum before sgd" in f for f in failed)
    with pytest.raises(ClaimError, match="FAILS: momentum is within"):
        result.save(tmp_path / "ravine.gif")
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_lesson_whose_claim_fails(tmp_path, monkeypatch, capsys):
    broken = replace(lessons.divergence(), claims=(DivergesAt("lr 0.21", step=5),))
    monkeypatch.setattr(lessons, "get", lambda name: broken)  # what the command looks up
    monkeypatch.chdir(tmp_path)
    assert main(["lesson", "divergence"]) == 1
    out, err = capsys.readouterr()
    assert "FAILS: lr 0.21 diverges at step 5 (diverged at step 27)" in out
    assert "nothing written" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", lessons.names())
def test_every_lesson_renders_question_then_run(results, name, tmp_path):
    path = results[name].save(tmp_path / f"{name}.gif", frames=6, question_frames=4,
                              progress=False, **SMALL)
    with Image.open(path) as im:
        assert im.size == (200, 150)
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.array(im.convert("RGB"), dtype=int))
    assert len(frames) == 1 + 6  # the held question frames are stored as one
    assert np.abs(frames[0] - frames[1]).mean() > 1  # the card, then the run


def test_question_card_shows_only_before_the_run(results):
    rf = results["saddle"].figure(**SMALL)
    steps = rf.frame_steps(5)
    assert list(steps[:40]) == [lessons.QUESTION_STEP] * 40 and steps[40] == 0
    card, first = rf.render(lessons.QUESTION_STEP), rf.render(0)
    assert rf.question_card.get_visible() is False
    h, w = card.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(w // 4, 3 * w // 4))
    assert np.abs(card[centre].astype(int) - first[centre]).mean() > 5
    assert "saddle" in rf.question_card.get_text()


def test_caption_is_drawn_under_the_title(results):
    rf = results["ravine"].figure(**SMALL)
    title, caption = rf.title_text.get_window_extent(), rf.caption_text.get_window_extent()
    assert caption.y1 <= title.y0 + 1  # below the title ...
    axes_top = max(ax.get_window_extent().y1 for ax in rf.fig.axes if ax.axison)
    assert caption.y0 >= axes_top - 1  # ... and above every panel
    assert "zig-zags" in rf.caption_text.get_text()


def test_unknown_lesson_names_the_choices(capsys):
    with pytest.raises(UsageError, match="did you mean 'saddle'"):
        lessons.get("sadle")
    assert main(["lesson", "sadle"]) == 2
    assert "valid lessons: ravine, saddle" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--fps", "inf"], "argument --fps: must be greater than 0 and at most 1000"),
    (["--fps", "nan"], "argument --fps: must be greater than 0 and at most 1000"),
    (["--question-seconds", "-1"], "argument --question-seconds: must be from 0 to 60"),
    (["--frames", "0"], "argument --frames: must be at least 1"),
    (["--out", "x.avi"], "unknown extension '.avi'"),
    (["--out", "missing/x.gif"], "folder 'missing' does not exist"),
    (["--question-seconds", "10", "--fps", "1000"],
     "--question-seconds 10 at --fps 1000 holds the question for 10000 frames; at most 1200"),
    (["--question-seconds", "60", "--fps", "20.01"], "1201 frames; at most 1200"),
    (["--out", ""], "argument --out: empty path"),
    (["--dpi", "9"], "argument --dpi: must be at least 10"),
], ids=["fps-inf", "fps-nan", "question", "frames", "extension", "folder", "question-frames",
        "question-frames-edge", "empty-out", "dpi"])
def test_bad_lesson_options_exit_2_and_write_nothing(flags, message, tmp_path, monkeypatch,
                                                     capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lesson", "ravine", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_lists_and_renders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lesson", "--list"]) == 0
    listing = capsys.readouterr().out
    for name in lessons.names():
        assert name in listing
    assert main(["lesson", "divergence", "--frames", "4", "--size", "4x3", "--dpi", "40",
                 "--question-seconds", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "holds: lr 0.21 diverges at step 27" in out and out.endswith("wrote divergence.gif\n")
    with Image.open(tmp_path / "divergence.gif") as im:
        assert im.size == (160, 120) and im.n_frames == 5
    assert main(["lesson"]) == 2


def test_tracks_with_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="track names must differ"):
        replace(lessons.ravine(), tracks=(Track("sgd:lr=0.1"), Track("sgd:lr=0.2")))


# Every kind of claim, checked on a hand-made run where the answer is known, both ways.
#   a: zig-zags in y while x halves; reaches the minimum (0, 0) at step 4
#   b: stays on y = 0, speeds up along x; ends 0.5 away
#   c: lr 0.3, steps out and diverges at step 3
A = [[2, 1], [1, -1], [0.5, 1], [0.25, -1], [0, 0]]
B = [[2, 0], [1.9, 0], [1.7, 0], [1.3, 0], [0.5, 0]]
C = [[1, 0], [1.5, 0], [3, 0], [np.nan, np.nan], [np.nan, np.nan]]


@pytest.fixture(scope="module")
def tracks():
    pos = np.array([A, B, C], dtype=float)
    loss = (pos ** 2).sum(-1)
    lr = np.array([[0.1] * 4, [0.1, 0.1, 0.05, 0.05], [0.3] * 4])
    run = Run(positions=pos, loss=loss, grads=2 * pos[:, :-1], updates=pos[:, 1:] - pos[:, :-1],
              lr=lr, diverged_at=np.array([-1, -1, 3]), evals=np.ones((3, 4), int), meta={})
    return Tracks(run, ["a", "b", "c"], np.array([[0.0, 0.0]]))


CLAIMS = [
    (ArrivesFirst("a", "b", within=0.01), True), (ArrivesFirst("b", "a", within=0.01), False),
    (ArrivesFirst("a", "b", within=0.6), False),  # both at step 4: not before
    (Arrives("a", within=0.01, by=4), True), (Arrives("a", within=0.01, by=3), False),
    (Arrives("b", within=0.1, by=4, point=(0.5, 0.0)), True),
    (StaysAway("b", within=0.4), True), (StaysAway("a", within=0.4), False),
    (StaysOn("b", axis=1), True), (StaysOn("a", axis=1), False),
    (Leaves("a", axis=1, beyond=0.5, by=0), True), (Leaves("b", axis=1, beyond=0.5, by=4), False),
    (DivergesAt("c", step=3), True), (DivergesAt("c", step=2), False),
    (DivergesAt("a", step=-1), True), (DivergesAt("a", step=3), False),
    (DivergesAbove(limit=0.2), True), (DivergesAbove(limit=0.35), False),
    (ZigZags("a", axis=1, steps=3), True), (ZigZags("b", axis=0, steps=3), False),
    (ZigZags("a", axis=1, steps=5), False),  # only 4 steps recorded
    (Speeds("b", axis=0, steps=3), True), (Speeds("a", axis=0, steps=3), False),
    (StepIs("c", step=0, length=0.5), False), (StepIs("a", step=1, length=0.5), False),
    (StepIs("b", step=0, length=0.1), False),
    (StepRatio("a", "b", step=0, factor=10), True), (StepRatio("b", "a", step=0, factor=1), False),
    (LateLossOrder(("a", "b"), fraction=0.2), True), (LateLossOrder(("b", "a"), fraction=0.2),
                                                     False),
    (LateLossOrder(("a", "c")), False),  # NaN never orders
    (LossFalls("a"), True), (LossFalls("c"), False),
    (LrAt("b", step=2, lr=0.05), True), (LrAt("b", step=1, lr=0.05), False),
    (LossDrops("b", share=0.1, by=4), True), (LossDrops("b", share=0.1, by=3), False),
    (Jumps("b", factor=7.9), True), (Jumps("b", factor=8.1), False),
]


@pytest.mark.parametrize("claim, holds", CLAIMS, ids=[f"{i}-{type(c).__name__}-{h}"
                                                      for i, (c, h) in enumerate(CLAIMS)])
def test_each_kind_of_claim_can_hold_and_can_fail(tracks, claim, holds):
    verdict = claim.check(tracks)
    assert verdict.holds is holds, verdict
    assert str(verdict).startswith("holds: " if holds else "FAILS: ")
    assert claim.text in str(verdict)


def test_a_claim_naming_no_track_says_which_exist(tracks):
    with pytest.raises(KeyError, match="no track 'sgd'; tracks: a, b, c"):
        StaysOn("sgd", axis=1).check(tracks)


@pytest.mark.parametrize("frames, error, message", [
    (1201, UsageError, "question_frames must be from 0 to 1200 (an integer), got 1201"),
    (-1, UsageError, "question_frames must be from 0 to 1200"),
    (2.5, UsageTypeError, "question_frames must be from 0 to 1200 (an integer), got 2.5"),
], ids=["too-many", "negative", "float"])
def test_question_frames_are_bounded_before_drawing(results, frames, error, message):
    with pytest.raises(error) as info:
        results["saddle"].figure(question_frames=frames, **SMALL)
    assert message in str(info.value)


def test_lesson_figure_steps_are_integers(results):
    figure = results["saddle"].figure(question_frames=2, **SMALL)
    with pytest.raises(UsageTypeError, match="step must be an integer"):
        figure.set_step(0.5)
    figure.set_step(-1)
    assert figure.question_card.get_visible()
