"""The Python API, given bad arguments: a `UsageError` (a `UsageTypeError`, also a
`TypeError`, for a wrong type) with a message, never an internal error, never an empty
result."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import surfaces
import trajviz
from surfaces import Surface
from trajviz import UsageError
from trajviz.errors import UsageTypeError, UserCodeError
from trajviz.maps import basins, sweep


@pytest.fixture(scope="module")
def small_run():
    return trajviz.run("booth", "sgd:lr=0.01", steps=4, progress=False)


def scalar_surface() -> Surface:
    return Surface("scalar", lambda p: (p**2).sum(), ((-1.0, 1.0), (-1.0, 1.0)))


RUN = dict(optimizers="sgd:lr=0.01", steps=3, progress=False)
BAD = [
    # trajviz.run
    (trajviz.run, dict(surface="booth", **{**RUN, "steps": 2.5}), UsageTypeError,
     "steps must be at least 1 (an integer), got 2.5"),
    (trajviz.run, dict(surface="booth", **{**RUN, "steps": True}), UsageTypeError, "steps"),
    (trajviz.run, dict(surface="booth", **{**RUN, "steps": "5"}), UsageTypeError, "got '5'"),
    (trajviz.run, dict(surface=42, **RUN), UsageTypeError, "surface must be a surfaces.Surface"),
    (trajviz.run, dict(surface="booth", **{**RUN, "optimizers": None}), UsageTypeError,
     "optimizers must be a spec string"),
    (trajviz.run, dict(surface="booth", **{**RUN, "optimizers": []}), UsageError,
     "no optimizer given"),
    (trajviz.run, dict(surface="booth", **{**RUN, "optimizers": [3]}), UsageTypeError,
     "an optimizer spec must be a string"),
    (trajviz.run, dict(surface="booth", scheduler=123, **RUN), UsageTypeError,
     "a scheduler spec must be a string"),
    (trajviz.run, dict(surface="booth", starts=[], **RUN), UsageError,
     "one or more finite (x, y) pairs"),
    (trajviz.run, dict(surface="booth", starts="0,0", **RUN), UsageTypeError, "starts must be"),
    (trajviz.run, dict(surface="booth", seed=-1, **RUN), UsageError, "seed must be from 0"),
    (trajviz.run, dict(surface="booth", bound=math.nan, **RUN), UsageError,
     "bound must be greater than 0"),
    (trajviz.run, dict(surface="booth", dtype=torch.float16, **RUN), UsageError,
     "valid dtypes"),
    (trajviz.run, dict(surface="booth", device=0, **RUN), UsageTypeError, "device must be"),
    (trajviz.run, dict(surface=scalar_surface(), **RUN), UsageError, "one loss per point"),
    (trajviz.run, dict(surface="booth", **{**RUN, "optimizers": "adam:lr=fast"}), UsageError,
     "lr must be a number"),
    (trajviz.run, dict(surface="booth", scheduler="steplr:step_size=0", **RUN), UsageError,
     "ZeroDivisionError"),
    (trajviz.run, dict(surface="booth", **{**RUN, "steps": 10**9}), UsageError, "needs"),
    # maps
    (basins, dict(surface="himmelblau", optimizers="sgd", grid="8", steps=2, progress=False),
     UsageTypeError, "grid must be an integer N or a pair"),
    (basins, dict(surface="himmelblau", optimizers="sgd", grid=(4, 0), steps=2, progress=False),
     UsageError, "grid cells along y must be at least 1"),
    (basins, dict(surface="himmelblau", optimizers="sgd", grid=10**6, steps=2,
                  progress=False), UsageError, "needs"),
    (basins, dict(surface="himmelblau", optimizers="sgd", grid=4, steps=2, memory_mb=math.inf,
                  progress=False), UsageError, "memory_mb must be greater than 0"),
    (basins, dict(surface="himmelblau", optimizers="sgd", grid=4, steps=0, progress=False),
     UsageError, "steps must be at least 1"),
    (sweep, dict(surface="rosenbrock", optimizer="adam", params="lr=0.1,0.2", steps=2,
                 progress=False), UsageTypeError, "params must be a list"),
    (sweep, dict(surface="rosenbrock", optimizer="adam", params=[3], steps=2, progress=False),
     UsageTypeError, "a swept parameter must be a string"),
    (sweep, dict(surface="rosenbrock", optimizer="adam", params=["lr=0.1,0.2"], steps=2,
                 start="1,2", progress=False), UsageError, "start must be a finite point"),
    (sweep, dict(surface="rosenbrock", optimizer=None, params=["lr=0.1,0.2"], steps=2,
                 progress=False), UsageTypeError, "an optimizer spec must be a string"),
    (trajviz.loss_landscape, dict(model=nn.Linear(2, 2), loss_fn=F.mse_loss,
                                  data=(torch.zeros(3, 2), torch.zeros(3, 2)), grid="8"),
     UsageError, "grid size must be a whole number of points per side, got '8'"),
    # parsing and resolving
    (trajviz.parse_optimizers, dict(text="sgd:lr=nan"), UsageError, "lr must be a number"),
    (trajviz.parse_scheduler, dict(text="custom_objects:NotAScheduler"), UsageError,
     "is not a torch.optim.lr_scheduler.LRScheduler subclass"),
    (trajviz.resolve_surface, dict(spec=["rosenbrock"]), UsageTypeError, "surface must be"),
]


@pytest.mark.parametrize("fn, kwargs, error, message", BAD,
                         ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_raise_usage_errors(fn, kwargs, error, message):
    with pytest.raises(error) as info:
        fn(**kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize("call, message", [
    (lambda r: trajviz.animate(r, "booth", fps=math.inf), "fps must be greater than 0"),
    (lambda r: trajviz.animate(r, "booth", frames=0), "frames must be at least 1"),
    (lambda r: trajviz.animate(r, "booth", size=(math.nan, 3)), "figure width"),
    (lambda r: trajviz.plot(r, "booth", dpi=0), "dpi must be at least 10"),
    (lambda r: trajviz.animate(r, "booth", size=(8, 6), dpi=1), "dpi must be at least 10"),
    (lambda r: trajviz.animate(r, "booth", size=(1e-300, 6)), "at least 32 and at most 65535"),
    (lambda r: trajviz.RunFigure(r, "booth", size=(8, 0.1)), "800 x 10 pixels"),
    (lambda r: trajviz.plot(r, "booth", title="$" + "{" * 500 + "x" + "}" * 500 + "$"),
     "is 1003 characters long; at most 500"),
    (lambda r: trajviz.RunFigure(r, "booth", title="$" + "{" * 30 + "x" + "}" * 30 + "$"),
     "nests braces or \\left 30 deep; at most 12"),
    (lambda r: trajviz.plot(r, "plateau:width=0"), "plateau needs width > 0"),
    (lambda r: trajviz.plot(r, "plateau:width=1e308"), "a domain needs finite numbers"),
    (lambda r: trajviz.plot(r, "booth", size=(100, 100), dpi=1000), "65535 pixels"),
    (lambda r: trajviz.plot(r, "booth", title=r"$\frac$ x"), "not valid matplotlib text"),
    (lambda r: trajviz.plot("run.npz", "booth"), "expected a trajviz.Run"),
    (lambda r: trajviz.plot(r, 42), "surface must be"),
], ids=["fps", "frames", "size", "dpi", "dpi-1", "tiny", "run-figure-size", "long-title",
        "deep-title", "width-0", "infinite-domain", "pixels", "title", "not-a-run", "surface"])
def test_figures_check_their_arguments_before_drawing(small_run, call, message):
    with pytest.raises(UsageError) as info:
        call(small_run)
    assert message in str(info.value)


def test_save_refuses_an_existing_folder_named_like_a_file(small_run, tmp_path):
    (tmp_path / "a.gif").mkdir()
    fig = trajviz.animate(small_run, "booth", frames=2, size=(2, 2), dpi=20)
    with pytest.raises(UsageError, match="it is a folder"):
        trajviz.save(fig, tmp_path / "a.gif")
    assert list((tmp_path / "a.gif").iterdir()) == []


def test_a_users_surface_that_raises_propagates_from_the_api_as_it_is():
    def broken(xy):
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        trajviz.run(Surface("broken", broken, ((-1, 1), (-1, 1))), "sgd", steps=2)


def test_a_users_class_by_import_path_is_blamed_by_name():
    with pytest.raises(UserCodeError, match="error in your optimizer 'custom_objects:Raising"):
        trajviz.run("booth", "custom_objects:RaisingOptimizer:lr=0.1", steps=2, progress=False)


def test_a_built_in_surface_whose_math_overflows_is_a_usage_error():
    def overflows(xy):
        raise OverflowError(34, "Numerical result out of range")

    surface = replace(surfaces.get("booth"), fn=overflows)  # still a built-in
    with pytest.raises(UsageError, match="surface 'booth' cannot be evaluated on its domain "
                                         r"\(OverflowError: .*\): its values overflow"):
        trajviz.resolve_surface(surface)
    with pytest.raises(OverflowError):  # the user's own surface: its error, as it is
        trajviz.resolve_surface(replace(surface, origin=""))


@pytest.mark.parametrize("text", [r"$\frac$", "$" + "{" * 200 + "x" + "}" * 200 + "$"],
                         ids=["invalid", "deep"])
def test_text_the_parser_fails_on_in_any_way_is_a_usage_error(text, monkeypatch):
    from trajviz import checks

    monkeypatch.setattr(checks, "MAX_TEXT_NESTING", 10**6)  # let the parser recurse
    with pytest.raises(UsageError, match="is not valid matplotlib text"):
        checks.check_text(text, "the title")
