"""Any model through `loss_landscape`; grids shared by torchrun ranks; checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _landscape import mnist_root
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import vector_to_parameters
from torch.utils.data import DataLoader, TensorDataset

import trajviz
from trajviz.errors import UsageError
from trajviz.landscape import Grid, load_dataset, loss_landscape
from trajviz.landscape.api import batchnorm_mask
from trajviz.landscape.distributed import Checkpoints, Context, chunk_ranges, share

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fashion_like():
    d = load_dataset("mnist", data_dir=mnist_root())
    return d.test_x[:240], d.test_y[:240]


def bn_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(4), nn.Flatten(), nn.Linear(4 * 7 * 7, 10))
    with torch.no_grad():  # non-trivial running statistics
        net.train()(torch.rand(64, 1, 28, 28) * 2)
    return net


def reference(model, grid, x, y):
    """Plain loop: set the weights of an eval-mode copy, one forward pass per point."""
    import copy

    net = copy.deepcopy(model).eval()
    out = np.empty((len(grid.beta), len(grid.alpha)))
    with torch.no_grad():
        for i, b in enumerate(grid.beta):
            for j, a in enumerate(grid.alpha):
                w = grid.centre + a * grid.d1 + b * grid.d2
                vector_to_parameters(torch.from_numpy(w.astype(np.float32)), net.parameters())
                out[i, j] = float(F.cross_entropy(net(x), y))
    return out


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_any_model_batchnorm_statistics_stay_fixed(fashion_like, mode):
    x, y = fashion_like
    model = bn_cnn()
    model.train(mode == "train")
    stats = model[1].running_mean.clone()
    g = loss_landscape(model, F.cross_entropy, (x, y), grid=4, progress=False)
    assert model.training == (mode == "train")  # the caller's model is left as it was
    assert torch.equal(model[1].running_mean, stats)
    np.testing.assert_allclose(g.loss, reference(model, g, x, y), atol=1e-5)
    assert g.meta["batchnorm"] == "fixed" and ((g.accuracy >= 0) & (g.accuracy <= 1)).all()


def test_batchnorm_excluded_from_the_directions(fashion_like):
    x, y = fashion_like
    model = bn_cnn()
    mask = batchnorm_mask(model).numpy()
    assert mask.sum() == 8  # BatchNorm2d(4): weight and bias
    g = loss_landscape(model, F.cross_entropy, (x, y), grid=3, bias="copy",
                       batchnorm="exclude", progress=False)
    assert not g.d1[mask].any() and not g.d2[mask].any()
    assert g.d1[~mask].any()
    with_bn = loss_landscape(model, F.cross_entropy, (x, y), grid=3, bias="copy",
                             progress=False)
    assert with_bn.d1[mask].any()


@pytest.mark.parametrize("kind", ["dataset", "loader", "generator"])
def test_data_as_dataset_loader_or_batches_gives_the_same_grid(fashion_like, kind):
    x, y = fashion_like
    model = bn_cnn().eval()
    data = {"dataset": lambda: TensorDataset(x, y),
            "loader": lambda: DataLoader(TensorDataset(x, y), batch_size=50),
            "generator": lambda: ((x[i:i + 70], y[i:i + 70]) for i in range(0, len(x), 70))}
    g = loss_landscape(model, F.cross_entropy, data[kind](), grid=3, progress=False)
    ref = loss_landscape(model, F.cross_entropy, (x, y), grid=3, progress=False)
    np.testing.assert_array_equal(g.loss, ref.loss)


def test_custom_loss_and_regression_targets():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)
    g = loss_landscape(model, F.mse_loss, (x, y), grid=3, progress=False)
    assert np.isnan(g.accuracy).all()  # no class labels: no accuracy
    net = __import__("copy").deepcopy(model)
    vector_to_parameters(torch.from_numpy(g.weights(0, 2).astype(np.float32)),
                         net.parameters())
    with torch.no_grad():
        assert abs(float(F.mse_loss(net(x), y)) - g.loss[0, 2]) < 1e-5


def test_dropout_in_training_mode_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Dropout(0.5)).train()
    with pytest.raises(UsageError, match=r"Dropout.*model.eval\(\)"):
        loss_landscape(model, F.cross_entropy, (torch.rand(4, 1, 28, 28),
                                                torch.zeros(4, dtype=torch.long)), grid=2)


@pytest.mark.parametrize("n_chunks, world", [(9, 2), (2, 3), (10, 4), (1, 1)],
                         ids=["9-on-2", "2-on-3", "10-on-4", "1-on-1"])
def test_ranks_share_chunks_contiguously_and_completely(n_chunks, world):
    chunks = chunk_ranges(n_chunks * 5 - 2, 5)
    shares = [share(chunks, Context(r, world)) for r in range(world)]
    assert [c for s in shares for c in s] == chunks
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= 1


def test_an_interrupted_grid_resumes_from_its_checkpoints(fashion_like, tmp_path,
                                                          monkeypatch, caplog):
    x, y = fashion_like
    model = bn_cnn().eval()
    full = loss_landscape(model, F.cross_entropy, (x, y), grid=5, chunk=4, progress=False)
    path = tmp_path / "grid.npz"
    saved = []
    original = Checkpoints.save

    def interrupt_after_three(self, *args):
        if len(saved) == 3:
            raise KeyboardInterrupt
        saved.append(args[:2])
        original(self, *args)

    monkeypatch.setattr(Checkpoints, "save", interrupt_after_three)
    with pytest.raises(KeyboardInterrupt):
        loss_landscape(model, F.cross_entropy, (x, y), grid=5, chunk=4, save=path,
                       progress=False)
    assert not path.exists() and len(list((tmp_path / "grid.npz.chunks").iterdir())) == 3
    monkeypatch.setattr(Checkpoints, "save", original)
    g = loss_landscape(model, F.cross_entropy, (x, y), grid=5, chunk=4, save=path,
                       progress=False)
    assert g.meta["reused_points"] == 12 and "reused 12 of 25 grid points" in caplog.text
    np.testing.assert_array_equal(g.loss, full.loss)
    np.testing.assert_array_equal(Grid.load(path).loss, full.loss)
    assert not (tmp_path / "grid.npz.chunks").exists()  # cleaned up after success


def _landscape_cmd(tmp_path, out, *, nproc=None, device="cpu"):
    args = ["landscape", "--data-dir", str(mnist_root()), "--optimizers", "sgd:lr=0.1,adam",
            "--iterations", "12", "--record-every", "4", "--grid", "9", "--grid-samples",
            "300", "--chunk-points", "10", "--save-grid", str(out), "--device", str(device)]
    if nproc is None:
        cmd = [sys.executable, "-m", "trajviz", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "trajviz", "-v", *args]
    # torchrun runs each rank with one thread; the single process does the same, so the
    # training (and with it the plane) is the same float computation
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRAJVIZ_DIST_TIMEOUT": "60"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)


def test_torchrun_ranks_give_the_single_process_grid(tmp_path, device):
    """Two gloo ranks on the CPU; on CUDA one NCCL rank per GPU."""
    nproc = torch.cuda.device_count() if device.type == "cuda" else 2
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    r1 = _landscape_cmd(tmp_path, one, device=device.type)
    assert r1.returncode == 0, r1.stderr
    r2 = _landscape_cmd(tmp_path, two, nproc=nproc, device=device.type)
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.count("held-out accuracy") == 1  # only rank 0 prints
    backend = "nccl" if device.type == "cuda" else "gloo"
    assert f"rank 0 of {nproc} joined ({backend} on {device.type}" in r2.stderr
    assert nproc == 1 or f"({nproc} processes)" in r2.stdout
    a, b = Grid.load(one), Grid.load(two)
    assert b.meta["processes"] == nproc and b.meta["device"].startswith(device.type)
    for name in ("loss", "accuracy", "centre", "d1", "d2", "paths"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_failing_rank_fails_the_run_by_name_and_leaves_no_output(tmp_path):
    out = tmp_path / "grid.npz"
    # 81 points in chunks of 10: rank 1 owns chunks 5..8; its first checkpoint cannot be
    # written (a folder is in the way), so rank 1 fails while rank 0 waits to gather
    blocker = tmp_path / "grid.npz.chunks" / "chunk-000000050-000000060.npz"
    blocker.mkdir(parents=True)
    r = _landscape_cmd(tmp_path, out, nproc=2)
    assert r.returncode != 0
    assert "rank 1 of 2: cannot write" in r.stderr and "it is a folder" in r.stderr
    assert not out.exists()
    blocker.rmdir()
    # rank 0 may have finished some of its chunks before torchrun stopped it
    left = len(list(blocker.parent.glob("chunk-*.npz")))
    again = _landscape_cmd(tmp_path, out, nproc=2)
    assert again.returncode == 0, again.stderr
    assert ("resumed: reused" in again.stdout) == (left > 0)
    assert Grid.load(out).loss.shape == (9, 9)


def test_public_api_exposes_loss_landscape():
    assert trajviz.loss_landscape is loss_landscape
