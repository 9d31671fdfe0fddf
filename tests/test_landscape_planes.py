"""The planes: Hessian (against the exact Hessian), one PCA plane per optimizer, and every
plane's grid recomputable from what its file records."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from _landscape import small_mnist
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import trajviz
from trajviz.errors import UsageError
from trajviz.landscape import (
    Grid,
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    hessian_plane,
)
from trajviz.landscape.hessian import hvp_operator, top_eigen
from trajviz.landscape.pipeline import plane_files
from trajviz.landscape.plot import axis_labels


def tiny(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    x = torch.randn(90, 4)
    y = torch.randint(0, 3, (90,))
    return net, x, y


def exact_hessian(net: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy):
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]

    def f(flat: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = flat[offset:offset + shape.numel()].view(shape)
            offset += shape.numel()
        return loss_fn(functional_call(net, params, (x,)), y)

    w = parameters_to_vector(net.parameters()).detach()
    return torch.autograd.functional.hessian(f, w).double()


@pytest.mark.parametrize("loss_fn", [
    F.cross_entropy, lambda o, t: F.mse_loss(o.softmax(1), F.one_hot(t, 3).to(o.dtype))],
    ids=["cross-entropy", "mse-on-one-hot"])
@pytest.mark.parametrize("seed", [0, 1])
def test_lanczos_finds_the_exact_hessians_top_eigenpairs(seed, loss_fn, device):
    net, x, y = tiny(seed)
    h = exact_hessian(net, x, y, loss_fn)
    values, vectors = torch.linalg.eigh(h)
    w = parameters_to_vector(net.parameters()).detach()
    # blocks of 40 over 90 samples: the mean over uneven blocks is the full-data Hessian
    eig = top_eigen(hvp_operator(net, w, x.to(device), y.to(device), loss_fn, block=40),
                    w.numel(), tol=1e-7, seed=seed)
    np.testing.assert_allclose(eig.values.numpy(), values[-2:].flip(0).numpy(), rtol=1e-5)
    for k in range(2):
        assert abs(float(eig.vectors[k] @ vectors[:, -1 - k])) > 1 - 1e-6
    assert (eig.residuals < 1e-5).all() and eig.products <= w.numel() + 2


def test_hessian_plane_records_its_eigenvalues_and_labels_its_axes():
    net, x, y = tiny()
    w = parameters_to_vector(net.parameters()).detach()
    plane = hessian_plane(net, w, x, y, F.cross_entropy, tol=1e-7)
    values = torch.linalg.eigvalsh(exact_hessian(net, x, y))
    assert plane.kind == "hessian" and torch.equal(plane.centre, w)
    np.testing.assert_allclose(plane.meta["eigenvalues"], values[-2:].flip(0), rtol=1e-5)
    assert float(plane.d1.norm()) == pytest.approx(1, abs=1e-6)
    assert abs(float(plane.d1 @ plane.d2)) < 1e-6
    g = trajviz.loss_landscape(net, F.cross_entropy, (x, y), directions="hessian", grid=5,
                               progress=False)
    assert g.meta["directions"] == "hessian" and "Lanczos" in g.meta["plane"]["made"]
    lam = g.meta["plane"]["eigenvalues"]
    assert axis_labels(g) == (f"Hessian eigenvector 1  (λ₁ = {lam[0]:.3g})",
                              f"Hessian eigenvector 2  (λ₂ = {lam[1]:.3g})")
    # default extent: where the quadratic model rises by 1 along each eigenvector
    np.testing.assert_allclose(g.alpha[[0, -1]], [-np.sqrt(2 / lam[0]), np.sqrt(2 / lam[0])])
    # the curvature is there: along d1 the loss rises like lambda_1 a^2 / 2 near the centre
    centre = g.loss[2, 2]
    assert g.loss[2, 4] > centre and g.loss[2, 0] > centre


def test_a_non_finite_hessian_is_a_clear_error():
    net, x, y = tiny()
    w = parameters_to_vector(net.parameters()).detach().clone()
    w[0] = float("nan")
    with pytest.raises(UsageError, match="not finite"):
        hessian_plane(net, w, x, y, F.cross_entropy)


@pytest.fixture(scope="module")
def data():
    return small_mnist(1000, 200)


def plain_loss(model: nn.Module, weights: np.ndarray, x: torch.Tensor, y: torch.Tensor) -> float:
    net = copy.deepcopy(model)
    vector_to_parameters(torch.from_numpy(weights.astype(np.float32)), net.parameters())
    with torch.no_grad():
        return float(F.cross_entropy(net(x), y))


@pytest.mark.parametrize("directions", ["pca", "pca-each", "random", "hessian"])
def test_every_plane_records_how_it_was_made_and_its_grid_is_recomputable(data, directions,
                                                                          tmp_path, device):
    kw = dict(optimizers="sgd,adam", train_config=TrainConfig(iterations=12, record_every=3),
              plane=PlaneConfig(size=4, samples=150, directions=directions), progress=False,
              device=device)
    land = compute_landscape(build_model("logreg"), data, cache=tmp_path / "g.npz", **kw)
    files = plane_files(tmp_path / "g.npz", [g.labels[0] for g in land.grids])
    assert len(land.grids) == (2 if directions == "pca-each" else 1)
    assert all(f.exists() for f in files)
    x, y = data.train_x[:150], data.train_y[:150]
    for grid, path in zip(land.grids, files, strict=True):
        back = Grid.load(path)
        assert back.meta["directions"] == directions and back.meta["plane"]["made"]
        i, j = 1, 2
        assert back.loss[i, j] == pytest.approx(plain_loss(build_model("logreg"),
                                                           back.weights(i, j), x, y), rel=1e-5)
        np.testing.assert_array_equal(back.paths, grid.paths)
    again = compute_landscape(build_model("logreg"), data, cache=tmp_path / "g.npz", **kw)
    assert again.reused


def test_pca_each_plane_is_its_own_paths_pca_through_its_final_weights(data):
    land = compute_landscape(build_model("logreg"), data, optimizers="sgd,adam,sgd:lr=1e999",
                             train_config=TrainConfig(iterations=12, record_every=3),
                             plane=PlaneConfig(size=4, samples=100, directions="pca-each"),
                             progress=False)
    assert [g.labels for g in land.grids] == [["sgd(lr=0.1)"], ["adam"]]  # diverged: none
    for grid, t in zip(land.grids, land.training.trajectories[:2], strict=True):
        np.testing.assert_array_equal(grid.centre, t.final.numpy())
        np.testing.assert_allclose(grid.paths[0, -1], 0, atol=1e-5)
        # the plane holds the path's two principal directions of its mean-centred records
        points = t.params.double().numpy()
        centred = points - points.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        for k, d in enumerate((grid.d1, grid.d2)):
            assert abs(float(d.astype(float) @ vt[k])) == pytest.approx(1, abs=1e-4)
        assert sum(grid.meta["explained"]) == pytest.approx((s[:2] ** 2).sum() / (s ** 2).sum(),
                                                            rel=1e-4)
        assert grid.meta["plane"]["optimizer"] == t.label
    header, rows = land.table()
    assert rows[2][header.index("diverged")] == "at iteration 0"
    assert rows[2][header.index("plane misses")] == "-"


def test_plane_files_name_one_file_per_optimizer(tmp_path):
    assert plane_files(tmp_path / "g.npz", ["adam"]) == [tmp_path / "g.npz"]
    assert plane_files(tmp_path / "g.npz", ["sgd(lr=0.1)", "adam", "my.mod:Opt"]) == [
        tmp_path / "g-1-sgd.npz", tmp_path / "g-2-adam.npz", tmp_path / "g-3-my.mod-Opt.npz"]
