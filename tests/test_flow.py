"""Flows: a grid of starts as particles, one panel per optimizer; what each panel shows is the
run, and the CLI's ``--flow`` writes it or says clearly why not."""

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

import trajviz
from trajviz import UsageError
from trajviz.cli import main
from trajviz.maps.plot import DIVERGED, NOT_CONVERGED, minimum_colour
from trajviz.plot.flow import FlowFigure, animate_flow, flow_starts

SMALL = dict(size=(6, 3), dpi=40)


@pytest.fixture(scope="module")
def flow():
    run = trajviz.run("himmelblau", "sgd:lr=0.03,adam:lr=0.3", steps=40,
                      starts=flow_starts("himmelblau", 6), progress=False)
    assert (run.diverged_at >= 0).any() and (run.diverged_at < 0).any()
    return FlowFigure(run, "himmelblau", **SMALL)


def test_starts_are_the_cell_centres_of_the_domain():
    starts = flow_starts("rosenbrock", 4)  # x in (-2, 2), y in (-1, 3)
    assert starts.shape == (16, 2)
    np.testing.assert_allclose(np.unique(starts[:, 0]), [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_allclose(np.unique(starts[:, 1]), [-0.5, 0.5, 1.5, 2.5])
    with pytest.raises(UsageError, match="at least 1 start per side"):
        flow_starts("rosenbrock", 0)


def particles(fig: FlowFigure, j: int) -> np.ndarray:
    """Optimizer ``j``'s particles as drawn, in start order (NaN where gone)."""
    k = fig.pos.shape[1]
    out = np.full((k, 2), np.nan)
    for rows, line in fig.particles[j]:
        out[rows] = np.column_stack(line.get_data())
    return out


@pytest.mark.parametrize("t", [0, 7, 40])
def test_each_panel_shows_its_optimizers_runs_at_the_step(flow, t):
    flow.set_step(t)
    k = flow.pos.shape[1]
    for j in range(2):
        np.testing.assert_array_equal(particles(flow, j), flow.run.positions[j * k:(j + 1) * k, t])
    assert flow.title_text.get_text() == "himmelblau   ·   6 x 6 starts   ·"
    assert flow.step_text.get_text() == f"step {t} / 40"


def test_particles_are_coloured_by_where_their_run_ends(flow):
    run, k = flow.run, flow.pos.shape[1]
    minima = np.asarray(flow.surface.minima)
    final = run.final_positions
    dist = np.linalg.norm(final[:, None] - minima[None], axis=-1)
    for i in range(run.n_traj):
        j, row = divmod(i, k)
        colour = next(line.get_color() for rows, line in flow.particles[j] if row in rows)
        if run.diverged_at[i] >= 0:
            want = DIVERGED
        elif dist[i].min() <= flow.tol:
            want = minimum_colour(int(dist[i].argmin()))
        else:
            want = NOT_CONVERGED
        assert to_rgba(colour) == to_rgba(want), i


def test_counts_are_the_share_near_a_minimum_and_gone(flow):
    flow.set_step(40)
    k = flow.pos.shape[1]
    for j, counters in enumerate(flow.counts):
        here = flow.run.positions[j * k:(j + 1) * k, 40]
        dist = np.linalg.norm(here[:, None] - np.asarray(flow.surface.minima)[None], axis=-1)
        shown = {kind: value.get_text() for kind, value in counters}
        assert shown["near a minimum"] == f"{(dist.min(axis=1) <= flow.tol).sum() / k:.0%}"
        ever = (flow.run.diverged_at[j * k:(j + 1) * k] >= 0).any()
        assert ("diverged" in shown) == ever  # a counter only where some diverge
        if ever:
            assert shown["diverged"] == f"{np.isnan(here).any(axis=1).sum() / k:.0%}"


def test_blitted_frames_equal_full_redraws(flow):
    steps = [0, 9, 40]
    for t, frame in zip(steps, [np.array(f) for f in flow.frames(steps)], strict=True):
        np.testing.assert_array_equal(frame, flow.render(t))


def test_animation_saves_through_the_writers(flow, tmp_path):
    anim = animate_flow(flow.run, "himmelblau", frames=5, fps=10, **SMALL)
    path = trajviz.save(anim, tmp_path / "flow.gif")
    with Image.open(path) as im:
        assert im.size == flow.pixel_size and im.n_frames == 5
    with pytest.raises(UsageError, match="not a FlowFigure; save this one as .gif"):
        trajviz.save(anim, tmp_path / "flow.html")
    assert [p.name for p in tmp_path.iterdir()] == ["flow.gif"]


def test_cli_flow_writes_one_panel_per_optimizer(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--surface", "himmelblau", "--flow", "5", "--steps", "12",
                 "--frames", "4", "--dpi", "30"]) == 0
    assert capsys.readouterr().out.strip() == "wrote himmelblau.gif"
    with Image.open(tmp_path / "himmelblau.gif") as im:
        assert im.n_frames == 4 and im.size == (300, 174)  # 4 x 2 panels of 2.4 inches


@pytest.mark.parametrize("flags, message", [
    (["--flow", "0"], "at least 1 start per side"),
    (["--flow", "100000"], "would record 80,000,000,000 runs"),
    (["--flow", "4", "--start", "0,0"], "--flow makes its own starts"),
    (["--flow", "4", "--view", "3d"], "--flow draws particles on 2d panels"),
    (["--flow", "4", "--out", "f.html"], "not a FlowFigure"),
], ids=["zero", "huge", "start", "3d", "html"])
def test_cli_flow_bad_input_exits_2_and_writes_nothing(flags, message, tmp_path, monkeypatch,
                                                       capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--steps", "5", "--frames", "2", "--dpi", "20", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
