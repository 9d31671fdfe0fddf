"""Training paths, the whole pipeline with its cache, the plane as a surface, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _landscape import mnist_root

import trajviz
from trajviz.cli import main
from trajviz.errors import UsageError
from trajviz.landscape import (
    SEED_SETTINGS,
    Grid,
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    load_dataset,
    plane_surface,
    train,
)
from trajviz.optimizers import SEED_OPTIMIZERS, parse_optimizers


@pytest.fixture(scope="module")
def data():
    d = load_dataset("mnist", data_dir=mnist_root())
    # small sizes: the tests check behaviour, not convergence
    return type(d)(d.name, d.train_x[:1500], d.train_y[:1500], d.test_x[:500], d.test_y[:500],
                   d.meta)


@pytest.fixture(scope="module")
def land(data):
    return compute_landscape(build_model("mlp", seed=0), data, optimizers="sgd:lr=0.1,adam",
                             train_config=TrainConfig(iterations=40, record_every=10),
                             plane=PlaneConfig(size=9, samples=400), progress=False)


def test_seed_settings_are_the_seeds_eight_with_the_tutorial_values():
    specs = parse_optimizers(",".join(SEED_SETTINGS))
    assert [s.name for s in specs] == list(SEED_OPTIMIZERS)
    assert all(s.all_kwargs.get("lr") == 0.1 for s in specs[:3])
    assert specs[2].all_kwargs == {"momentum": 0.9, "nesterov": True, "lr": 0.1}
    assert all(s.kwargs == {} for s in specs[3:])


def test_every_optimizer_starts_from_the_same_weights_and_records_its_path(data):
    model = build_model("mlp", seed=0)
    init = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
    cfg = TrainConfig(iterations=25, batch_size=100, record_every=10)
    tr = train(model, "sgd:lr=0.1,momentum:lr=0.1,adam", (data.train_x, data.train_y),
               (data.test_x, data.test_y), config=cfg, progress=False)
    assert torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()), init)
    assert tr.labels == ["sgd(lr=0.1)", "momentum(lr=0.1)", "adam"]
    for t in tr.trajectories:
        assert torch.equal(t.params[0], init)
        assert t.params.shape == (4, init.numel()) and t.steps.tolist() == [0, 10, 20, 25]
        assert t.train_loss.shape == (25,) and np.isfinite(t.train_loss).all()
        assert 0.5 < t.final_acc <= 1 and t.test_acc[0] < 0.3  # learns from chance
    assert not torch.equal(tr.trajectories[0].final, tr.trajectories[2].final)
    header, rows = tr.table()
    assert header[1] == "held-out accuracy" and rows[0][1].endswith("%")
    # the same seed gives the same batches: sgd again reproduces its path exactly
    again = train(model, "sgd:lr=0.1", (data.train_x, data.train_y), (data.test_x, data.test_y),
                  config=cfg, progress=False)
    assert torch.equal(again.trajectories[0].params, tr.trajectories[0].params)


@pytest.mark.parametrize("batch_size", [1, 1500], ids=["stochastic", "full-batch"])
def test_batch_size_spans_stochastic_to_batch_descent(data, batch_size):
    tr = train(build_model("logreg"), "sgd:lr=0.1", (data.train_x, data.train_y),
               (data.test_x, data.test_y),
               config=TrainConfig(iterations=6, batch_size=batch_size, record_every=3),
               progress=False)
    assert tr.trajectories[0].params.shape[0] == 3
    with pytest.raises(UsageError, match="larger than the training set"):
        train(build_model("logreg"), "sgd", (data.train_x, data.train_y),
              (data.test_x, data.test_y), config=TrainConfig(batch_size=2000), progress=False)


def test_landscape_grid_paths_and_line(land):
    g = land.grid
    assert g.loss.shape == (9, 9) and np.isfinite(g.loss).all()
    assert ((g.accuracy >= 0) & (g.accuracy <= 1)).all()
    assert g.paths.shape == (2, 5, 2) and g.path_steps[0].tolist() == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(g.paths[0, 0], g.paths[1, 0])  # the shared start
    assert len(g.meta["explained"]) == 2 and 0 < sum(g.meta["explained"]) <= 1 + 1e-9
    assert all(0 <= m <= 1 for m in g.meta["missed_steps"])
    # the paths lie inside the grid, and the centre's path ends at (0, 0)
    assert g.alpha[0] < np.nanmin(g.paths[..., 0]) and np.nanmax(g.paths[..., 0]) < g.alpha[-1]
    best = g.labels.index(g.meta["centre"].split("of ")[1].split(" (")[0])
    np.testing.assert_allclose(g.paths[best, -1], 0, atol=1e-4)
    # the 1-D view starts at the shared initial loss and ends at each final loss
    t0, t1 = list(g.line_t).index(0.0), list(g.line_t).index(1.0)
    np.testing.assert_allclose(g.line_loss[:, t0], g.line_loss[0, t0], rtol=1e-6)
    np.testing.assert_allclose(g.line_loss[:, t1], g.meta["final_loss"], rtol=1e-5)
    run = land.to_run()
    assert run.positions.shape == (2, 5, 2) and run.labels == g.labels


def test_cached_grid_is_reused_only_when_nothing_changed(data, tmp_path):
    path = tmp_path / "grid.npz"
    kw = dict(optimizers="sgd:lr=0.1,adam", train_config=TrainConfig(iterations=10,
              record_every=5), progress=False)
    first = compute_landscape(build_model("logreg"), data, plane=PlaneConfig(size=5), cache=path,
                              **kw)
    assert not first.reused and path.exists()
    again = compute_landscape(build_model("logreg"), data, plane=PlaneConfig(size=5), cache=path,
                              **kw)
    assert again.reused
    np.testing.assert_array_equal(again.grid.loss, Grid.load(path).loss)
    other = compute_landscape(build_model("logreg", seed=1), data, plane=PlaneConfig(size=5),
                              cache=path, **kw)
    assert not other.reused
    bigger = compute_landscape(build_model("logreg", seed=1), data, plane=PlaneConfig(size=6),
                               cache=path, **kw)
    assert not bigger.reused and Grid.load(path).loss.shape == (6, 6)


def test_the_slice_is_a_differentiable_surface_the_engine_can_race_on(land, data):
    g = land.grid
    s = plane_surface(build_model("mlp"), g.plane, data.train_x[:400], data.train_y[:400],
                      extent=tuple(g.meta["extent"]))
    # equals the grid at a grid point (same 400 images)
    i, j = 4, 6
    value = s(torch.tensor([g.alpha[j], g.beta[i]], dtype=torch.float64))
    assert abs(float(value) - g.loss[i, j]) < 1e-5
    xy = torch.tensor([[0.3, -0.2], [0.1, 0.4]], dtype=torch.float64, requires_grad=True)
    s(xy).sum().backward()
    eps = 1e-2
    fd = (s(torch.tensor([0.3 + eps, -0.2])) - s(torch.tensor([0.3 - eps, -0.2]))) / (2 * eps)
    assert float(xy.grad[0, 0]) == pytest.approx(float(fd), rel=2e-2, abs=1e-4)
    run = trajviz.run(s, "sgd:lr=0.5,adam:lr=0.05", steps=8, starts=[[1.0, 1.0]],
                      progress=False)
    assert run.positions.shape == (2, 9, 2)
    assert (run.loss[:, -1] < run.loss[:, 0]).all()


def test_cli_trains_prints_the_table_and_writes_grid_and_figure(tmp_path, capsys):
    out, grid = tmp_path / "land.png", tmp_path / "grid.npz"
    args = ["landscape", "--data-dir", str(mnist_root()), "--optimizers", "sgd:lr=0.1,adam",
            "--iterations", "20", "--grid", "7", "--grid-samples", "300", "--out", str(out),
            "--save-grid", str(grid)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "only the official test split" in text and "held-out accuracy" in text
    assert "PCA plane: PC1" in text and "plane misses" in text
    assert out.stat().st_size > 10_000 and Grid.load(grid).loss.shape == (7, 7)
    assert main(args) == 0
    assert "reused from the cache" in capsys.readouterr().out


def test_cli_animates_and_draws_the_1d_view(tmp_path):
    base = ["landscape", "--data-dir", str(mnist_root()), "--optimizers", "sgd:lr=0.1,adam",
            "--iterations", "10", "--record-every", "5", "--grid", "5", "--grid-samples", "200",
            "--directions", "random"]
    assert main([*base, "--out", str(tmp_path / "a.gif"), "--frames", "3"]) == 0
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    assert main([*base, "--view", "1d", "--out", str(tmp_path / "line.png")]) == 0
    assert (tmp_path / "line.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("extra, message", [
    (["--model", "resnet"], "unknown model 'resnet'; valid models: mlp, logreg, cnn"),
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "tpu"],
     "device"),
    (["--grid", "1"], "grid size must be at least 2"),
    (["--grid", "100000"], "too large"),
    (["--extent", "1,2,3"], "--extent must be"),
    (["--optimizers", "adamm"], "unknown optimizer 'adamm'"),
    (["--centre", "nobody"], "unknown centre 'nobody'"),
], ids=["model", "device", "grid-small", "grid-huge", "extent", "optimizer", "centre"])
def test_cli_bad_input_exits_2_with_a_message(extra, message, capsys):
    args = ["landscape", "--data-dir", str(mnist_root()), "--iterations", "2",
            "--optimizers", "sgd", "--grid", "3", "--grid-samples", "50", *extra]
    if "--optimizers" in extra:
        args = args[:5] + args[7:]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("setup, message", [
    ("missing", "no MNIST data in"),
    ("corrupt", "wrong magic number"),
], ids=["missing-data", "corrupt-idx"])
def test_cli_data_problems_exit_2(tmp_path, setup, message, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    if setup == "corrupt":
        (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04" + bytes(100))
        (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(4))
    assert main(["landscape", "--data-dir", str(tmp_path), "--out",
                 str(tmp_path / "x.png")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
