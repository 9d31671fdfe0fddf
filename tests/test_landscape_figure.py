"""The landscape figure: every panel shows exactly what was recorded; the paths' one run
view; small multiples; a grid without paths; the explorer on the same figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _landscape import small_mnist
from matplotlib.colors import LogNorm
from torch.nn import functional as F

import trajviz
from trajviz.errors import UsageError
from trajviz.landscape import (
    Grid,
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    paths_run,
)
from trajviz.landscape.plot import (
    LandscapeFigure,
    as_grids,
    axis_labels,
    landscape_figure,
    save_landscape,
    slice_scale,
    trailing_mean,
)

OPTIMIZERS = "sgd,momentum,adam"


@pytest.fixture(scope="module")
def data():
    return small_mnist(1200, 300)


@pytest.fixture(scope="module")
def land(data):
    return compute_landscape(build_model("mlp", seed=0), data, optimizers=OPTIMIZERS,
                             train_config=TrainConfig(iterations=30, record_every=5),
                             plane=PlaneConfig(size=7, samples=300), progress=False)


@pytest.fixture(scope="module")
def each(data):
    return compute_landscape(build_model("mlp", seed=0), data, optimizers=OPTIMIZERS,
                             train_config=TrainConfig(iterations=30, record_every=5),
                             plane=PlaneConfig(size=5, samples=200, directions="pca-each"),
                             progress=False)


def drawn(collection):
    """The segments of a LineCollection as a list of (k, 2) arrays."""
    return [np.asarray(s).reshape(-1, 2) for s in collection.get_segments()]


@pytest.mark.parametrize("t", [0, 3, 6], ids=["start", "middle", "end"])
def test_every_side_panel_shows_what_was_recorded_up_to_the_record(land, t):
    g = land.grid
    rf = LandscapeFigure(land.grids, dpi=40)
    rf.set_step(t)
    steps = g.path_steps[:, :t + 1]
    real, plane = drawn(rf.loss_panel.lines[0]), drawn(rf.loss_panel.lines[1])
    acc = drawn(rf.accuracy_panel.lines[0])
    for k in range(len(g.labels)):
        np.testing.assert_array_equal(real[k], np.column_stack([steps[k], g.path_loss[k,
                                                                               :t + 1]]))
        np.testing.assert_array_equal(plane[k], np.column_stack([steps[k],
                                                                 g.path_plane_loss[k, :t + 1]]))
        np.testing.assert_array_equal(acc[k], np.column_stack([steps[k],
                                                               g.path_accuracy[k, :t + 1]]))
    # update size and sign: trailing means of every iteration's value, up to the iteration
    window = rf.curves.window
    for panel, values in ((rf.size_panel, g.update_norm), (rf.sign_panel, g.sign_share)):
        for k, seg in enumerate(drawn(panel.lines[0])):
            it = seg[:, 0].astype(int)
            assert (it <= g.path_steps[0, t]).all()
            expected = [values[k, max(0, i - window):i].mean() for i in it]
            np.testing.assert_allclose(seg[:, 1], expected, rtol=1e-12)
    assert rf.title_text.get_text().endswith(f"iteration {g.path_steps[0, t]} / 30")


def test_the_slice_shows_the_grid_with_its_scale_centre_starts_ends_and_paths(land):
    g = land.grid
    rf = landscape_figure(land, dpi=40)
    panel = rf.slices[0]
    levels = panel.filled.levels
    assert levels[0] <= g.loss.min() + 1e-12 and levels[-1] >= g.loss.max() - 1e-12
    assert rf.colorbar.ax.get_ylabel() == "loss on the plane (300 training images)"
    centre = [ln for ln in panel.ax.lines if ln.get_marker() == "+"]
    assert len(centre) == 1 and list(centre[0].get_xydata()[0]) == [0.0, 0.0]
    np.testing.assert_array_equal(panel.starts.get_offsets(), g.paths[:, 0])
    np.testing.assert_array_equal(panel.ends.get_offsets(), g.paths[:, -1])
    np.testing.assert_array_equal(panel.heads.get_offsets(), g.paths[:, -1])
    for k, seg in enumerate(drawn(panel.paths)):
        np.testing.assert_array_equal(seg, g.paths[k])
    assert panel.ax.get_xlabel() == axis_labels(g)[0] and axis_labels(g)[0].startswith("PC1")
    legend = [t.get_text() for t in rf.fig.legends[0].texts]
    for label, missed in zip(g.labels, g.meta["missed_steps"], strict=True):
        name = label.split("(")[0]
        assert any(t.startswith(name) and f"{100 * missed:.0f}% off the plane" in t
                   for t in legend)
    assert "real loss (all weights)" in legend and "loss at the projected point" in legend


def test_levels_are_geometric_over_decades_and_even_otherwise():
    levels, norm = slice_scale(np.array([[1e-3, 1.0], [10.0, 0.5]]))
    assert isinstance(norm, LogNorm) and levels[0] == pytest.approx(1e-3)
    np.testing.assert_allclose(np.diff(np.log(levels)), np.log(levels[1] / levels[0]))
    levels, norm = slice_scale(np.array([[-1.0, 0.0], [2.0, 1.0]]))
    assert not isinstance(norm, LogNorm)
    np.testing.assert_allclose(np.diff(levels), levels[1] - levels[0])


def test_trailing_mean_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    values = rng.random((3, 40))
    values[1, 25:] = np.nan  # diverged
    values[2, 7] = np.nan  # no weight moved
    out = trailing_mean(values, 6)
    for k in range(3):
        for i in range(40):
            if np.isnan(values[k, i]):
                assert np.isnan(out[k, i])
                continue
            window = values[k, max(0, i - 5):i + 1]
            assert out[k, i] == pytest.approx(np.nanmean(window), rel=1e-12)


def test_one_run_view_of_the_paths(land, each, tmp_path):
    run = land.to_run()
    g = land.grid
    np.testing.assert_array_equal(run.positions, g.paths)
    np.testing.assert_array_equal(run.loss, g.path_plane_loss)
    assert run.labels == g.labels == ["sgd(lr=0.1)", "momentum(lr=0.1)", "adam"]
    assert run.lr[:, 0].tolist() == [0.1, 0.1, 0.001]  # adam: torch's default, as trained
    assert run.meta["record_steps"] == g.path_steps[0].tolist()
    ui = trajviz.explore_landscape(land, dpi=30, backend="image")
    for name in ("positions", "loss", "lr", "diverged_at"):
        np.testing.assert_array_equal(getattr(ui.run, name), getattr(run, name))
    assert type(ui.figure) is LandscapeFigure
    # pca-each: one grid per optimizer, each with its own path, joined in one run
    joined = paths_run(each.grids)
    assert joined.labels == g.labels and joined.n_traj == 3
    for k, grid in enumerate(each.grids):
        np.testing.assert_array_equal(joined.positions[k], grid.paths[0])


def test_pca_each_draws_one_small_slice_per_optimizer_animated_in_step(each):
    rf = LandscapeFigure(each.grids, dpi=30)
    assert len(rf.slices) == 3
    for panel, grid in zip(rf.slices, each.grids, strict=True):
        assert panel.ax.get_title() == grid.labels[0]
        assert panel.ax.get_xlabel().startswith("PC1") and "'s path" in panel.ax.get_xlabel()
    rf.set_step(2)
    for panel, grid in zip(rf.slices, each.grids, strict=True):
        (seg,) = drawn(panel.paths)  # only its own optimizer's path
        np.testing.assert_array_equal(seg, grid.paths[0, :3])
    # every slice on one colour scale
    assert len({tuple(p.filled.levels) for p in rf.slices}) == 1


def test_a_grid_from_loss_landscape_draws_and_explores(data, tmp_path):
    path = tmp_path / "plain.npz"
    model = build_model("logreg")
    trajviz.loss_landscape(model, F.cross_entropy, (data.test_x[:100], data.test_y[:100]),
                           grid=4, save=path, progress=False)
    ui = trajviz.explore_landscape(path, dpi=30, backend="image")
    assert ui.run.n_traj == 0 and "no training paths" in ui.controls["status"].value
    assert ui.controls["step"].disabled and ui.figure.side == []
    assert ui.figure.title_text.get_text().endswith("random filter-normalized plane")
    png = save_landscape(path, tmp_path / "plain.png", dpi=30)
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UsageError, match="no 1-D view"):
        save_landscape(path, tmp_path / "line.png", view="1d")


def test_switching_optimizers_keeps_colours_limits_and_the_record(land):
    ui = trajviz.explore_landscape(land, dpi=30, backend="image")
    ui.controls["step"].value = 3
    ylim = ui.figure.loss_panel.ax.get_ylim()
    adam = ui.figure.data.colors[2].copy()
    ui.controls["optimizers"].value = ("adam",)
    assert ui.figure.run.labels == ["adam"] and ui.figure.step == 3
    np.testing.assert_array_equal(ui.figure.data.colors[0], adam)
    assert ui.figure.loss_panel.ax.get_ylim() == ylim
    (seg,) = drawn(ui.figure.loss_panel.lines[0])
    np.testing.assert_array_equal(seg[:, 1], land.grid.path_loss[2, :4])
    assert "training iteration 15 of 30" in ui.controls["status"].value


def test_save_writes_every_format_and_refuses_what_a_view_cannot_give(land, tmp_path):
    gif = save_landscape(land, tmp_path / "l.gif", dpi=30, frames=3)
    assert gif.read_bytes()[:6] == b"GIF89a"
    save_landscape(land, tmp_path / "line.svg", view="1d", dpi=30)
    assert b"<svg" in (tmp_path / "line.svg").read_bytes()[:400]
    for out, view, kw, message in [
        ("l.txt", "2d", {}, "unknown extension '.txt'"),
        ("line.gif", "1d", {}, "the 1-D view is a static figure"),
        ("l.gif", "2d", {"fps": 0}, "fps must be a positive"),
        ("l.gif", "2d", {"fps": float("inf")}, "fps must be a positive"),
        ("l.gif", "2d", {"frames": 0}, "frames must be at least 1"),
        ("l.gif", "4d", {}, "unknown view '4d'"),
    ]:
        with pytest.raises(UsageError, match=message):
            save_landscape(land, tmp_path / "x" / out, view=view, **kw)
    assert not (tmp_path / "x").exists()


def test_as_grids_takes_every_form_and_names_them_when_not(land, each, tmp_path):
    land.grid.save(tmp_path / "g.npz")
    for k, g in enumerate(each.grids):
        g.save(tmp_path / f"e{k}.npz")
    assert len(as_grids(land)) == 1 and len(as_grids(each)) == 3
    assert isinstance(as_grids(tmp_path / "g.npz")[0], Grid)
    assert len(as_grids([tmp_path / f"e{k}.npz" for k in range(3)])) == 3
    with pytest.raises(UsageError, match="takes a grid file"):
        trajviz.explore_landscape(42)
    with pytest.raises(UsageError, match="takes a grid file"):
        trajviz.explore_landscape([])


def test_3d_view_draws_the_paths_at_their_plane_loss(land):
    rf = landscape_figure(land, view="3d", dpi=30)
    panel = rf.slices[0]
    for k, line in enumerate(panel.lines):
        x, y, z = line.get_data_3d()
        np.testing.assert_array_equal(z, land.grid.path_plane_loss[k])
    legend = [t.get_text() for t in rf.fig.legends[0].texts]
    assert "end" not in legend and not any(t.startswith("plane centre") for t in legend)
    with pytest.raises(UsageError, match="unknown view"):
        LandscapeFigure(land.grids, view="1d")


def test_real_loss_is_the_plain_loss_of_the_recorded_weights(land, data):
    """The solid line: one plain forward pass over the grid's data at the recorded weights;
    on the plane's centre it equals the dashed line (the path ends on the plane)."""
    g = land.grid
    net = build_model("mlp")
    x, y = data.train_x[:300], data.train_y[:300]
    for k, t in enumerate(land.training.trajectories):
        for r in (0, len(t.steps) - 1):
            torch.nn.utils.vector_to_parameters(t.params[r], net.parameters())
            with torch.no_grad():
                assert g.path_loss[k, r] == pytest.approx(float(F.cross_entropy(net(x), y)),
                                                          rel=1e-5)
    best = g.labels.index(g.meta["centre"].split("of ")[1].split(" (")[0])
    assert g.path_plane_loss[best, -1] == pytest.approx(g.path_loss[best, -1], rel=1e-4)
