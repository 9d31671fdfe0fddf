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


# -- hostile files and paths ---------------------------------------------------------------------

def _with_meta_declared(src, dst, chars: int) -> None:
    """``src`` with its meta member declared ``chars`` characters long (zero-padded, so the
    deflated file stays small whatever it declares)."""
    import io
    import zipfile

    with np.load(src, allow_pickle=False) as f:
        content = {k: f[k] for k in f.files}
    text = str(content.pop("meta"))
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": f"<U{chars}", "fortran_order": False,
                                                "shape": ()})
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.npy", head.getvalue() + text.encode("utf-32-le").ljust(4 * chars, b"\0"))
        for k, a in content.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a)
            z.writestr(f"{k}.npy", buf.getvalue())


def test_a_meta_declared_huge_is_refused_before_it_is_read(run, tmp_path, monkeypatch):
    run.save(tmp_path / "r.npz")
    _with_meta_declared(tmp_path / "r.npz", tmp_path / "bomb.npz", 50_000_000)  # 200 MB
    assert (tmp_path / "bomb.npz").stat().st_size < 1_000_000
    read = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(UsageError, match="bomb.npz': meta is declared 50,000,000 characters "
                                         "long; at most 1,000,000"):
        Run.load(tmp_path / "bomb.npz")
    monkeypatch.setattr(np.lib.format, "read_array", read)
    _with_meta_declared(tmp_path / "r.npz", tmp_path / "long.npz", 100_000)  # legal, padded
    assert Run.load(tmp_path / "long.npz").meta == run.meta


def test_the_memory_cap_counts_meta_before_reading_it(run, tmp_path, monkeypatch):
    run.save(tmp_path / "r.npz")
    _with_meta_declared(tmp_path / "r.npz", tmp_path / "m.npz", 900_000)  # 3.6 MB of meta
    monkeypatch.setenv("TRAJVIZ_MAX_MEMORY_MB", "2")
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(UsageError, match=r"m.npz' needs 3.4\d MiB, more than the cap"):
        Run.load(tmp_path / "m.npz")


@pytest.mark.parametrize("path", [3, 0, 2.5, b"r.npz", None, ["r.npz"]],
                         ids=["fd-3", "fd-0", "float", "bytes", "none", "list"])
def test_a_path_that_is_not_str_or_pathlike_is_a_type_error(path, tmp_path):
    """An int would be taken by open() for a file descriptor of the caller, read and closed."""
    from trajviz.errors import UsageTypeError
    from trajviz.landscape import Grid
    from trajviz.maps import BasinMap, SweepMap

    r, w = os.pipe()
    try:
        for load in (Run.load, Grid.load, BasinMap.load, SweepMap.load):
            with pytest.raises(UsageTypeError, match="path must be a str or os.PathLike"):
                load(path)
        os.fstat(r), os.fstat(w)  # still open
    finally:
        os.close(r), os.close(w)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import threading

    fifo = tmp_path / "f.npz"
    os.mkfifo(fifo)
    errors = []

    def load():
        try:
            Run.load(fifo)
        except Exception as e:
            errors.append(e)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(20)
    if reader.is_alive():  # blocked in open(): a writer end lets it go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(20)
        pytest.fail("reading a FIFO blocked")
    assert len(errors) == 1 and isinstance(errors[0], UsageError)
    assert str(errors[0]).endswith("f.npz': not a regular file")
    assert "not a valid trajviz run file" in str(errors[0])


@pytest.mark.parametrize("kind", ["char-device", "fifo", "link-to-device"])
def test_a_write_never_replaces_a_special_file(run, tmp_path, kind):
    import stat

    target = tmp_path / "out.npz"
    if kind == "fifo":
        os.mkfifo(target)
    else:  # a copy of /dev/null (the tests run as root); never the real one
        dev = tmp_path / "null" if kind == "link-to-device" else target
        try:
            os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("mknod needs root")
        if kind == "link-to-device":
            target.symlink_to(dev)
    before = os.stat(target).st_mode
    with pytest.raises(UsageError, match="cannot write '.*out.npz': it is not a regular file"):
        run.save(target)
    assert os.stat(target).st_mode == before and not stat.S_ISREG(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["out.npz"] + (["null"] if kind == "link-to-device" else []))


@pytest.mark.parametrize("length", [245, 255])
def test_a_long_legal_file_name_can_be_written(run, tmp_path, length):
    path = tmp_path / ("r" * (length - 4) + ".npz")
    run.save(path)
    assert Run.load(path).meta == run.meta
    assert os.listdir(tmp_path) == [path.name]


def test_an_optimizer_label_that_is_not_text_makes_the_file_invalid(run, tmp_path):
    meta = {**run.meta, "optimizers": [{**d, "label": "$\\frac$"} for d in run.meta["optimizers"]]}
    bad = trajviz.Run(run.positions, run.loss, run.grads, run.updates, run.lr, run.diverged_at,
                      run.evals, meta)
    bad.save(tmp_path / "r.npz")
    with pytest.raises(UsageError, match=r"not a valid trajviz run file: .*'optimizers'\[0\] "
                                         r"label"):
        trajviz.Run.load(tmp_path / "r.npz")
