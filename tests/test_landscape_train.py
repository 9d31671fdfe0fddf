"""Training paths, the whole pipeline with its cache, the plane as a surface, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _landscape import mnist_root, small_mnist

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
    return small_mnist(1500, 500)


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
    (["--grid", "1"], "argument --grid: must be from 2 to 4096"),
    (["--grid", "100000"], "argument --grid: must be from 2 to 4096"),
    (["--extent", "1,2,3"], "--extent amin,amax,bmin,bmax of 4 finite numbers"),
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


# ---- what the optimizer did to all weights, against a plain training loop -----------------


@pytest.mark.parametrize("spec", ["sgd:lr=0.1", "momentum:lr=0.1", "adam", "rmsprop",
                                  "lbfgs:lr=0.1,max_iter=3"])
def test_update_size_and_sign_match_a_plain_training_loop(data, spec, device):
    model = build_model("mlp", seed=1).to(device)
    data = data.to(device)
    cfg = TrainConfig(iterations=6, batch_size=50, record_every=2, seed=3)
    t = train(model, spec, (data.train_x, data.train_y), (data.test_x, data.test_y),
              config=cfg, progress=False).trajectories[0]
    # the plain loop: the module's own parameters, torch.optim as documented
    net = __import__("copy").deepcopy(model)
    opt = parse_optimizers(spec)[0].build(net.parameters())
    perm = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(3))
    vec = torch.nn.utils.parameters_to_vector
    for step in range(6):
        idx = perm[step * 50:(step + 1) * 50].to(device)
        xb, yb = data.train_x[idx], data.train_y[idx]

        def closure(xb=xb, yb=yb):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            return loss

        before = vec(net.parameters()).detach().clone()
        loss = closure()
        grad = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
        opt.step(closure)
        delta = vec(net.parameters()).detach() - before
        assert t.train_loss[step] == float(loss.detach())
        assert t.update_norm[step] == pytest.approx(float(delta.norm()), rel=1e-6)
        share = float(((delta * grad) < 0).sum()) / float((delta != 0).sum())
        assert t.sign_share[step] == pytest.approx(share, abs=1e-12)
        if (step + 1) % 2 == 0:
            np.testing.assert_array_equal(t.params[(step + 1) // 2], vec(net.parameters())
                                          .detach().cpu())
    if spec == "sgd:lr=0.1" or spec == "rmsprop":
        assert (t.sign_share == 1).all()  # -lr * g, and g rescaled by a positive factor
    if spec in ("momentum:lr=0.1", "adam"):
        assert t.sign_share[0] == 1 and (t.sign_share[1:] < 1).all()


def test_diverged_training_is_marked_left_out_of_the_pca_and_drawn_until_it_left(data):
    land = compute_landscape(build_model("logreg"), data, optimizers="sgd:lr=1e999,adam,sgd",
                             train_config=TrainConfig(iterations=12, record_every=3),
                             plane=PlaneConfig(size=4, samples=100), progress=False)
    g = land.grid
    assert g.meta["plane"]["left_out"] == ["sgd(lr=inf)"]
    assert g.meta["plane"]["optimizers"] == ["adam", "sgd(lr=0.1)"]
    assert g.meta["diverged_at"] == [0, -1, -1]
    assert np.isfinite(g.paths[0, 0]).all() and np.isnan(g.paths[0, 1:]).all()
    run = land.to_run()
    assert run.diverged_at.tolist() == [1, -1, -1] and run.meta["diverged_iteration"][0] == 0
    header, rows = land.table()
    assert rows[0][header.index("diverged")] == "at iteration 0"
    # the extent is the converged paths' box
    assert g.alpha[0] < np.nanmin(g.paths[1:, :, 0]) and np.nanmax(g.paths[1:, :, 0]) < g.alpha[-1]
    # weights blown far beyond their start count as diverged even while finite
    t = train(build_model("mlp"), "sgd:lr=1e3", (data.train_x, data.train_y),
              (data.test_x, data.test_y), config=TrainConfig(iterations=10, record_every=1),
              progress=False).trajectories[0]
    assert t.diverged_at >= 0 and torch.isfinite(t.params).all()
    assert float(t.params.norm(dim=1).max()) <= 1000 * float(t.params[0].norm())
    with pytest.raises(UsageError, match=r"every optimizer diverged \(sgd\(lr=inf\) at "
                                         r"iteration 0, adam\(lr=inf\) at iteration 0\)"):
        compute_landscape(build_model("logreg"), data, optimizers="sgd:lr=1e999,adam:lr=1e999",
                          train_config=TrainConfig(iterations=4), progress=False)


def test_one_rule_gives_an_optimizer_named_without_lr_its_teaching_lr(data, monkeypatch):
    import trajviz.teaching as teaching

    land = compute_landscape(build_model("logreg"), data, optimizers="sgd,nesterov,adam",
                             train_config=TrainConfig(iterations=4, record_every=2),
                             plane=PlaneConfig(size=3, samples=50), progress=False)
    assert land.grid.labels == ["sgd(lr=0.1)", "nesterov(lr=0.1)", "adam"]
    assert land.grid.meta["lr"] == [0.1, 0.1, 0.001]  # adam at torch's default
    calls = []
    original = teaching.with_teaching_lr
    monkeypatch.setattr(teaching, "with_teaching_lr",
                        lambda opts, lrs: calls.append(dict(lrs)) or original(opts, lrs))
    assert teaching.net_optimizers("sgd:lr=0.3,momentum")[1].kwargs == {"lr": 0.1}
    assert teaching.teaching_optimizers("rosenbrock", "sgd")[0].kwargs == {"lr": 0.0015}
    assert calls == [teaching.NET.lr, teaching.TEACHING["rosenbrock"].lr]


def test_the_table_puts_the_tutorials_numbers_beside_runs_at_its_settings(land):
    import dataclasses

    from trajviz.landscape.pipeline import _tutorial_settings

    assert _tutorial_settings(build_model("mlp"), load_dataset("mnist", data_dir=mnist_root()),
                              TrainConfig(), torch.nn.functional.cross_entropy)
    assert not _tutorial_settings(build_model("logreg"), load_dataset(
        "mnist", data_dir=mnist_root()), TrainConfig(), torch.nn.functional.cross_entropy)
    header, rows = land.table()
    assert header[:3] == ["optimizer", "held-out accuracy", "tutorial"]
    assert [r[2] for r in rows] == ["-", "-"]  # 40 iterations: not the tutorial's settings
    grid = dataclasses.replace(land.grid, meta={**land.grid.meta, "tutorial_settings": True})
    header, rows = dataclasses.replace(land, grids=(grid,)).table()
    assert [r[2] for r in rows] == ["95.78%", "97.20%"]  # sgd(lr=0.1) and adam as published


# ---- the CLI checks every option before any work ------------------------------------------


@pytest.mark.parametrize("extra, message", [
    (["--out", "l.txt"], "unknown extension '.txt'"),
    (["--view", "1d", "--out", "line.gif"], "the 1-D view is a static figure"),
    (["--fps", "0"], "argument --fps: must be greater than 0"),
    (["--fps", "inf"], "argument --fps: must be greater than 0"),
    (["--frames", "0"], "argument --frames: must be at least 1"),
    (["--seed", "-1"], "argument --seed: must be from 0 to"),
    (["--seed", "99999999999999999999999"], "argument --seed: must be from 0 to"),
    (["--direction-seed", "-1"], "argument --direction-seed: must be from 0 to"),
    (["--memory-mb", "nan"], "argument --memory-mb: must be greater than 0"),
    (["--memory-mb", "inf"], "argument --memory-mb: must be greater than 0"),
    (["--grid-samples", "0"], "argument --grid-samples: must be at least 1"),
    (["--chunk-points", "0"], "argument --chunk-points: must be at least 1"),
    (["--record-every", "0"], "argument --record-every: must be at least 1"),
    (["--iterations", "0"], "argument --iterations: must be at least 1"),
    (["--extent", "0,1,nan,2"], "--extent amin,amax,bmin,bmax of 4 finite numbers"),
    (["--extent", "1,0,0,1"], "min < max"),
    (["--centre", "nobody"], "unknown centre 'nobody'"),
    (["--out", "a.gif/x.gif"], "does not exist"),
], ids=lambda v: v if isinstance(v, str) else "_".join(v))
def test_cli_checks_every_option_before_any_work_and_writes_nothing(extra, message, tmp_path,
                                                                     monkeypatch, capsys):
    import trajviz.landscape.data as data_module
    import trajviz.landscape.pipeline as pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(pipeline, "train", no_work)
    monkeypatch.setattr(data_module, "load_dataset", no_work)
    monkeypatch.chdir(tmp_path)
    args = ["landscape", "--data-dir", str(mnist_root()), "--optimizers", "sgd",
            "--save-grid", "grid.npz", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_default_output_and_every_optimizer_diverging(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["landscape", "--data-dir", str(mnist_root()), "--iterations", "4",
            "--record-every", "2", "--grid", "3", "--grid-samples", "60"]
    assert main([*base, "--optimizers", "sgd,adam", "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "mnist-landscape.gif").read_bytes()[:6] == b"GIF89a"
    assert "wrote mnist-landscape.gif" in out and "sgd(lr=0.1)" in out  # the teaching lr
    assert "data: mnist from" in out and "8000 for training, 2000 held out" in out
    (tmp_path / "mnist-landscape.gif").unlink()
    assert main([*base, "--optimizers", "sgd:lr=1e999,adam:lr=1e999",
                 "--save-grid", "g.npz"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "trajviz landscape: error: every optimizer diverged (sgd(lr=inf) at iteration 0, "
        "adam(lr=inf) at iteration 0): there is no path to draw; lower the learning rates"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("directions", ["pca-each", "hessian"])
def test_cli_draws_the_new_planes(directions, tmp_path, capsys):
    args = ["landscape", "--data-dir", str(mnist_root()), "--optimizers", "sgd,adam",
            "--iterations", "6", "--record-every", "2", "--grid", "3", "--grid-samples", "80",
            "--directions", directions, "--out", str(tmp_path / "l.png"),
            "--save-grid", str(tmp_path / "g.npz")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    if directions == "pca-each":
        assert "one PCA plane per optimizer" in out
        assert (tmp_path / "g-1-sgd.npz").exists() and (tmp_path / "g-2-adam.npz").exists()
    else:
        assert "Hessian plane: top eigenvalues" in out and (tmp_path / "g.npz").exists()


@pytest.mark.parametrize("call, error, message", [
    (lambda d: compute_landscape(build_model("logreg"), d, optimizers=None), TypeError,
     "optimizers must be a spec string"),
    (lambda d: compute_landscape(build_model("logreg"), d, optimizers=[]), UsageError,
     "no optimizer given"),
    (lambda d: compute_landscape(build_model("logreg"), (d.train_x, d.train_y)), TypeError,
     "data must be a trajviz.landscape.Dataset"),
    (lambda d: TrainConfig(iterations=2.5), UsageError, "iterations must be a whole number"),
    (lambda d: PlaneConfig(size="8"), UsageError, "grid size must be a whole number"),
    (lambda d: PlaneConfig(size=2.5), UsageError, "grid size must be a whole number"),
    (lambda d: PlaneConfig(samples=1.5), UsageError, "grid samples must be a whole number"),
    (lambda d: PlaneConfig(extent="abc"), UsageError, "extent must be four finite numbers"),
    (lambda d: PlaneConfig(directions="pcaa"), UsageError,
     "valid: pca, pca-each, random, hessian"),
    (lambda d: trajviz.loss_landscape(build_model("logreg"), torch.nn.functional.cross_entropy,
                                      (d.test_x, d.test_y), grid="8"), UsageError,
     "grid size must be a whole number"),
    (lambda d: trajviz.loss_landscape(build_model("logreg"), torch.nn.functional.cross_entropy,
                                      (d.test_x, d.test_y), directions="pca"), UsageError,
     "valid: random, hessian, or a Plane"),
], ids=["optimizers-none", "optimizers-empty", "data-tuple", "iterations-float", "size-str",
        "size-float", "samples-float", "extent-str", "directions", "loss-landscape-grid-str",
        "loss-landscape-pca"])
def test_api_bad_input_raises_a_clear_error_before_any_work(data, call, error, message,
                                                           monkeypatch):
    import trajviz.landscape.pipeline as pipeline

    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(error, match=message):
        call(data)
