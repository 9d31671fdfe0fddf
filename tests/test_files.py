"""Files are data, never instructions: a name in a file never imports code; a malformed
file is a one-line error naming what is wrong; a damaged cache or checkpoint is a warning,
then recomputed; MNIST files are checked."""

from __future__ import annotations

import json
import logging
import os
import struct

import numpy as np
import pytest
import torch
from _landscape import mnist_root
from torch import nn
from torch.nn import functional as F

import surfaces
import trajviz
from trajviz import Run, UsageError
from trajviz._resolve import surface_from_file
from trajviz.cli import main
from trajviz.landscape import (
    Grid,
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    load_dataset,
    loss_landscape,
)
from trajviz.landscape.data import FILES
from trajviz.landscape.distributed import Checkpoints
from trajviz.maps import BasinMap, basins, plot_basins

EVIL = "import pathlib\npathlib.Path('{marker}').write_text('imported')\ns = None\n"


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module in the current folder that leaves a marker file if it is ever imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    marker = tmp_path / "IMPORTED"
    (tmp_path / "evil_trajviz_module.py").write_text(EVIL.format(marker=marker))
    return marker


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "r.npz"
    trajviz.run("booth", "sgd:lr=0.01,adam:lr=0.1", steps=6, progress=False).save(path)
    return path


def rewrite(src, dst, *, meta=None, **arrays) -> None:
    """``src`` with some arrays or the meta replaced, written to ``dst``."""
    with np.load(src, allow_pickle=False) as f:
        content = {k: f[k] for k in f.files}
    if meta is not None:
        content["meta"] = np.array(json.dumps(meta(json.loads(str(content["meta"])))))
    content.update(arrays)
    np.savez(dst, **content)


def test_a_run_file_naming_a_module_never_imports_it(evil_module, run_file, tmp_path, capsys):
    rewrite(run_file, "r.npz", meta=lambda m: {**m, "surface": "evil_trajviz_module:s"})
    assert main(["animate", "--from", "r.npz", "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert "was made on your own surface" not in err and "not a built-in surface" in err
    rewrite(run_file, "r.npz", meta=lambda m: {**m, "surface": "evil_trajviz_module:s",
                                                 "surface_origin": "evil_trajviz_module:s"})
    assert main(["plot", "--from", "r.npz"]) == 2
    assert "give it again with --surface evil_trajviz_module:s" in capsys.readouterr().err
    m = basins("booth", "sgd:lr=0.01", grid=3, steps=2, progress=False)
    m = BasinMap(**{**m.__dict__, "meta": {**m.meta, "surface": "evil_trajviz_module:s"}})
    plot_basins(m)  # draws without the surface's contours
    assert not evil_module.exists()


def test_a_run_on_your_own_surface_needs_surface_again(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = "custom_objects:BOWL"
    assert main(["run", "--surface", spec, "--optimizers", "sgd", "--steps", "5",
                 "--out", "own.npz"]) == 0
    assert main(["animate", "--from", "own.npz", "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("give it again with --surface custom_objects:BOWL")
    assert main(["plot", "--from", "own.npz", "--surface", spec, "--size", "3x2",
                 "--dpi", "30"]) == 0
    assert (tmp_path / "own.png").exists()


@pytest.mark.parametrize("spec", ["quadratic:kappa=50.0", "rosenbrock:a=1.0,b=20.0"])
def test_built_in_surfaces_come_back_from_files_with_their_parameters(spec, tmp_path):
    plain = trajviz.resolve_surface(spec)
    for surface in (plain, surfaces.noisy(plain, 2.0, batch_size=4)):
        run = trajviz.run(surface, "sgd:lr=0.01", steps=3, progress=False)
        run.save(tmp_path / "r.npz")
        back = surface_from_file(Run.load(tmp_path / "r.npz").meta, "r.npz")
        assert back.spec == surface.spec and back.origin == "builtin"
        xy = torch.tensor([[0.3, 0.2]])
        torch.testing.assert_close(back(xy), surface(xy))


BAD_RUNS = [
    (dict(meta=lambda m: [m]), "meta is a JSON list, expected an object"),
    (dict(meta=lambda m: {k: v for k, v in m.items() if k != "labels"}), "meta has no 'labels'"),
    (dict(meta=lambda m: {**m, "labels": ["a"]}), "meta 'labels' has 1 entries for 2 rows"),
    (dict(meta=lambda m: {**m, "steps": "6"}), "meta 'steps' is \"6\", expected an integer"),
    (dict(meta=lambda m: {**m, "labels": ["$\\frac$", "b"]}), "not valid matplotlib text"),
    (dict(positions=np.zeros((2, 7, 3))),
     "positions has shape (2, 7, 3), expected (n, steps+1, 2)"),
    (dict(grads=np.zeros((3, 6, 2))),
     "grads has shape (3, 6, 2), expected (n, steps, 2) with n = 2"),
    (dict(loss=np.array(["a"] * 14).reshape(2, 7)), "loss has dtype <U1, expected floating-point"),
    (dict(diverged_at=np.array([5.0, -1.0])), "diverged_at has dtype float64, expected integer"),
    (dict(diverged_at=np.array([99, -1])), "diverged_at must be -1 or a step from 0 to 6"),
    (dict(truncate=True), "damaged or truncated"),
    (dict(text=b"hello, world"), "not an .npz archive (it starts with b'hell')"),
    (dict(text=b""), "not an .npz archive (it is empty)"),
]


@pytest.mark.parametrize("change, message", BAD_RUNS, ids=[m[:30] for _, m in BAD_RUNS])
def test_a_malformed_run_file_is_one_line_naming_what_is_wrong(run_file, tmp_path, monkeypatch,
                                                               capsys, change, message):
    monkeypatch.chdir(tmp_path)
    if "text" in change:
        (tmp_path / "r.npz").write_bytes(change["text"])
    elif "truncate" in change:
        (tmp_path / "r.npz").write_bytes(run_file.read_bytes()[:900])
    else:
        rewrite(run_file, tmp_path / "r.npz", **change)
    with pytest.raises(UsageError, match="not a valid trajviz run file") as info:
        Run.load(tmp_path / "r.npz")
    assert message in str(info.value)
    assert main(["animate", "--from", "r.npz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]


# -- caches and checkpoints -------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_data():
    d = load_dataset("mnist", data_dir=mnist_root())
    return type(d)(d.name, d.train_x[:600], d.train_y[:600], d.test_x[:200], d.test_y[:200],
                   d.meta)


@pytest.mark.parametrize("content", [b"PK\x03\x04 damaged", b"not a grid"],
                         ids=["damaged-zip", "text"])
def test_a_damaged_saved_grid_is_a_warning_then_recomputed(small_data, tmp_path, caplog,
                                                           content):
    path = tmp_path / "grid.npz"
    path.write_bytes(content)
    kw = dict(optimizers="sgd:lr=0.1", train_config=TrainConfig(iterations=6, record_every=3),
              plane=PlaneConfig(size=4, samples=100), progress=False)
    with caplog.at_level(logging.WARNING):
        land = compute_landscape(build_model("logreg"), small_data, cache=path, **kw)
    assert not land.reused and "not a valid trajviz grid file" in caplog.text
    np.testing.assert_array_equal(Grid.load(path).loss, land.grid.loss)


def test_a_damaged_checkpoint_is_a_warning_then_recomputed(tmp_path, caplog):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    data = (torch.rand(40, 1, 28, 28), torch.randint(0, 10, (40,)))
    kw = dict(grid=4, chunk=4, progress=False)
    clean = loss_landscape(model, F.cross_entropy, data, **kw)
    save = tmp_path / "g.npz"
    store = Checkpoints(f"{save}.chunks", "any")
    store.folder.mkdir()
    store.path(0, 4).write_bytes(b"PK\x03\x04 truncated")
    store.path(4, 8).write_bytes(b"random bytes")
    with caplog.at_level(logging.WARNING):
        again = loss_landscape(model, F.cross_entropy, data, save=save, **kw)
    assert "recomputing grid points 0:4" in caplog.text
    assert "recomputing grid points 4:8" in caplog.text
    np.testing.assert_array_equal(again.loss, clean.loss)
    assert not store.folder.exists()


# -- MNIST files --------------------------------------------------------------------------------

def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype({0x08: ">u1", 0x0D: ">f4"}[code]).tobytes()


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((20, 14, 28)), np.zeros(20), "expected unsigned bytes of shape (n, 28, 28)"),
    (np.zeros((20, 28, 28)), np.full(20, 200), "label 200 at index 0 is outside 0-9"),
    (np.zeros((20, 28, 28)), np.zeros(19), "holds 20 images"),
    (np.zeros((20, 28)), np.zeros(20), "expected unsigned bytes of shape (n, 28, 28)"),
], ids=["image-size", "label-range", "counts", "flat-images"])
def test_mnist_files_are_checked_naming_the_file(tmp_path, images, labels, message):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, arr in zip(FILES["test"], (images, labels), strict=True):
        (raw / stem).write_bytes(_idx(arr))
    with pytest.raises(UsageError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    assert message in str(info.value) and str(raw) in str(info.value)


def test_float_images_are_refused(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / FILES["test"][0]).write_bytes(_idx(np.zeros((3, 28, 28)), 0x0D))
    (raw / FILES["test"][1]).write_bytes(_idx(np.zeros(3)))
    with pytest.raises(UsageError, match="holds >f4 images"):
        load_dataset("mnist", data_dir=tmp_path)


# -- writes: long names, special targets, paths of the wrong type -------------------------------

def test_a_frames_folder_with_a_long_legal_name_can_be_written(run_file, tmp_path):
    figure = trajviz.RunFigure(Run.load(run_file), "booth", size=(2, 2), dpi=20)
    path = tmp_path / ("f" * 250)
    assert trajviz.save(figure, path, frames=2, progress=False, helpers=0) == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert [p.suffix for p in path.iterdir()] == [".png", ".png"]


@pytest.mark.parametrize("path", [1, None, b"out.npz"], ids=["fd", "none", "bytes"])
def test_a_write_to_a_path_of_the_wrong_type_is_a_type_error(run_file, path):
    from trajviz.errors import UsageTypeError

    r, w = os.pipe()
    try:
        with pytest.raises(UsageTypeError, match="must be a str or os.PathLike"):
            Run.load(run_file).save(path)
        os.fstat(r), os.fstat(w)
    finally:
        os.close(r), os.close(w)


def test_the_cli_refuses_to_replace_a_device_node(tmp_path, monkeypatch, capsys):
    import stat

    monkeypatch.chdir(tmp_path)
    try:
        os.mknod("null.npz", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # never the real /dev/null
    except PermissionError:
        pytest.skip("mknod needs root")
    assert main(["run", "--steps", "3", "--optimizers", "sgd", "--out", "null.npz"]) == 2
    assert capsys.readouterr().err.strip() == ("trajviz run: error: cannot write 'null.npz': "
                                               "it is not a regular file")
    assert stat.S_ISCHR(os.stat("null.npz").st_mode) and os.listdir(".") == ["null.npz"]
