"""MNIST and FashionMNIST from a torchvision root folder, read without unpickling.

The files are torchvision's layout, ``<root>/MNIST/raw/t10k-images-idx3-ubyte[.gz]`` and so
on. They are parsed here (IDX format, gzipped or not) rather than through the torchvision
dataset classes, so that a folder holding only the official test split still works: it is
then split into training and held-out parts, and the split is logged and recorded. Fetching
uses torchvision's own downloader (its mirrors and checksums).
"""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import UsageError

log = logging.getLogger(__name__)

DATASETS = {"mnist": "MNIST", "fashionmnist": "FashionMNIST"}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
HELD_OUT_FRACTION = 0.2
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10


def default_cache() -> Path:
    """``$TRAJVIZ_DATA``, else ``$XDG_CACHE_HOME/trajviz/data`` (``~/.cache/trajviz/data``)."""
    if os.environ.get("TRAJVIZ_DATA"):
        return Path(os.environ["TRAJVIZ_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trajviz" / "data"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training and held-out images ``(n, 1, 28, 28)`` float32 in [0, 1], int64 labels.

    Attributes:
        name: ``mnist`` or ``fashionmnist``.
        train_x, train_y: the training part.
        test_x, test_y: the held-out part.
        meta: where it came from and how it was split (JSON-ready).
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    meta: dict[str, Any]

    @property
    def n_classes(self) -> int:
        return N_CLASSES

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(self.name, self.train_x.to(device), self.train_y.to(device),
                       self.test_x.to(device), self.test_y.to(device), self.meta)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads one IDX file (optionally gzipped), checking its magic number and size.

    Raises:
        UsageError: the file is not IDX, is truncated, or has bytes left over.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise UsageError(f"cannot read {str(path)!r}: {e} (corrupt or truncated file? "
                         "delete it and download again)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        magic = raw[:4].hex() if len(raw) >= 4 else f"{len(raw)} bytes"
        raise UsageError(f"{str(path)!r} is not an IDX file: wrong magic number {magic} "
                         "(expected 0000 followed by a type code such as 08 and the "
                         "number of dimensions)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UsageError(f"{str(path)!r} is truncated: {len(raw)} bytes, shorter than its "
                         f"{header}-byte header")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "longer than its header says"
        raise UsageError(f"{str(path)!r} is {kind}: {len(raw)} bytes, expected {expected} "
                         f"for shape {shape} (delete it and download again)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _find(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_split(raw: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A split's images ``(n, 28, 28)`` and labels ``(n,)`` in 0-9, both unsigned bytes as
    MNIST and FashionMNIST store them; anything else names the file at fault."""
    paths = [_find(raw, stem) for stem in FILES[split]]
    if not all(paths):
        return None
    image_path, label_path = paths
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise UsageError(f"{str(image_path)!r} holds {images.dtype} images of shape "
                         f"{images.shape}; expected unsigned bytes of shape (n, 28, 28)")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise UsageError(f"{str(label_path)!r} holds {labels.dtype} labels of shape "
                         f"{labels.shape}; expected unsigned bytes of shape (n,)")
    if len(images) != len(labels) or not len(labels):
        raise UsageError(f"{str(image_path)!r} holds {len(images)} images and "
                         f"{str(label_path)!r} {len(labels)} labels; expected the same "
                         "number, at least one")
    if labels.max() >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise UsageError(f"{str(label_path)!r}: label {int(labels[bad])} at index {bad} is "
                         f"outside 0-{N_CLASSES - 1}")
    return images, labels


def _download(name: str, root: Path) -> None:
    from torchvision import datasets

    cls = getattr(datasets, DATASETS[name])
    log.info("downloading %s into %s with torchvision", DATASETS[name], root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(root=str(root), train=True, download=True)
    except (RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot download {DATASETS[name]} into {str(root)!r}: {first}. "
                         + _where(name, root)) from None


def _where(name: str, root: Path) -> str:
    folder = root / DATASETS[name] / "raw"
    files = ", ".join(f"{s}[.gz]" for s in (*FILES["train"], *FILES["test"]))
    return (f"Put the files {files} (at least the two t10k ones) in {str(folder)!r} and "
            f"pass --data-dir {str(root)!r}, or use --download where the internet is reachable")


def load_dataset(
    name: str = "mnist",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    seed: int = 0,
    held_out_fraction: float = HELD_OUT_FRACTION,
) -> Dataset:
    """Loads a dataset from a torchvision root, downloading it first if asked.

    With both official splits present they are used as training and held-out sets. With
    only the test split (``t10k-*``), a seeded permutation divides it into training and
    held-out parts (``held_out_fraction`` held out); this is logged and put in ``meta``.

    Args:
        name: ``mnist`` or ``fashionmnist``.
        data_dir: the root holding ``MNIST/raw`` (default: `default_cache`).
        download: fetch the files with torchvision when they are not there.
        seed: seeds the split of a test-only folder.
        held_out_fraction: share held out when only the test split exists.

    Raises:
        UsageError: unknown name, files missing (saying where to put them), corrupt files.
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    if not 0 < held_out_fraction < 1:
        raise UsageError(f"held-out fraction must be in (0, 1), got {held_out_fraction}")
    root = Path(data_dir) if data_dir is not None else default_cache()
    raw = root / DATASETS[key] / "raw"
    test = _read_split(raw, "test")
    train = _read_split(raw, "train")
    if train is None and download:
        _download(key, root)
        test, train = _read_split(raw, "test"), _read_split(raw, "train")
    if test is None and train is None:
        raise UsageError(f"no {DATASETS[key]} data in {str(raw)!r}. " + _where(key, root))
    meta: dict[str, Any] = {"dataset": key, "root": str(root)}
    if train is not None and test is not None:
        (trx, tr_y), (tex, te_y) = train, test
        meta["split"] = "official train / test"
    else:
        images, labels = test if test is not None else train
        which = "test" if test is not None else "train"
        perm = np.random.default_rng(seed).permutation(len(images))
        n_held = max(1, int(round(len(images) * held_out_fraction)))
        held, kept = perm[:n_held], perm[n_held:]
        trx, tr_y, tex, te_y = images[kept], labels[kept], images[held], labels[held]
        meta["split"] = (f"only the official {which} split ({len(images)} images) was found: "
                         f"{len(kept)} for training, {len(held)} held out (seed {seed})")
        log.warning("%s: %s", DATASETS[key], meta["split"])
    meta.update(n_train=len(trx), n_test=len(tex), split_seed=seed)
    return Dataset(key, _images(trx), _labels(tr_y), _images(tex), _labels(te_y), meta)


def _images(a: np.ndarray) -> Tensor:
    return torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)


def _labels(a: np.ndarray) -> Tensor:
    return torch.from_numpy(a.astype(np.int64))
