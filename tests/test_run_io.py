import json
import os

import numpy as np
import pytest

import trajviz
from trajviz import Run, UsageError


@pytest.fixture(scope="module")
def run(device):
    """A run made on the test device: its file must read back the same from any device."""
    return trajviz.run("himmelblau", "sgd:lr=1e-3,adam:lr=0.1", steps=20, device=device,
                       starts=[[0.0, 0.0], [-1.0, 1.0]], scheduler="steplr:step_size=5")


def test_file_reads_with_plain_numpy(run, tmp_path):
    path = tmp_path / "run.npz"
    run.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert data["positions"].shape == (4, 21, 2)
        assert data["loss"].shape == (4, 21)
        assert data["grads"].shape == data["updates"].shape == (4, 20, 2)
        assert data["lr"].shape == data["evals"].shape == (4, 20)
        assert data["diverged_at"].tolist() == [-1] * 4
        meta = json.loads(str(data["meta"]))
    assert meta["labels"] == ["sgd(lr=0.001)"] * 2 + ["adam(lr=0.1)"] * 2
    assert meta["surface"] == "himmelblau" and meta["scheduler"].startswith("steplr")
    assert {"steps", "seed", "dtype", "torch_version", "trajviz_version"} <= set(meta)


def test_round_trip_is_exact(run, tmp_path):
    run.save(tmp_path / "r.npz")
    back = Run.load(tmp_path / "r.npz")
    for name in ("positions", "loss", "grads", "updates", "lr", "diverged_at", "evals"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    assert back.meta == run.meta


def test_failed_write_leaves_nothing(run, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        run.save(tmp_path / "r.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("content", "message"), [
    (b"not a zip", "not a valid trajviz run file: .*not an .npz archive"),
    ("other-npz", "missing positions"),
], ids=["garbage", "foreign-npz"])
def test_loading_a_non_run_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "x.npz"
    if content == "other-npz":
        np.savez(path, a=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        Run.load(path)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    arrays = {k: np.zeros(2) for k in ("loss", "grads", "updates", "lr", "diverged_at", "evals")}
    np.savez(path, positions=np.array([object()], dtype=object), meta=np.array("{}"), **arrays)
    with pytest.raises(UsageError, match="positions holds Python objects"):
        Run.load(path)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.int16])
def test_a_run_diverged_at_its_start_ends_at_its_start(tmp_path, dtype):
    """Found by hypothesis: diverged_at 0 (a non-finite loss at the start), stored in any
    integer dtype, has its start as its final position, not an index that wraps around."""
    nan = np.nan
    run = Run(positions=np.array([[[0.5, 0.5], [nan, nan]]]), loss=np.array([[nan, nan]]),
              grads=np.full((1, 1, 2), nan), updates=np.full((1, 1, 2), nan),
              lr=np.ones((1, 1)), diverged_at=np.array([0], dtype=dtype),
              evals=np.ones((1, 1), dtype=np.int32),
              meta={"labels": ["sgd"], "surface": "rosenbrock", "steps": 1})
    run.save(tmp_path / "r.npz")
    for r in (run, Run.load(tmp_path / "r.npz")):
        np.testing.assert_array_equal(r.final_positions, [[0.5, 0.5]])
        assert r.last_valid.tolist() == [0]
