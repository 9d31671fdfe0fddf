"""The notebook explorer without a browser: its state alone (what each change re-runs), what
each control re-runs, what the UI shows for divergence and bad input, clicks, export, and the
run cache's slicing and splitting."""

import io

import numpy as np
import pytest
from matplotlib.backend_bases import MouseEvent
from PIL import Image

import trajviz
import trajviz.landscape
from trajviz import UsageError
from trajviz.optimizers import OptimizerSpec
from trajviz.plot import RunFigure
from trajviz.teaching import teaching
from trajviz.widgets import Explorer, ExplorerState, explore
from trajviz.widgets._cache import concat_runs, split_run, truncate_run

# no background runs: each test sees only the re-runs its own changes make
# (the prefetch has its own tests in test_explorer_prefetch.py)
SMALL = dict(size=(5, 3.5), dpi=40, backend="image", device="cpu", prefetch=False)
FOUR = ["sgd", "momentum", "adam", "rmsprop"]


@pytest.fixture
def ui(device) -> Explorer:
    """The explorer, its engine on the test device."""
    return explore("rosenbrock", FOUR, steps=40, **{**SMALL, "device": str(device)})


def rows(ui: Explorer, name: str) -> slice:
    i = [s.name for s in ui.specs()].index(name)
    return slice(i, i + 1)


def image(ui: Explorer) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(ui.view.widget.value)).convert("RGB"))


# ---- the state alone, no widget ----------------------------------------------------------


def state() -> ExplorerState:
    """The explorer's state with its first run done, Adam chosen to edit."""
    s = ExplorerState("rosenbrock", FOUR, steps=40, device="cpu")
    assert s.fetch().computed == 4
    s.target = "adam"
    return s


@pytest.mark.parametrize(("change", "rerun"), [
    (lambda s: s.set_hyper("lr", 0.02), 1),
    (lambda s: s.set_hyper("lr", 0.1), 0),  # Adam's teaching rate on rosenbrock: unchanged
    (lambda s: setattr(s, "steps", 20), 0),
    (lambda s: setattr(s, "steps", 60), 4),
    (lambda s: setattr(s, "start", (0.5, 1.5)), 4),
    (lambda s: setattr(s, "scheduler", "steplr:step_size=10"), 4),
    (lambda s: s.set_optimizers(["sgd", "adam", "adagrad"]), 1),
    (lambda s: s.set_optimizers(["adam"]), 0),
    (lambda s: s.choose_surface("quadratic"), 4),
], ids=["new-lr", "same-lr", "fewer-steps", "more-steps", "start", "scheduler",
        "add-optimizer", "drop-optimizers", "surface"])
def test_state_reruns_only_what_a_change_touched(change, rerun):
    s = state()
    change(s)
    fetch = s.fetch()
    assert fetch.computed == rerun and fetch.run.labels == [spec.label for spec in s.specs()]


def test_state_edits_one_entry_of_a_tuple_and_drops_a_default():
    s = state()
    s.set_hyper("beta2", 0.99)
    assert s.settings["adam"]["betas"] == (0.9, 0.99)
    assert (s.hypers()["beta1"], s.hypers()["beta2"]) == (0.9, 0.99)
    s.set_hyper("beta2", 0.999)  # torch's default again: the label does not name it
    assert "betas" not in s.settings["adam"]
    s.set_hyper("lr", 0.0123456)
    assert s.settings["adam"]["lr"] == 0.0123
    s.target = "momentum"
    assert "beta1" not in s.hypers() and s.hypers()["momentum"] == 0.9
    s.set_hyper("nesterov", True)
    s.set_hyper("momentum", 0.9)  # the preset's value
    assert s.settings["momentum"] == {"lr": 0.001, "nesterov": True}


def test_state_surface_brings_its_teaching_settings():
    s = ExplorerState("rosenbrock", ["sgd:lr=0.5", "adam"], device="cpu")
    assert s.settings == {"sgd": {"lr": 0.5}, "adam": {"lr": teaching("rosenbrock").lr["adam"]}}
    s.choose_surface("quadratic")
    quadratic = trajviz.resolve_surface("quadratic")
    assert s.settings["sgd"]["lr"] == teaching("quadratic").lr["sgd"]
    assert (s.steps, s.start) == (teaching("quadratic").steps, quadratic.start)
    s.steps = 30
    s.set_surface_params({"kappa": 50.0})
    assert s.surface.spec == "quadratic:kappa=50.0" and s.steps == 30
    with pytest.raises(UsageError, match="kappa"):
        s.set_surface_params({"kappa": -1.0})
    assert s.surface.spec == "quadratic:kappa=50.0"


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: setattr(s, "scheduler", "warmup"), "valid schedulers"),
    (lambda s: s.set_optimizers([]), "no optimizer selected"),
], ids=["scheduler", "no-optimizer"])
def test_state_bad_input_raises_on_fetch(change, message):
    s = state()
    change(s)
    with pytest.raises(UsageError, match=message):
        s.fetch()


# ---- the explorer ------------------------------------------------------------------------


def test_builds_and_shows_every_optimizer(ui):
    assert ui.run.labels == [s.label for s in ui.specs()]
    assert ui.run.steps == 40 and ui.controls["step"].max == 40
    assert image(ui).shape[:2] == (140, 200)  # 5 x 3.5 in at 40 dpi
    assert ui.timings[-1].rerun == 4 and ui.controls["status"].value == ""


def test_the_picture_is_the_run_drawn_on_its_own(ui, device):
    run = trajviz.run("rosenbrock", [s.spec for s in ui.specs()], steps=40, device=device,
                      progress=False)
    own = RunFigure(run, "rosenbrock", size=SMALL["size"], dpi=SMALL["dpi"])
    own.set_step(40)
    jpeg = io.BytesIO()
    Image.fromarray(own.redraw(full=True)[..., :3]).save(jpeg, format="jpeg", quality=92,
                                                         subsampling=0)
    assert ui.view.widget.value == jpeg.getvalue()


def test_moving_one_learning_rate_reruns_that_optimizer_only(ui, device):
    before, shown = ui.run, image(ui)
    ui.controls["target"].value = "adam"
    ui.controls["lr"].value = 0.02
    assert ui.timings[-1].rerun == 1 and ui.timings[-1].engine_s > 0
    after, r = ui.run, rows(ui, "adam")
    assert after.labels[r][0] == "adam(lr=0.02)"
    fresh = trajviz.run("rosenbrock", "adam:lr=0.02", steps=40, device=device, progress=False)
    assert ui.run.meta["device"] == str(device)
    np.testing.assert_array_equal(after.positions[r], fresh.positions)
    for other in ("sgd", "momentum", "rmsprop"):
        np.testing.assert_array_equal(after.positions[rows(ui, other)],
                                      before.positions[rows(ui, other)])
    assert not np.array_equal(image(ui), shown)
    ui.controls["lr"].value = 0.1  # back to the first run: from the cache, the same picture
    assert ui.timings[-1].rerun == 0 and ui.timings[-1].engine_s < ui.timings[-2].engine_s
    np.testing.assert_array_equal(image(ui), shown)


@pytest.mark.parametrize(("control", "value"), [("lr", 0.0234), ("steps", 30), ("step", 7)],
                         ids=["learning-rate", "fewer-steps", "scrub"])
def test_a_change_repaints_only_part_of_the_figure_as_a_full_draw_would(ui, control, value):
    ui.controls["target"].value = "adam"
    ui.controls[control].value = value
    h, w = image(ui).shape[:2]
    assert sum(r.width * r.height for r in ui.view.repainted) < 0.5 * w * h
    shown = ui.view.widget.value
    ui.view.redraw(ui.figure, full=True)
    assert ui.view.repainted[0].width == w and ui.view.widget.value == shown


def test_a_change_away_from_the_end_keeps_the_step_and_draws_as_a_full_draw(ui):
    ui.controls["step"].value = 7
    ui.controls["target"].value = "adam"
    ui.controls["lr"].value = 0.0234
    assert ui.figure.step == 7 and "step 7 / 40" in ui.figure.title_text.get_text()
    shown = ui.view.widget.value
    ui.view.redraw(ui.figure, full=True)
    assert ui.view.widget.value == shown


def test_a_change_validates_only_the_optimizer_it_touched(ui, monkeypatch):
    checked = []
    validate = OptimizerSpec.validate

    def counted(spec: OptimizerSpec) -> None:
        checked.append(spec.name)
        validate(spec)

    monkeypatch.setattr(OptimizerSpec, "validate", counted)
    c = ui.controls
    c["target"].value = "adam"
    c["lr"].value = 0.0234  # (the engine validates the optimizer it runs, too)
    assert set(checked) == {"adam"}
    c["target"].value = "momentum"
    c["nesterov"].value = True
    c["momentum"].value = 0.0  # invalid: torch's reason is kept with the verdict
    assert set(checked) == {"adam", "momentum"}
    checked.clear()
    c["steps"].value = 30  # a slice of the cached runs: nothing validated again
    assert checked == [] and "Nesterov momentum requires" in c["status"].value


def test_sliders_edit_the_chosen_optimizer_and_disable_what_it_does_not_take(ui):
    c = ui.controls
    c["target"].value = "adam"
    assert not c["beta1"].disabled and c["beta1"].value == 0.9
    c["beta2"].value = 0.99
    assert dict(ui.specs()[rows(ui, "adam").start].kwargs)["betas"] == (0.9, 0.99)
    c["target"].value = "momentum"
    assert c["beta1"].disabled and not c["nesterov"].disabled and c["momentum"].value == 0.9


def test_fewer_steps_slice_the_cache_and_more_steps_rerun(ui):
    full = ui.run
    ui.controls["steps"].value = 20
    assert ui.timings[-1].rerun == 0 and ui.run.steps == 20
    np.testing.assert_array_equal(ui.run.positions, full.positions[:, :21])
    ui.controls["steps"].value = 60
    assert ui.timings[-1].rerun == 4 and ui.run.steps == 60


def test_scrubbing_moves_the_figure_and_redraws(ui):
    end = image(ui)
    ui.controls["step"].value = 5
    assert ui.figure.step == 5 and ui.timings[-1].rerun == 0
    assert not np.array_equal(image(ui), end)
    ui.controls["step"].value = 40
    np.testing.assert_array_equal(image(ui), end)  # blitted frame == full draw


def test_nesterov_without_momentum_shows_torchs_message(ui):
    c = ui.controls
    c["target"].value = "momentum"
    c["nesterov"].value = True
    assert "tv-error" not in c["status"].value
    c["momentum"].value = 0.0
    assert "Nesterov momentum requires a momentum and zero dampening" in c["status"].value
    assert [lab.split("(")[0] for lab in ui.run.labels] == ["sgd", "adam", "rmsprop"]
    c["momentum"].value = 0.9  # the preset's value: valid again, and not named in the label
    label = ui.run.labels[rows(ui, "momentum")][0]
    assert "nesterov=True" in label and "momentum=" not in label and "tv-error" not in \
        c["status"].value


def test_divergence_is_marked_with_its_step(ui):
    ui.controls["target"].value = "sgd"
    ui.controls["lr"].value = 0.5
    at = int(ui.run.diverged_at[rows(ui, "sgd")][0])
    assert at > 0
    assert f"sgd(lr=0.5) diverged at step {at}" in ui.controls["status"].value
    legend = [t.get_text() for t in ui.figure.fig.legends[0].get_texts()]
    assert any(f"diverged at step {at}" in t for t in legend)


@pytest.mark.parametrize(("control", "value", "message"), [
    ("scheduler", "steplr:gamma=0.5", "step_size"),
    ("scheduler", "warmup", "valid schedulers"),
    ("scheduler", "onecyclelr:max_lr=0.1,total_steps=10", "Tried to step 11 times"),
], ids=["scheduler-missing-arg", "scheduler-unknown", "scheduler-fails-mid-run"])
def test_bad_input_becomes_a_message(ui, control, value, message):
    shown = ui.run
    ui.controls[control].value = value
    assert message in ui.controls["status"].value and "tv-error" in ui.controls["status"].value
    assert ui.run is shown


def test_scheduler_changes_the_learning_rate(ui):
    ui.controls["scheduler"].value = "steplr:step_size=10,gamma=0.5"
    assert ui.run.lr[0, 0] == 2 * ui.run.lr[0, 10] and "tv-error" not in ui.controls["status"].value


def test_surface_switch_brings_its_parameters_and_domain(ui):
    c = ui.controls
    c["surface"].value = "quadratic"
    (x0, x1), _ = trajviz.resolve_surface("quadratic").domain
    assert [b.description for b in c["surface_params"].children] == ["kappa"]
    assert (c["start_x"].min, c["start_x"].max) == (x0, x1)
    c["surface_params"].children[0].value = 50.0
    assert ui.run.meta["surface"] == "quadratic:kappa=50.0"
    c["surface_params"].children[0].value = -1.0
    assert "kappa &gt; 0" in c["status"].value and ui.run.meta["surface"] == "quadratic:kappa=50.0"


def test_click_on_the_surface_sets_the_start(ui):
    ax = ui.figure.main.ax
    x, y = ax.transData.transform((0.5, 1.5))
    MouseEvent("button_press_event", ui.view.figure.canvas, x, y, button=1)._process()
    np.testing.assert_allclose(ui.run.positions[:, 0], [[0.5, 1.5]] * 4, atol=1e-4)
    assert ui.timings[-1].cause == "click" and ui.timings[-1].rerun == 4


def test_export_gif_writes_through_the_cli_writer(ui, tmp_path):
    ui.controls["step"].value = 7
    path = ui.export_gif(tmp_path / "view.gif", frames=6)
    with Image.open(path) as gif:
        assert gif.n_frames == 6
    assert str(path) in ui.controls["status"].value and ui.figure.step == 7
    assert ui.export_gif(tmp_path / "missing" / "x.gif") is None
    assert "does not exist" in ui.controls["status"].value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["view.gif"]


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
def test_ipympl_backend_uses_the_canvas_widget():  # (the warning is ipympl's own toolbar's)
    from ipympl.backend_nbagg import Canvas

    ui = explore("booth", ["adam"], steps=10, **{**SMALL, "backend": "ipympl"})
    assert isinstance(ui.view.widget, Canvas) and ui.view.widget in ui.children[0].children
    ui.controls["lr"].value = 0.5
    assert ui.run.labels == ["adam(lr=0.5)"]
    ui.view.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(optimizers=["adam", "adam:lr=0.1"]), "each optimizer once"),
    (dict(optimizers=["adamm"]), "did you mean 'adam'"),
    (dict(backend="qt"), "valid backends"),
    (dict(surface="rosenbrok"), "did you mean 'rosenbrock'"),
], ids=["repeated", "unknown-optimizer", "backend", "surface"])
def test_bad_arguments_raise_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        explore(**{**SMALL, **kwargs})


def test_split_concat_and_truncate_are_exact():
    full = trajviz.run("rosenbrock", ["sgd:lr=0.5", "adam:lr=0.05"], steps=30,
                       starts=[[-1.5, 2.5], [0.0, 2.0]], device="cpu", progress=False)
    parts = split_run(full)
    assert [p.n_traj for p in parts] == [2, 2]
    joined = concat_runs(parts)
    for name in ("positions", "loss", "grads", "updates", "lr", "diverged_at", "evals"):
        np.testing.assert_array_equal(getattr(joined, name), getattr(full, name))
    assert joined.labels == full.labels
    diverged = int(full.diverged_at[0])
    assert 0 < diverged < 30
    for steps in (diverged - 1, diverged, 30):
        short = trajviz.run("rosenbrock", ["sgd:lr=0.5", "adam:lr=0.05"], steps=steps,
                            starts=[[-1.5, 2.5], [0.0, 2.0]], device="cpu", progress=False)
        cut = truncate_run(full, steps)
        for name in ("positions", "loss", "grads", "updates", "lr", "diverged_at", "evals"):
            np.testing.assert_array_equal(getattr(cut, name), getattr(short, name), err_msg=name)


def test_colours_stay_with_their_optimizer(ui):
    adam = ui.figure.data.colors[rows(ui, "adam")][0].copy()
    ui.controls["optimizers"].value = ("adam", "rmsprop")
    assert ui.run.labels[0].startswith("adam")
    np.testing.assert_array_equal(ui.figure.data.colors[0], adam)


# ---- explore_landscape, on a landscape of a tiny model and synthetic data -----------------


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    import torch

    from trajviz.landscape import Dataset, PlaneConfig, TrainConfig, build_model, compute_landscape

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(300, 1, 28, 28, generator=g), torch.randint(0, 10, (300,), generator=g)
    data = Dataset("mnist", x[:240], y[:240], x[240:], y[240:], {"dataset": "synthetic"})
    land = compute_landscape(build_model("logreg"), data,
                             optimizers="sgd:lr=0.1,adam,sgd:lr=1e36",
                             train_config=TrainConfig(iterations=20, batch_size=40,
                                                      record_every=5),
                             plane=PlaneConfig(size=5), device="cpu", progress=False)
    path = tmp_path_factory.mktemp("landscape") / "grid.npz"
    land.grid.save(path)
    return path


def test_landscape_paths_come_from_the_grid(grid_file):
    from trajviz.landscape import Grid

    grid = Grid.load(grid_file)
    ui = explore_landscape_small(grid_file)
    np.testing.assert_array_equal(ui.run.positions, grid.paths)
    np.testing.assert_array_equal(ui.run.loss, grid.path_plane_loss)
    assert ui.run.labels == grid.labels and ui.figure.step == ui.run.steps
    assert ui.run.lr[1, 0] == 1e-3  # adam's default, read from torch
    acc = grid.path_accuracy
    assert f"adam {100 * acc[1][-1]:.1f}%" in ui.controls["status"].value
    assert ui.controls["table"].value.count("<tr>") == 4


def test_landscape_scrub_and_switch(grid_file):
    ui = explore_landscape_small(grid_file)
    steps = trajviz.landscape.Grid.load(grid_file).path_steps[0]
    ui.controls["step"].value = 2
    assert ui.figure.step == 2
    assert f"training iteration {steps[2]} " in ui.controls["status"].value
    adam = ui.figure.data.colors[1].copy()
    ui.controls["optimizers"].value = ("adam",)
    assert ui.figure.run.labels == ["adam"] and ui.figure.step == 2
    np.testing.assert_array_equal(ui.figure.data.colors[0], adam)
    ui.controls["optimizers"].value = ()
    assert "no optimizer selected" in ui.controls["status"].value


def test_landscape_marks_a_diverged_path(grid_file):
    ui = explore_landscape_small(grid_file)
    at = int(ui.run.diverged_at[2])
    assert at > 0 and np.isnan(ui.run.positions[2, at:]).all()
    iteration = ui.run.meta["diverged_iteration"][2]
    assert iteration >= 0 and f"iteration {iteration}" in ui.controls["table"].value


def test_landscape_rejects_other_inputs(tmp_path):
    with pytest.raises(UsageError, match="not a trajviz grid file|cannot read grid file"):
        explore_landscape_small(tmp_path / "missing.npz")
    with pytest.raises(UsageError, match="takes a grid file"):
        explore_landscape_small(42)


def explore_landscape_small(source):
    return trajviz.explore_landscape(source, size=(5, 3.5), dpi=40, backend="image")


def test_own_surface_and_a_spec_string():
    bowl = trajviz.Surface.from_callable(lambda p: (p**2).sum(-1), name="bowl",
                                         domain=((-2.0, 2.0), (-2.0, 2.0)), start=(1.5, -1.0))
    ui = explore(bowl, "sgd:lr=0.1,adam:lr=0.05", steps=20, **SMALL)
    assert ui.run.labels == ["sgd(lr=0.1)", "adam(lr=0.05)"] and ui.run.meta["surface"] == "bowl"
    np.testing.assert_allclose(ui.run.positions[0, -1], 0.8**20 * np.array([1.5, -1.0]),
                               rtol=1e-5)  # SGD on |p|^2: p <- (1 - 2 lr) p
    ui.controls["surface"].value = "booth"
    ui.controls["surface"].value = "bowl"
    assert ui.run.meta["surface"] == "bowl" and "bowl" in ui.controls["surface"].options
