"""Planes and grids: every batched method equals the plain per-point loop; files round-trip."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from _landscape import mnist_root
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from trajviz.errors import UsageError
from trajviz.landscape import (
    Grid,
    Plane,
    PlaneEvaluator,
    build_model,
    evaluate_grid,
    load_dataset,
    pca_plane,
    project,
    random_plane,
)
from trajviz.landscape.directions import choose_centre, filter_normalize
from trajviz.landscape.grid import ARRAYS, check_grid_size, grid_points


@pytest.fixture(scope="module")
def mnist():
    d = load_dataset("mnist", data_dir=mnist_root())
    return d.train_x[:600], d.train_y[:600]


def plain_loop(model, plane, points, x, y):
    """The reference: set the weights, one forward pass, per point."""
    net = build_like(model)
    losses, accs = [], []
    with torch.no_grad():
        for a, b in points:
            vector_to_parameters(plane.point(float(a), float(b)), net.parameters())
            out = net(x)
            losses.append(float(nn.functional.cross_entropy(out, y)))
            accs.append(int((out.argmax(1) == y).sum()) / len(y))
    return np.array(losses), np.array(accs)


def build_like(model):
    import copy
    return copy.deepcopy(model)


class DeepMLP(nn.Module):
    """Not an nn.Sequential: only the general vmap method applies."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(784, 32), nn.Linear(32, 10)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x.flatten(1))))


MODELS = {"mlp": lambda: build_model("mlp", seed=1), "logreg": lambda: build_model("logreg"),
          "cnn": lambda: build_model("cnn", seed=2), "custom": lambda: torch.manual_seed(0)
          and DeepMLP()}
CASES = [("mlp", "affine"), ("mlp", "vmap"), ("logreg", "affine"), ("cnn", "affine"),
         ("cnn", "vmap"), ("custom", "vmap"), ("mlp", "auto")]


@pytest.mark.parametrize("model_name, method", CASES, ids=[f"{m}-{k}" for m, k in CASES])
@pytest.mark.parametrize("bias", ["zero", "copy"])
def test_batched_methods_equal_the_plain_loop(mnist, model_name, method, bias, device):
    x, y = mnist
    model = MODELS[model_name]()
    centre = parameters_to_vector(model.parameters()).detach()
    plane = random_plane(model, centre, seed=5, bias=bias)
    points = grid_points(np.linspace(-0.8, 0.8, 4), np.linspace(-0.5, 1.0, 3))
    n = 200 if model_name == "cnn" else len(x)
    ev = PlaneEvaluator(model, plane, x[:n], y[:n], method=method, memory_mb=1, device=device)
    loss, acc = ev.evaluate(points, chunk=5)
    ref_loss, ref_acc = plain_loop(model, plane, points, x[:n], y[:n])
    np.testing.assert_allclose(loss, ref_loss, rtol=0, atol=1e-5)
    np.testing.assert_allclose(acc, ref_acc, rtol=0, atol=1e-12)
    assert loss.std() > 1e-3  # the points really differ


def test_auto_uses_the_affine_fast_path_only_where_it_pays():
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for name, expected in (("mlp", "affine"), ("logreg", "affine"), ("cnn", "vmap")):
        m = build_model(name)
        c = parameters_to_vector(m.parameters()).detach()
        assert PlaneEvaluator(m, random_plane(m, c), x, y).method == expected


@pytest.mark.parametrize("memory_mb", [0.05, 1, 256], ids=["tiny", "small", "large"])
def test_memory_budget_changes_chunks_not_values(mnist, memory_mb, device):
    x, y = mnist
    model = build_model("mlp")
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=2)
    alpha, beta = np.linspace(-1, 1, 7), np.linspace(-1, 1, 5)
    ev = PlaneEvaluator(model, plane, x, y, memory_mb=memory_mb, device=device)
    loss, acc = evaluate_grid(ev, alpha, beta)
    ref = PlaneEvaluator(model, plane, x, y, method="loop", device=device).evaluate(
        grid_points(alpha, beta))
    np.testing.assert_allclose(loss, ref[0], atol=1e-5)
    np.testing.assert_array_equal(acc, ref[1])


def test_any_range_of_grid_points_matches_the_whole_grid(mnist, device):
    x, y = mnist
    model = build_model("logreg")
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=1)
    alpha, beta = np.linspace(-1, 1, 6), np.linspace(0, 2, 4)
    ev = PlaneEvaluator(model, plane, x, y, device=device)
    whole, _ = evaluate_grid(ev, alpha, beta)
    seen = []
    parts = [evaluate_grid(ev, alpha, beta, start=a, stop=b, chunk=3,
                           on_chunk=lambda i, j, lo, ac: seen.append((i, j)))[0]
             for a, b in ((0, 7), (7, 8), (8, 24))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert seen == [(0, 3), (3, 6), (6, 7), (7, 8), (8, 11), (11, 14), (14, 17), (17, 20),
                    (20, 23), (23, 24)]
    pts = grid_points(alpha, beta)
    assert tuple(pts[7]) == (alpha[1], beta[1])  # row-major in beta


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loss", ["mean cross-entropy", "smoothed"])
def test_a_points_value_is_the_same_in_any_batch_on_the_fast_path(device, dtype, loss):
    """The MLP's fast path shares work between the points of a batch (a grid row's first
    layer term, batched matrix products) and, on the CPU, shares parts of the batch among
    threads: each point's loss must still be bit-for-bit the same alone, in any order, in
    any chunk, on or off a grid row, with one, two or three threads, for the in-place
    cross-entropy and for any other loss (applied to the outputs), in float32 and float64;
    and it must match the general path (the per-point loop)."""
    d = load_dataset("mnist", data_dir=mnist_root())
    x, y = d.train_x[:1100].to(dtype), d.train_y[:1100]  # three data blocks, one shorter
    model = build_model("mlp").to(dtype)
    loss_fn = (nn.functional.cross_entropy if loss == "mean cross-entropy"
               else nn.CrossEntropyLoss(label_smoothing=0.1))
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=2)
    ev = PlaneEvaluator(model, plane, x, y, loss_fn=loss_fn, device=device)
    assert ev.method == "affine"
    ev._sub = 4  # parts of a few points, so that the threads share a chunk's parts
    pts = grid_points(np.linspace(-1, 1, 7), np.linspace(-0.5, 0.5, 5))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread = ev.evaluate(pts)
        torch.set_num_threads(3)
        three_threads = ev.evaluate(pts)
        torch.set_num_threads(2)
        whole, acc = ev.evaluate(pts)
        alone = np.array([ev.evaluate(p[None])[0][0] for p in pts[::4]])
        order = np.random.default_rng(0).permutation(len(pts))
        shuffled = np.empty(len(pts))
        shuffled[order] = ev.evaluate(pts[order])[0]
        chunked = np.concatenate([ev.evaluate(pts[i:i + 5], chunk=2)[0]
                                  for i in range(0, len(pts), 5)])
        assert torch.get_num_threads() == 2  # the setting is restored
    finally:
        torch.set_num_threads(before)
    for other in (one_thread, three_threads):
        np.testing.assert_array_equal(other[0], whole)
        np.testing.assert_array_equal(other[1], acc)
    np.testing.assert_array_equal(alone, whole[::4])
    np.testing.assert_array_equal(shuffled, whole)
    np.testing.assert_array_equal(chunked, whole)
    ref, ref_acc = PlaneEvaluator(model, plane, x, y, loss_fn=loss_fn, device=device,
                                  method="loop").evaluate(pts)
    np.testing.assert_allclose(whole, ref, rtol=1e-5 if dtype == torch.float32 else 1e-10)
    np.testing.assert_array_equal(acc, ref_acc)


def test_the_cpu_threads_share_a_chunks_parts_each_running_single_threaded(mnist):
    x, y = mnist
    model = build_model("mlp")
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=2)
    ev = PlaneEvaluator(model, plane, x, y, device="cpu")
    ev._sub = 3
    seen: set[tuple[int, int]] = set()
    blocks = ev._fast_blocks

    def watched(*args, **kwargs):
        seen.add((threading.get_ident(), torch.get_num_threads()))
        return blocks(*args, **kwargs)

    ev._fast_blocks = watched
    pts = grid_points(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        loss, _ = ev.evaluate(pts)
        assert torch.get_num_threads() == 2
        assert len(seen) == 2 and {n for _, n in seen} == {1}  # two threads, one op thread
        assert threading.get_ident() not in {t for t, _ in seen}
        ev._fast_blocks = lambda *a, **k: 1 / 0  # a failing part: the error, and the
        with pytest.raises(ZeroDivisionError):  # thread setting restored
            ev.evaluate(pts)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert np.isfinite(loss).all()


def test_grid_file_round_trips_and_any_value_can_be_recomputed(mnist, tmp_path):
    x, y = mnist
    model = build_model("mlp")
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=3)
    alpha, beta = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 5)
    loss, acc = evaluate_grid(PlaneEvaluator(model, plane, x, y), alpha, beta)
    grid = Grid(alpha, beta, loss.reshape(5, 5), acc.reshape(5, 5), plane.centre.numpy(),
                plane.d1.numpy(), plane.d2.numpy(), meta={"labels": ["a"], "model": "mlp"})
    grid.save(tmp_path / "g.npz")
    back = Grid.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(back.loss, grid.loss)
    assert back.meta == grid.meta and back.centre.dtype == np.float32
    from trajviz.landscape.plot import axis_labels

    assert axis_labels(back)[0].startswith("random direction 1")
    raw = np.load(tmp_path / "g.npz", allow_pickle=False)  # plain NumPy, no trajviz
    net = build_like(model)
    i, j = 1, 3
    w = raw["centre"] + raw["alpha"][j] * raw["d1"] + raw["beta"][i] * raw["d2"]
    vector_to_parameters(torch.from_numpy(w.astype(np.float32)), net.parameters())
    with torch.no_grad():
        value = float(nn.functional.cross_entropy(net(x), y))
    assert abs(value - raw["loss"][i, j]) < 1e-5


@pytest.mark.parametrize("content, message", [
    (dict(alpha=np.zeros(3)), "not a valid trajviz grid file: .*missing beta"),
    ({**{k: np.zeros(2) for k in ARRAYS}, "meta": np.array("{}"),
      "loss": np.array([{"x": 1}], dtype=object)}, "loss holds Python objects"),
], ids=["missing-arrays", "pickled-object"])
def test_grid_load_rejects_bad_files_without_unpickling(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(UsageError, match=message):
        Grid.load(path)


@pytest.mark.parametrize("alpha, message", [
    (np.array([0.0, 1e308]), "extent: the alpha axis spans 1e\\+308"),
    (np.array([0.0, 1e-300]), "extent: the alpha axis spans 1e-300"),
    (np.array([0.0, np.nan]), "alpha must hold at least two finite, increasing values"),
    (np.array([1.0, 0.0]), "alpha must hold at least two finite, increasing values"),
    (np.array([0.5]), "alpha must hold at least two finite, increasing values"),
], ids=["huge", "tiny", "nan", "decreasing", "one-point"])
def test_grid_load_refuses_axes_no_figure_can_draw(tmp_path, alpha, message):
    g, p = len(alpha), 3
    arrays = {k: np.zeros((0, 0)) for k in ARRAYS}
    arrays.update(alpha=alpha, beta=np.linspace(-1, 1, 2), loss=np.ones((2, g)),
                  accuracy=np.ones((2, g)), centre=np.zeros(p, np.float32),
                  d1=np.ones(p, np.float32), d2=np.ones(p, np.float32),
                  paths=np.zeros((0, 0, 2)), path_steps=np.zeros((0, 0), np.int64),
                  line_t=np.zeros(0))
    good = {**arrays, "alpha": np.linspace(-1, 1, g)}
    np.savez(tmp_path / "good.npz", meta=np.array("{}"), **good)
    if g > 1:
        assert Grid.load(tmp_path / "good.npz").loss.shape == (2, g)
    np.savez(tmp_path / "bad.npz", meta=np.array("{}"), **arrays)
    with pytest.raises(UsageError, match="not a valid trajviz grid file: .*bad.npz': " + message):
        Grid.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("size, message", [(1, "at least 2"), (100_000, "too large")],
                         ids=["too-small", "too-large"])
def test_grid_size_limits(size, message):
    with pytest.raises(UsageError, match=message):
        check_grid_size(size)


def test_filter_normalization_matches_each_filter_norm():
    model = build_model("cnn")
    w = parameters_to_vector(model.parameters()).detach()
    d = torch.randn(w.numel(), generator=torch.Generator().manual_seed(0))
    for bias in ("zero", "copy", "filter"):
        out, offset = filter_normalize(d, w, model, bias=bias), 0
        for p in model.parameters():
            k = p.numel()
            do, wo = out[offset:offset + k], w[offset:offset + k]
            if p.ndim > 1:
                torch.testing.assert_close(do.view(p.shape[0], -1).norm(dim=1),
                                           wo.view(p.shape[0], -1).norm(dim=1))
            elif bias == "zero":
                assert not do.any()
            elif bias == "copy":
                assert torch.equal(do, wo)
            else:
                torch.testing.assert_close(do.norm(), wo.norm())
            offset += k


def test_random_planes_are_seeded():
    m = build_model("logreg")
    c = parameters_to_vector(m.parameters()).detach()
    a, b, other = random_plane(m, c, seed=1), random_plane(m, c, seed=1), random_plane(m, c, seed=2)
    assert torch.equal(a.d1, b.d1) and torch.equal(a.d2, b.d2)
    assert not torch.equal(a.d1, other.d1)
    assert abs(a.meta["cosine_d1_d2"]) < 0.2


def test_pca_recovers_a_plane_the_paths_lie_in():
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(50, 2, generator=gen, dtype=torch.float64))[0].T
    centre = torch.randn(50, generator=gen, dtype=torch.float64)
    paths = []
    for k in range(3):
        t = torch.linspace(0, 1, 12, dtype=torch.float64)[:, None]
        coords = torch.cat([3 * t * (k + 1), torch.sin(4 * t + k)], 1)
        paths.append((centre + coords @ basis).float())
    plane = pca_plane(paths, paths[0][-1])
    assert sum(plane.explained) == pytest.approx(1, abs=1e-5)
    assert plane.explained[0] > plane.explained[1]
    for p in paths:
        pr = project(plane, p)
        assert pr.missed_steps < 1e-6 and pr.missed_net < 1e-6
    np.testing.assert_allclose(project(plane, paths[0][-1:]).coords, 0, atol=1e-4)
    off = paths[0].clone()
    off[-1] += 5 * torch.randn(50, generator=gen)  # the last step leaves the plane
    assert project(plane, off).missed_steps > 0.5


def test_projection_of_a_straight_path_onto_its_own_line():
    start, end = torch.zeros(10), torch.arange(10.0)
    plane = Plane(start, end, torch.zeros(10) + torch.eye(10)[0], "custom")
    path = torch.stack([start + t * end for t in (0.0, 0.5, 1.0)])
    pr = project(plane, path)
    np.testing.assert_allclose(pr.coords[:, 0], [0, 0.5, 1], atol=1e-9)
    assert pr.missed_steps == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("centre, expected", [("init", 0), ("best", 3), ("mean", 2),
                                              ("b", 2)], ids=["init", "best", "mean", "label"])
def test_choose_centre(centre, expected):
    init = torch.zeros(3)
    finals = [torch.ones(3), 2 * torch.ones(3), 3 * torch.ones(3)]
    out, text = choose_centre(init, finals, ["a", "b", "c"], [0.5, 0.4, 0.1], centre)
    assert float(out[0]) == expected and text
    with pytest.raises(UsageError, match="valid: best, init, mean"):
        choose_centre(init, finals, ["a", "b", "c"], [0.5, 0.4, 0.1], "zzz")
