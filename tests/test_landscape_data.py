"""Datasets from torchvision roots: the test-only split, full splits, bad files."""

from __future__ import annotations

import gzip
import logging
import struct

import numpy as np
import pytest
import torch
from _landscape import mnist_root

from trajviz.errors import UsageError
from trajviz.landscape import build_model, load_dataset
from trajviz.landscape.data import FILES, read_idx


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_split(raw, split, n, *, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
    for stem, arr in zip(FILES[split], (images, labels), strict=True):
        data = _idx(arr)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / stem).write_bytes(data)
    return images, labels


def test_test_only_split_is_divided_and_said(caplog):
    with caplog.at_level(logging.WARNING):
        d = load_dataset("mnist", data_dir=mnist_root(), seed=0)
    assert (len(d.train_x), len(d.test_x)) == (8000, 2000)
    assert d.train_x.shape[1:] == (1, 28, 28) and d.train_x.dtype == torch.float32
    assert 0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1
    assert "only the official test split" in d.meta["split"]
    assert "8000 for training, 2000 held out" in caplog.text
    assert set(d.train_y.unique().tolist()) == set(range(10))
    again = load_dataset("mnist", data_dir=mnist_root(), seed=0)
    assert torch.equal(again.test_y, d.test_y)  # the split is seeded


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzipped"])
def test_full_official_splits_are_used_as_they_are(tmp_path, gz):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train_images, train_labels = _write_split(raw, "train", 30, gz=gz, seed=1)
    _write_split(raw, "test", 12, gz=gz, seed=2)
    d = load_dataset("fashionmnist", data_dir=tmp_path)
    assert (len(d.train_x), len(d.test_x)) == (30, 12)
    assert d.meta["split"] == "official train / test"
    np.testing.assert_array_equal(d.train_y.numpy(), train_labels)
    np.testing.assert_allclose(d.train_x[:, 0].numpy(), train_images / 255.0, rtol=1e-6)


def _corrupt(tmp_path, kind):
    good = _idx(np.zeros((4, 28, 28)))
    path = tmp_path / "t10k-images-idx3-ubyte"
    if kind == "magic":
        path.write_bytes(b"\x12\x34" + good[2:])
    elif kind == "truncated":
        path.write_bytes(good[:-10])
    elif kind == "too long":
        path.write_bytes(good + b"\0" * 7)
    elif kind == "short header":
        path.write_bytes(good[:9])
    elif kind == "bad gzip":
        path = path.with_suffix(".gz")
        path.write_bytes(gzip.compress(good)[:-20])
    return path


@pytest.mark.parametrize("kind, message", [
    ("magic", "wrong magic number 1234"),
    ("truncated", "is truncated: .* expected 3152"),
    ("too long", "longer than its header says"),
    ("short header", "truncated: 9 bytes, shorter than its 16-byte header"),
    ("bad gzip", "corrupt or truncated"),
], ids=["wrong-magic", "truncated", "too-long", "short-header", "truncated-gzip"])
def test_corrupt_idx_files_get_a_clear_message(tmp_path, kind, message):
    with pytest.raises(UsageError, match=message):
        read_idx(_corrupt(tmp_path, kind))


def test_missing_data_says_where_to_put_the_files(tmp_path):
    with pytest.raises(UsageError, match=r"no MNIST data in .*MNIST/raw.*t10k-images-idx3-ubyte"
                       r".*--data-dir"):
        load_dataset("mnist", data_dir=tmp_path)


def test_failed_download_names_the_folder(tmp_path, monkeypatch):
    from torchvision import datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(datasets, "MNIST", offline)
    with pytest.raises(UsageError, match=r"cannot download MNIST .*no network.*Put the files"):
        load_dataset("mnist", data_dir=tmp_path, download=True)


@pytest.mark.parametrize("call, message", [
    (lambda: load_dataset("cifar"), "unknown dataset 'cifar'; valid datasets: mnist"),
    (lambda: build_model("resnet"), "unknown model 'resnet'; valid models: mlp, logreg, cnn"),
    (lambda: load_dataset("mnist", held_out_fraction=1.5), "held-out fraction"),
], ids=["dataset", "model", "fraction"])
def test_bad_names_list_the_choices(call, message):
    with pytest.raises(UsageError, match=message):
        call()


@pytest.mark.parametrize("name, n_params", [("mlp", 79510), ("logreg", 7850), ("cnn", 9098)],
                         ids=["mlp", "logreg", "cnn"])
def test_models_are_seeded_and_classify_images(name, n_params):
    a, b, c = build_model(name, seed=3), build_model(name, seed=3), build_model(name, seed=4)
    va, vb, vc = (torch.nn.utils.parameters_to_vector(m.parameters()) for m in (a, b, c))
    assert va.numel() == n_params
    assert torch.equal(va, vb) and not torch.equal(va, vc)
    assert a(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
