"""RunFigure, animate and plot: what a frame shows, checked against the run and against
figures drawn another way (in the style of matplotlib's ``check_figures_equal``)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.contour import ContourSet
from matplotlib.testing.decorators import check_figures_equal

import surfaces
import trajviz
from surfaces import Surface
from trajviz import RunFigure, UsageError
from trajviz.errors import UsageTypeError
from trajviz.optimizers import SEED_OPTIMIZERS
from trajviz.plot import RunAnimation
from trajviz.teaching import TEACHING, teaching, teaching_optimizers

SMALL = dict(size=(4, 3), dpi=50)


def bowl_run(spec="sgd:lr=0.1", steps=1, start=(1.0, -0.5)):
    return trajviz.run("quadratic", spec, steps=steps, starts=[start], dtype="float64",
                       progress=False)


def test_sgd_bar_is_minus_lr_times_gradient():
    """One SGD step from a known point: sign opposite to the gradient, length lr * |grad|."""
    lr, (x, y) = 0.1, (1.0, -0.5)
    kappa = surfaces.get("quadratic").params["kappa"]
    grad = np.array([x, kappa * y])  # of 0.5 * (x^2 + kappa y^2)
    rf = RunFigure(bowl_run(f"sgd:lr={lr}"), "quadratic", **SMALL)
    rf.set_step(0)
    bars = rf.update_values()[0]
    np.testing.assert_array_equal(np.sign(bars), -np.sign(grad))
    np.testing.assert_allclose(np.abs(bars), lr * np.abs(grad), rtol=1e-12)


@pytest.mark.parametrize("spec", ["adam:lr=0.05", "momentum:lr=0.01", "rmsprop:lr=0.01",
                                  "lbfgs:lr=0.1"], ids=["adam", "momentum", "rmsprop", "lbfgs"])
def test_bars_follow_recorded_updates_at_every_step(spec):
    run = bowl_run(spec, steps=12)
    rf = RunFigure(run, "quadratic", **SMALL)
    for t in range(run.steps):
        rf.set_step(t)
        np.testing.assert_allclose(rf.update_values()[0], run.updates[0, t], rtol=1e-12)


def test_sign_markers_point_along_minus_gradient():
    run = bowl_run("momentum:lr=0.05", steps=30)
    rf = RunFigure(run, "quadratic", **SMALL)
    for t in (0, 10, 29):
        rf.set_step(t)
        for panel, axis in zip(rf.update_panels, (0, 1), strict=True):
            push = -run.grads[0, t, axis]
            plus = np.isfinite(panel.plus.get_offsets()[:, 1]).any()
            minus = np.isfinite(panel.minus.get_offsets()[:, 1]).any()
            assert (plus, minus) == (push > 0, push < 0)


def test_head_and_paths_track_positions():
    run = trajviz.run("rosenbrock", "adam:lr=0.05,sgd:lr=1e-3", steps=40, progress=False)
    rf = RunFigure(run, "rosenbrock", **SMALL)
    rf.set_step(25)
    np.testing.assert_allclose(rf.main.heads.get_offsets(), run.positions[:, 25])
    assert [len(s) for s in rf.main.paths.get_segments()] == [26, 26]
    assert "step 25 / 40" in rf.title_text.get_text()


def test_diverged_trajectory_is_crossed_out_where_it_left():
    run = trajviz.run("rosenbrock", "sgd:lr=0.05,adam:lr=0.05", steps=30, progress=False)
    d = int(run.diverged_at[0])
    assert d > 0 and run.diverged_at[1] < 0
    rf = RunFigure(run, "rosenbrock", **SMALL)
    rf.set_step(d - 1)
    assert not np.isfinite(rf.main.diverged.get_offsets()).any()
    rf.set_step(run.steps)
    marks = np.asarray(rf.main.diverged.get_offsets())
    np.testing.assert_allclose(marks[0], run.positions[0, d - 1])
    assert not np.isfinite(marks[1]).any()
    assert not np.isfinite(rf.main.heads.get_offsets()[0]).any()
    assert "diverged at step" in rf.fig.legends[0].get_texts()[0].get_text()


def test_many_starts_get_one_legend_entry_per_optimizer():
    starts = [[-1.5, 2.0], [0.0, 2.0], [1.5, 2.5], [-1.0, -0.5]]
    run = trajviz.run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=20, starts=starts,
                      progress=False)
    rf = RunFigure(run, "rosenbrock", **SMALL)
    labels = [t.get_text() for t in rf.fig.legends[0].get_texts()]
    assert labels == ["sgd  lr=0.001", "adam  lr=0.05", "minimum"]
    colors = rf.main.heads.get_facecolors()
    assert len({tuple(c) for c in colors[:4]}) == 1 and tuple(colors[0]) != tuple(colors[4])
    assert rf.update_values().shape == (2, 2)


def test_scheduler_lr_appears_in_title_when_it_changes():
    run = trajviz.run("quadratic", "sgd:lr=0.1", steps=20, scheduler="steplr:step_size=5,gamma=0.5",
                      progress=False)
    rf = RunFigure(run, "quadratic", **SMALL)
    rf.set_step(12)
    assert "lr 0.025" in rf.title_text.get_text()
    plain = RunFigure(bowl_run(steps=5), "quadratic", **SMALL)
    assert "lr" not in plain.title_text.get_text()


@pytest.mark.parametrize("options", [dict(), dict(arrows=True, theme="dark"),
                                     dict(view="3d"), dict(updates=False, loss_panel=False)],
                         ids=["default", "arrows-dark", "3d", "bare"])
def test_blitted_frames_equal_full_redraws(options):
    run = trajviz.run("himmelblau", "adam:lr=0.1,momentum:lr=0.002,sgd:lr=0.01", steps=30,
                      progress=False)
    rf = RunFigure(run, "himmelblau", **SMALL, **options)
    steps = [0, 7, 30]
    blitted = [np.array(f) for f in rf.frames(steps)]
    for t, frame in zip(steps, blitted, strict=True):
        np.testing.assert_array_equal(frame, rf.render(t))


def lr_run(steps=120):
    return trajviz.run("quadratic", "sgd:lr=0.1", steps=steps,
                       scheduler="steplr:step_size=50,gamma=0.5", progress=False)


def test_title_reads_the_step_and_starts_in_one_place():
    run = lr_run()
    rf = RunFigure(run, "quadratic", **SMALL)
    lefts = set()
    for t in (0, 7, 60, 120):
        rf.set_step(t)
        assert rf.title_text.get_text() == rf._title(t)
        assert rf._title(t).startswith(f"quadratic   ·   step {t} / 120   ·   lr ")
        lefts.add(rf.title_text.get_window_extent().x0)
    assert len(lefts) == 1


def test_blitted_title_is_the_whole_title():
    """Frames draw the title's shared start with the background and only its end per frame:
    each frame is a full redraw's, whatever the step number's length, and afterwards the
    figure's title is whole again."""
    run = lr_run()
    rf = RunFigure(run, "quadratic", **SMALL)
    steps = [0, 9, 10, 99, 100, 120]
    for t, frame in zip(steps, [np.array(f) for f in rf.frames(steps)], strict=True):
        np.testing.assert_array_equal(frame, rf.render(t))
    assert rf.title_text.get_text() == rf._title(120) and rf.fig.texts == [rf.title_text]


def test_background_leaves_the_whole_title_out():
    """The page draws the whole title over the background: none of it may be there."""
    rf = RunFigure(lr_run(), "quadratic", **SMALL)
    background = rf.background()
    x0, y0, x1, y1 = rf.title_text.get_window_extent().extents
    height = background.shape[0]
    box = background[int(height - y1):int(np.ceil(height - y0)), int(x0):int(np.ceil(x1))]
    assert box.size and (box == box[0, 0]).all()


def test_bars_are_drawn_at_the_updates_in_the_colour_of_their_sign():
    run = trajviz.run("himmelblau", "adam:lr=0.1,momentum:lr=0.002,sgd:lr=0.01", steps=30,
                      progress=False)
    rf = RunFigure(trajviz.run("himmelblau", "sgd:lr=0.01", steps=5, progress=False),
                   "himmelblau", **SMALL)
    rf.set_run(run)  # three bars where there was one
    theme = rf.theme
    for t in (0, 12, 29):
        rf.set_step(t)
        for panel in rf.update_panels:
            move = run.updates[:, t, panel.axis]
            np.testing.assert_allclose(panel.values(), move, rtol=1e-6)
            want = [to_rgba(theme.positive if v >= 0 else theme.negative) for v in move]
            np.testing.assert_allclose(panel.bars.get_facecolor(), want)


@check_figures_equal(extensions=["png"])
def test_set_run_draws_like_a_fresh_figure(fig_test, fig_ref):
    first = trajviz.run("beale", "sgd:lr=1e-3", steps=10, progress=False)
    second = trajviz.run("beale", "adam:lr=0.05,rmsprop:lr=0.01,adagrad:lr=0.3", steps=25,
                         progress=False)
    rf = RunFigure(first, "beale", figure=fig_test)
    rf.set_run(second)
    rf.set_step(17)
    RunFigure(second, "beale", figure=fig_ref).set_step(17)


@check_figures_equal(extensions=["png"])
def test_set_run_restyles_in_place_like_a_fresh_figure(fig_test, fig_ref):
    """Same optimizers, new values (what a slider does): the artists are reused."""
    first = trajviz.run("himmelblau", "adam:lr=0.1,momentum:lr=0.002,sgd:lr=0.01", steps=30,
                        progress=False)
    second = trajviz.run("himmelblau", "adam:lr=0.0123,momentum:lr=0.002,sgd:lr=0.03",
                         steps=30, starts=[[1.0, -2.0]], progress=False)
    rf = RunFigure(first, "himmelblau", figure=fig_test, arrows=True)
    rf.set_run(second)
    rf.set_step(20)
    RunFigure(second, "himmelblau", figure=fig_ref, arrows=True).set_step(20)


def partial_then_full(rf, run, step):
    """The pixels `redraw` gives after ``set_run(run)``, the rectangles it repainted, and the
    pixels of a full redraw of the same state."""
    rf.redraw()
    rf.set_run(run)
    rf.set_step(step)
    partial = np.array(rf.redraw())
    repainted = rf.repainted
    return partial, repainted, np.array(rf.redraw(full=True))


HIMMELBLAU = "adam:lr=0.1,momentum:lr=0.002,sgd:lr=0.01"


def himmelblau(specs=HIMMELBLAU, steps=30, **kwargs):
    return trajviz.run("himmelblau", specs, steps=steps, progress=False, **kwargs)


@pytest.mark.parametrize(("options", "make", "step"), [
    (dict(), lambda: himmelblau("adam:lr=0.0123,momentum:lr=0.002,sgd:lr=0.01"), 30),
    (dict(), lambda: himmelblau("adam:lr=0.1,momentum:lr=0.002,sgd:lr=0.0102"), 12),
    (dict(), lambda: himmelblau(steps=20), 20),
    (dict(), lambda: himmelblau(steps=45), 40),
    (dict(), lambda: himmelblau("adam:lr=0.1,sgd:lr=0.01"), 30),
    (dict(), lambda: himmelblau("sgd:lr=0.2,adam:lr=0.1,momentum:lr=0.002,rmsprop:lr=0.1"), 9),
    (dict(), lambda: himmelblau(starts=[[0.5, 0.5]]), 30),
    (dict(arrows=True, theme="dark"), lambda: himmelblau(steps=20), 5),
    (dict(view="3d"), lambda: himmelblau("adam:lr=0.05,sgd:lr=0.01"), 30),
    (dict(updates=False), lambda: himmelblau(steps=25), 25),
], ids=["one-lr-wider-label", "one-lr-same-width", "fewer-steps", "more-steps",
        "fewer-optimizers", "more-and-diverging", "new-start", "arrows-dark", "3d",
        "no-update-panel"])
def test_partial_redraw_after_set_run_equals_a_full_redraw(options, make, step):
    rf = RunFigure(himmelblau(), "himmelblau", **SMALL, **options)
    partial, repainted, full = partial_then_full(rf, make(), step)
    assert repainted  # something changed, and was repainted ...
    np.testing.assert_array_equal(partial, full)  # ... to exactly what a full draw paints
    np.testing.assert_array_equal(partial[..., :3], rf.render(step))


def test_one_learning_rate_repaints_only_its_legend_entry():
    """A label no wider than its column: no other entry moves; the axes keep their scales."""
    rf = RunFigure(himmelblau(), "himmelblau", size=(8, 6), dpi=60)
    partial, repainted, full = partial_then_full(
        rf, himmelblau("adam:lr=0.11,momentum:lr=0.002,sgd:lr=0.01"), 30)
    area = sum(r.width * r.height for r in repainted)
    h, w = full.shape[:2]
    assert 0 < area < 0.02 * w * h, [r.bounds for r in repainted]
    legend = rf.fig.legends[0].get_window_extent()
    assert all(legend.padded(3).contains(*r.min) and legend.padded(3).contains(*r.max)
               for r in repainted)
    np.testing.assert_array_equal(partial, full)


@pytest.mark.parametrize("change", [
    lambda rf: rf.loss.ax.set_ylabel("another label"),
    lambda rf: rf.update_panels[0].ax.set_xlim(-1, 1),
    lambda rf: rf.main.ax.axhline(0.5, color="red"),
    lambda rf: rf.fig.legends[0].get_texts()[0].set_color("red"),
    lambda rf: rf.fig.legends[0].get_texts()[1].set_text("a label much longer than before"),
    lambda rf: rf.loss.ax.set_position([0.62, 0.2, 0.3, 0.25]),
    lambda rf: rf.fig.text(0.1, 0.5, "a note"),
], ids=["axis-label", "limits", "new-line", "legend-colour", "legend-relaid-out", "place",
        "figure-text"])
def test_a_change_made_through_matplotlib_is_repainted_as_a_full_draw_would(change):
    """Nobody tells `redraw` what changed: it reads it from the artists."""
    rf = RunFigure(himmelblau(), "himmelblau", **SMALL)
    rf.set_step(12)
    rf.redraw()
    change(rf)
    partial = np.array(rf.redraw())
    h, w = partial.shape[:2]
    assert 0 < sum(r.width * r.height for r in rf.repainted) < w * h
    np.testing.assert_array_equal(partial[..., :3], rf.render(12))


def test_a_step_repaints_nothing_but_the_moving_artists():
    rf = RunFigure(himmelblau(), "himmelblau", **SMALL)
    rf.redraw()
    for t in (0, 17, 30):
        rf.set_step(t)
        frame = np.array(rf.redraw())
        assert rf.repainted == []
        np.testing.assert_array_equal(frame[..., :3], rf.render(t))


def test_redraw_on_a_figure_without_an_agg_canvas():
    from matplotlib.backend_bases import FigureCanvasBase
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), dpi=50)
    FigureCanvasBase(fig)
    rf = RunFigure(himmelblau(), "himmelblau", figure=fig)
    rf.set_step(10)
    assert isinstance(fig.canvas, FigureCanvasBase)
    np.testing.assert_array_equal(rf.redraw()[..., :3], rf.render(10))


@pytest.mark.parametrize(("colors", "expected", "sgd_alone"), [
    (None, ["#0072B2", "#D55E00", "#009E73"], "#0072B2"),
    ({"momentum": 4, "sgd": "#123456"}, ["#0072B2", "#E69F00", "#123456"], "#123456"),
    ({"adam(lr=0.1)": 2, "adam": 5}, ["#009E73", "#D55E00", "#009E73"], "#0072B2"),
], ids=["palette-order", "by-name", "label-before-name"])
def test_colours_by_optimizer_label_or_name(colors, expected, sgd_alone):
    from matplotlib.colors import to_rgba

    rf = RunFigure(himmelblau(), "himmelblau", colors=colors, **SMALL)
    np.testing.assert_allclose(rf.data.colors, [to_rgba(c) for c in expected])
    np.testing.assert_allclose(rf.main.heads.get_facecolors(), rf.data.colors)
    rf.set_run(himmelblau("sgd:lr=0.01"))  # the mapping stays with the figure
    np.testing.assert_allclose(rf.data.colors[0], to_rgba(sgd_alone))


@check_figures_equal(extensions=["png"])
def test_saved_run_draws_like_the_run(fig_test, fig_ref, tmp_path):
    run = trajviz.run("booth", "adam:lr=0.3,nesterov:lr=0.005", steps=15, progress=False)
    run.save(tmp_path / "run.npz")
    RunFigure(trajviz.Run.load(tmp_path / "run.npz"), "booth", figure=fig_test).set_step(9)
    RunFigure(run, "booth", figure=fig_ref).set_step(9)


def test_precomputed_background_for_a_surface_without_minima():
    plane = Surface("plane", lambda p: (p**2).sum(-1) + 1.0, domain=((-1, 1), (-1, 1)))
    xs = np.linspace(-1, 1, 30)
    x, y = np.meshgrid(xs, xs)
    run = trajviz.run(plane, "sgd:lr=0.1", steps=10, starts=[[0.8, -0.6]], progress=False)
    rf = RunFigure(run, plane, background=(x, y, x**2 + y**2 + 1.0), **SMALL)
    assert rf.main.ax.get_xlim() == (-1.0, 1.0)
    assert rf.loss.ax.get_yscale() == "log"
    assert rf.render(10).shape == (150, 200, 3)


def test_plot_is_the_final_frame():
    run = bowl_run("adam:lr=0.1", steps=8)
    fig = trajviz.plot(run, "quadratic", **SMALL)
    assert "step 8 / 8" in fig.get_suptitle()


def test_animate_returns_a_matplotlib_animation_over_the_frame_budget():
    run = bowl_run("adam:lr=0.1", steps=100)
    anim = trajviz.animate(run, "quadratic", frames=10, fps=5, **SMALL)
    assert isinstance(anim, RunAnimation)
    np.testing.assert_array_equal(anim.steps, np.linspace(0, 100, 10).round())
    assert "<script" in anim.to_jshtml()


@pytest.mark.parametrize("kwargs, match", [
    (dict(view="4d"), "valid views: 2d, 3d"),
    (dict(theme="neon"), "valid themes: light, dark"),
    (dict(dpi=0), "dpi must be at least 10"),
    (dict(dpi=1), "dpi must be at least 10"),
    (dict(size=(1e-300, 6)), "at least 32 and at most 65535 pixels a side"),
    (dict(size=(0.2, 3), dpi=100), "would be 20 x 300 pixels"),
    (dict(title="$" + "{" * 500 + "x" + "}" * 500 + "$"), "at most 500"),
    (dict(title="$" + "{" * 40 + "x" + "}" * 40 + "$"), "40 deep; at most 12"),
    (dict(caption=r"$\frac$"), "caption"),
], ids=["view", "theme", "dpi", "dpi-1", "tiny", "narrow", "long-title", "deep-title",
        "caption"])
def test_bad_figure_options_name_the_choices(kwargs, match):
    with pytest.raises(UsageError, match=match):
        RunFigure(bowl_run(), "quadratic", **kwargs)


def test_every_surface_has_teaching_defaults_for_every_seed_optimizer():
    assert set(TEACHING) == set(surfaces.names())
    for entry in TEACHING.values():
        assert set(entry.lr) == set(SEED_OPTIMIZERS)


@pytest.mark.parametrize("name", surfaces.names())
def test_teaching_defaults_move_every_optimizer_without_exploding(name):
    surface = surfaces.get(name)
    run = trajviz.run(surface, teaching_optimizers(surface), steps=teaching(surface).steps,
                      dtype="float64", progress=False)
    assert (run.diverged_at < 0).all(), run.diverged_at
    extent = max(hi - lo for lo, hi in surface.domain)
    travelled = np.linalg.norm(np.diff(run.positions, axis=1), axis=-1).sum(axis=1)
    assert (travelled > 0.05 * extent).all(), dict(zip(run.labels, travelled, strict=True))
    with torch.no_grad():
        start = float(surface.fn(torch.tensor(surface.start, dtype=torch.float64)))
    assert (run.loss.min(axis=1) < start).all()


def test_user_lr_wins_over_teaching_default():
    specs = teaching_optimizers("rosenbrock", "sgd:lr=0.123,adam")
    assert [s.kwargs["lr"] for s in specs] == [0.123, TEACHING["rosenbrock"].lr["adam"]]


EXTREME = ["quadratic:kappa=1e308", "plateau:tilt=1e300", "rastrigin:a=1e300",
           "rosenbrock:a=1e20,b=1e20", "plateau:width=1e300"]


@pytest.mark.parametrize("view", ["2d", "3d"])
@pytest.mark.parametrize("spec", EXTREME)
def test_extreme_but_finite_surface_parameters_draw(spec, view):
    run = trajviz.run(spec, "sgd:lr=1e-3", steps=2, dtype="float64", progress=False)
    fig = trajviz.plot(run, spec, view=view, **SMALL)
    fig.canvas.draw()
    assert fig.axes[0].get_xlim()[1] > fig.axes[0].get_xlim()[0]


def test_a_surface_with_no_finite_value_draws_no_contours_in_2d_and_refuses_3d():
    run = trajviz.run("rosenbrock:a=1e200", "sgd:lr=1e-3", steps=2, progress=False)
    fig = trajviz.plot(run, "rosenbrock:a=1e200", **SMALL)
    assert not [a for a in fig.axes[0].get_children() if isinstance(a, ContourSet)]
    with pytest.raises(UsageError, match="'rosenbrock:a=1e.200,b=100.0' has no finite value "
                                         r"on its domain \(its values overflow\)"):
        trajviz.plot(run, "rosenbrock:a=1e200", view="3d", **SMALL)


@pytest.mark.parametrize("log", [True, False])
@pytest.mark.parametrize("z", [
    np.full((5, 5), 3.0),                                   # flat
    np.full((5, 5), 1e40) + np.eye(5) * 1e24,               # flat to float precision
    np.where(np.eye(5) > 0, 1e308, -1e308),                 # spans the whole float range
    np.where(np.eye(5) > 0, 1.0, np.nan),                   # few finite values
    np.geomspace(1e-300, 1e-290, 25).reshape(5, 5),         # tiny
], ids=["flat", "float-flat", "huge", "few", "tiny"])
def test_contours_of_any_finite_grid_can_be_drawn(z, log):
    x, y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    surface = Surface("grid", lambda p: (p**2).sum(-1), ((-1.0, 1.0), (-1.0, 1.0)),
                      log_scale=log, min_value=0.0)
    run = trajviz.run(surface, "sgd:lr=0.1", steps=1, progress=False)
    for view in ("2d", "3d"):
        RunFigure(run, surface, background=(x, y, z), view=view, **SMALL).redraw()


def test_set_step_takes_an_integer_and_clips_it():
    rf = RunFigure(bowl_run(steps=4), "quadratic", **SMALL)
    for bad, error in [(float("nan"), UsageError), (1.5, UsageTypeError),
                       (True, UsageTypeError), ("2", UsageTypeError), (None, UsageTypeError)]:
        with pytest.raises(error, match="step must be an integer"):
            rf.set_step(bad)
    rf.set_step(np.int64(3))
    assert rf.step == 3
    rf.set_step(-1)
    assert rf.step == 0
    rf.set_step(10**30)
    assert rf.step == 4


def test_flow_set_step_takes_an_integer():
    from trajviz.plot.flow import FlowFigure, flow_starts

    run = trajviz.run("himmelblau", "sgd:lr=0.01", steps=2, starts=flow_starts("himmelblau", 2),
                      progress=False)
    ff = FlowFigure(run, "himmelblau", **SMALL)
    with pytest.raises(UsageTypeError, match="step must be an integer"):
        ff.set_step(0.5)
    with pytest.raises(UsageError, match="at least 32 and at most 65535 pixels"):
        FlowFigure(run, "himmelblau", size=(0.1, 3), dpi=100)


def test_a_legend_label_that_is_not_valid_mathtext_is_refused_before_drawing():
    run = bowl_run()
    meta = {**run.meta, "optimizers": [{**d, "label": r"$\frac$"} for d in run.meta[
        "optimizers"]]}
    bad = replace(run, meta=meta)
    with pytest.raises(UsageError, match=r"optimizer label '\$\\\\frac\$' is not valid"):
        RunFigure(bad, "quadratic", **SMALL)
    with pytest.raises(UsageError, match="optimizer label"):
        trajviz.plot(bad, "quadratic", **SMALL)


@pytest.mark.parametrize("view", ["2d", "3d"])
def test_the_smallest_figure_allowed_draws_without_warnings(view):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RunFigure(bowl_run(), "quadratic", size=(0.32, 0.32), dpi=100, view=view).redraw()
