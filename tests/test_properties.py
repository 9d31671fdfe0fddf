"""Property-based tests (hypothesis): random spec strings, random bytes and random
valid-looking ``.npz`` files as run, grid, map and checkpoint files, and random option
values. Nothing escapes but trajviz's own errors, and no file is left behind."""

from __future__ import annotations

import io
import json
import string
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surfaces
from trajviz import UsageError, parse_optimizers, parse_scheduler, plot, resolve_surface
from trajviz._specs import parse_spec, split_specs
from trajviz.cli import ParseError, build_parser, main
from trajviz.landscape import Grid
from trajviz.landscape.distributed import Checkpoints
from trajviz.maps import BasinMap, SweepMap
from trajviz.optimizers import OPTIMIZERS, PRESETS, SCHEDULERS
from trajviz.run import FIELDS as RUN_FIELDS
from trajviz.run import Run

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def render(fig) -> None:
    fig.canvas.draw()


def _load_checkpoint(path):
    """A damaged checkpoint is a cache miss (a warning), never an exception."""
    store = Checkpoints(path.parent, "key")
    store.path(0, 3).write_bytes(path.read_bytes())
    found = store.load(0, 3)
    assert found is None or (len(found[0]) == len(found[1]) == 3)


LOADERS = {"run": Run.load, "grid": Grid.load, "basins": BasinMap.load,
           "sweep": SweepMap.load, "checkpoint": _load_checkpoint}


# -- spec strings ---------------------------------------------------------------------------

VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e999", "-1e999", "fast", "True", "None", "''",
                     "(0.9,0.99)", "(0.9,)", "[1,2]", "{'a':1}", "(", ")", "1j", "0", "-1"]),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-1000, 1000).map(str),
    st.text(string.printable, max_size=8),
)
KEYS = st.one_of(st.sampled_from(["lr", "momentum", "betas", "eps", "weight_decay", "gamma",
                                  "step_size", "kappa", "a", "b", "nesterov", "T_max",
                                  "history_size", "max_lr", "total_steps"]),
                 st.from_regex(r"[A-Za-z_]\w{0,6}", fullmatch=True))


def specs(names: list[str]) -> st.SearchStrategy[str]:
    """``name[:key=value,...]`` with registered names only (no import paths: a random path
    could name any module on this machine)."""
    kwargs = st.lists(st.tuples(KEYS, VALUES), max_size=3).map(
        lambda kv: ",".join(f"{k}={v}" for k, v in kv))
    return st.builds(lambda n, kw: f"{n}:{kw}" if kw else n, st.sampled_from(names), kwargs)


@SETTINGS
@given(st.text(max_size=60))
def test_any_text_parses_as_a_spec_or_is_a_usage_error(text):
    try:
        spec = parse_spec(text)
        split_specs(text)
    except UsageError:
        return
    assert isinstance(spec.name, str) and isinstance(spec.kwargs, dict)


@SETTINGS
@given(specs(sorted({*OPTIMIZERS, *PRESETS})))
def test_random_optimizer_specs_build_or_are_usage_errors(text):
    try:
        (spec,) = parse_optimizers([text])
    except UsageError:
        return
    assert spec.build([__import__("torch").zeros(2, requires_grad=True)]) is not None


@SETTINGS
@given(specs(sorted(SCHEDULERS)))
def test_random_scheduler_specs_build_or_are_usage_errors(text):
    try:
        parse_scheduler(text)
    except UsageError:
        pass


@SETTINGS
@given(specs(surfaces.names()))
def test_random_surface_specs_resolve_or_are_usage_errors(text):
    try:
        surface = resolve_surface(text)
    except UsageError:
        return
    assert surface.origin == "builtin"


# -- files ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("files")


def _try_every_loader(path) -> None:
    for load in LOADERS.values():
        try:
            load(path)
        except UsageError:
            pass


@SETTINGS
@given(st.binary(max_size=3000) | st.binary(max_size=3000).map(lambda b: b"PK\x03\x04" + b))
def test_random_bytes_are_refused_by_every_loader(folder, data):
    path = folder / "random.npz"
    path.write_bytes(data)
    _try_every_loader(path)


DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_,
                          np.complex64, "U3"])
JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats()
                    | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


MUTATIONS = ("none", "drop", "shape", "dtype", "values", "meta", "labels", "truncate")


@st.composite
def run_like_files(draw) -> bytes:
    """A run file's arrays and meta with at most one thing wrong (or nothing): a missing
    array, a wrong shape or dtype, odd values, a meta that is any JSON, hostile labels, or
    a truncated archive."""
    mutation = draw(st.sampled_from(MUTATIONS))
    target = draw(st.sampled_from(sorted(RUN_FIELDS)))
    n, steps = draw(st.integers(0, 3)), draw(st.integers(0, 4))
    dims = {"n": n, "steps": steps, "steps+1": steps + 1}
    arrays = {}
    for name, field in RUN_FIELDS.items():
        shape = tuple(d if isinstance(d, int) else dims[d] for d in field.shape)
        dtype = np.dtype(np.float64 if "f" in field.kinds else np.int64)
        fills = [0.5, np.nan] if dtype.kind == "f" else [-1, 0]
        if name == target:
            if mutation == "drop":
                continue
            if mutation == "shape":
                shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
            if mutation == "dtype":
                dtype = np.dtype(draw(DTYPES))
                fills = [0, 7] if dtype.kind in "biuU" else [0, np.inf]
            if mutation == "values":
                fills = [-7, 99, np.inf] if dtype.kind == "f" else [-7, 99]
        arrays[name] = np.full(shape, draw(st.sampled_from(fills)), dtype=dtype)
    labels = [f"opt{i}" for i in range(n)]
    if mutation == "labels":
        labels = draw(st.lists(st.sampled_from([r"$\frac$", "a$b$", "", 1, None]),
                               max_size=4))
    meta = {"labels": labels, "surface": draw(st.sampled_from(["rosenbrock", "this:s", ""])),
            "steps": steps, "n_starts": 1}
    if mutation == "meta":
        meta = draw(JSON | st.fixed_dictionaries({}, optional={
            "labels": JSON, "surface": JSON, "steps": JSON, "n_starts": JSON,
            "optimizers": JSON}))
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    data = buf.getvalue()
    if mutation == "truncate":
        data = data[:draw(st.integers(0, len(data) - 1))]
    return data


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NaN-only records draw, with numpy's
@SETTINGS                                              # All-NaN warnings
@given(run_like_files())
def test_valid_looking_run_files_load_consistently_or_are_usage_errors(folder, data):
    path = folder / "run.npz"
    path.write_bytes(data)
    try:
        run = Run.load(path)
    except UsageError:
        _try_every_loader(path)
        return
    assert run.n_traj >= 1 and run.steps >= 1
    assert run.loss.shape == (run.n_traj, run.steps + 1) and len(run.labels) == run.n_traj
    assert run.final_positions.shape == (run.n_traj, 2)
    render(plot(run, "booth", size=(4, 3), dpi=20))  # and it draws


def test_a_zip_bomb_is_refused_before_its_data_is_read(folder, monkeypatch):
    """Arrays that declare 10**6 steps in their headers but hold almost no data."""
    monkeypatch.setenv("TRAJVIZ_MAX_MEMORY_MB", "1")
    path = folder / "bomb.npz"
    dims = {"n": 4, "steps": 10**6, "steps+1": 10**6 + 1}
    with zipfile.ZipFile(path, "w") as zf:
        for name, field in RUN_FIELDS.items():
            shape = tuple(d if isinstance(d, int) else dims[d] for d in field.shape)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, {
                    "descr": "<f8" if "f" in field.kinds else "<i8", "fortran_order": False,
                    "shape": shape})
                f.write(bytes(64))
        with zf.open("meta.npy", "w") as f:
            np.lib.format.write_array(f, np.array(json.dumps(
                {"labels": ["a"] * 4, "surface": "booth", "steps": 10**6})))
    with pytest.raises(UsageError, match="needs .* more than the cap"):
        Run.load(path)


# -- option values --------------------------------------------------------------------------

NUMBERISH = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "", "x", "1,2", "2.5",
                                       "0", "-1", "1e-320", "99999999999999999999999"]),
                      st.integers(-10**6, 10**6).map(str),
                      st.floats(allow_nan=False, width=32).map(repr),
                      st.text(string.printable, max_size=10))
RUN_OPTIONS = ["--tol", "--noise", "--batch-size", "--bound", "--seed", "--start", "--starts",
               "--steps"]


@SETTINGS
@given(st.sampled_from(RUN_OPTIONS), NUMBERISH)
def test_random_run_option_values_run_or_fail_in_one_line(tmp_path, monkeypatch, capsys,
                                                         option, value):
    monkeypatch.chdir(tmp_path)
    if option == "--steps":  # a valid large step count would run long: keep it small
        try:
            value = str(min(int(value), 3)) if int(value) < 10**9 else value
        except ValueError:
            pass
    code = main(["run", "--optimizers", "sgd:lr=0.01", "--steps", "2", option, value])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    if code:
        assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _parse_only_options() -> list[tuple[str, str]]:
    """(command, option) for every option that takes a value, in every command."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    found = []
    for command, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.nargs is None and action.type is not None:
                found.append((command, action.option_strings[0]))
    return found


@SETTINGS
@given(st.sampled_from(_parse_only_options()), NUMBERISH)
def test_every_typed_option_parses_or_is_a_one_line_usage_error(command_option, value):
    command, option = command_option
    extra = {"sweep": ["--param", "lr=0.1", "--out", "x.png"],
             "basins": ["--out", "x.png"]}.get(command, [])
    try:
        build_parser().parse_args([command, *extra, f"{option}={value}"])
    except ParseError as e:
        assert "\n" not in str(e)
