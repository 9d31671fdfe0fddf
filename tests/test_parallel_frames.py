"""Frames rendered by forked helpers equal frames rendered alone, and helpers never outlive
the rendering, however it ends."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import trajviz
from trajviz.plot._parallel import helper_count, parallel_frames

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module")
def figure():
    run = trajviz.run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05,momentum:lr=1e-3", steps=60)
    return trajviz.RunFigure(run, "rosenbrock", size=(4, 3), dpi=60)


def _children() -> set[int]:
    """Live (not yet reaped) child processes of this one."""
    pid = os.getpid()
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out |= {int(c) for c in f.read().split()}
    return out


@pytest.mark.parametrize("helpers", [1, 2, 3])
def test_parallel_frames_equal_frames_rendered_alone(figure, helpers):
    steps = figure.frame_steps(40)
    alone = [np.array(f) for f in figure.frames(steps, helpers=0)]
    before = _children()
    together = [np.array(f) for f in figure.frames(steps, helpers=helpers)]
    assert len(together) == len(alone) == len(steps)
    for t, a, b in zip(steps, alone, together, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"step {t}")
    assert _children() <= before  # no helper left (others may have ended meanwhile)
    np.testing.assert_array_equal(figure.render(int(steps[-1])), alone[-1])


def test_a_failing_helper_costs_only_its_frames(figure):
    parent = os.getpid()
    frame = np.zeros((30, 40, 3), np.uint8)

    def render(t: int) -> np.ndarray:
        if os.getpid() != parent and t >= 7:
            raise RuntimeError("helper broke")
        frame[:] = t
        return frame

    before = _children()
    got = [int(f[0, 0, 0]) for f in parallel_frames(render, range(30), frame.shape, 2)]
    assert got == list(range(30))
    assert _children() <= before  # no helper left (others may have ended meanwhile)


def test_stopping_early_kills_and_reaps_the_helpers(figure):
    before = _children()
    frames = figure.frames(figure.frame_steps(40), helpers=2)
    next(frames)
    next(frames)
    assert len(_children() - before) == 2
    frames.close()
    assert _children() <= before  # no helper left (others may have ended meanwhile)


def test_an_error_here_kills_and_reaps_the_helpers():
    parent = os.getpid()
    frame = np.zeros((8, 8, 3), np.uint8)

    def render(t: int) -> np.ndarray:
        if os.getpid() == parent and t == 5:
            raise ValueError("caller broke")
        return frame

    before = _children()
    with pytest.raises(ValueError, match="caller broke"):
        for _ in parallel_frames(render, range(40), frame.shape, 1):
            pass
    assert _children() <= before  # no helper left (others may have ended meanwhile)


def test_short_animations_and_single_cpus_render_alone(monkeypatch):
    assert helper_count(5) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert helper_count(500) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert helper_count(500) == 3


def test_save_writes_the_same_gif_with_and_without_helpers(figure, tmp_path):
    trajviz.save(figure, tmp_path / "alone.gif", frames=30, helpers=0)
    trajviz.save(figure, tmp_path / "helped.gif", frames=30, helpers=2)
    assert (tmp_path / "alone.gif").read_bytes() == (tmp_path / "helped.gif").read_bytes()
    with pytest.raises(trajviz.UsageError, match="helpers"):
        trajviz.save(figure, tmp_path / "x.gif", helpers=-1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.gif", "helped.gif"]


def test_helpers_may_finish_before_the_caller_takes_their_last_frames():
    parent = os.getpid()
    frame = np.zeros((8, 8, 3), np.uint8)

    def render(t: int) -> np.ndarray:  # slow here, fast in the helpers: they finish first
        if os.getpid() == parent:
            time.sleep(0.01)
        frame[:] = t
        return frame

    for helpers in (1, 2):
        got = [int(f[0, 0, 0]) for f in parallel_frames(render, range(40), frame.shape, helpers)]
        assert got == list(range(40))
