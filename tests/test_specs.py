import inspect

import pytest
import torch

from trajviz import UsageError
from trajviz._specs import parse_spec, split_specs
from trajviz.optimizers import constructor_defaults, replace_entry


@pytest.mark.parametrize(("text", "name", "kwargs"), [
    ("adam", "adam", {}),
    ("adam:lr=0.05", "adam", {"lr": 0.05}),
    ("adam:lr=0.05,betas=(0.9,0.99)", "adam", {"lr": 0.05, "betas": (0.9, 0.99)}),
    ("sgd:nesterov=True,momentum=0.9", "sgd", {"nesterov": True, "momentum": 0.9}),
    ("cycliclr:mode=triangular2", "cycliclr", {"mode": "triangular2"}),
    ("pkg.mod:MyOpt", "pkg.mod:MyOpt", {}),
    ("pkg.mod:MyOpt:lr=1e-3", "pkg.mod:MyOpt", {"lr": 1e-3}),
    ("x:s='a,b'", "x", {"s": "a,b"}),
], ids=lambda v: str(v)[:20])
def test_parse_spec(text, name, kwargs):
    spec = parse_spec(text)
    assert (spec.name, spec.kwargs) == (name, kwargs)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty spec"),
    ("adam:lr=", "missing value after 'lr='"),
    ("adam:lr=0.1,=3", "expected key=value"),
    ("adam:betas=(0.9,0.99", "unclosed bracket"),
    ("adam:lr=0.1)", "unmatched"),
    ("adam:lr=import os", "is not a literal"),
    ("lr=0.1", "expected 'name:key=value"),
    ("sgd:lr=0.1,lr=0.2", "'lr' is given twice"),
], ids=["empty", "no-value", "no-key", "unclosed", "unmatched", "not-literal", "no-name",
        "twice"])
def test_malformed_specs_say_where(text, message):
    with pytest.raises(UsageError, match=message):
        parse_spec(text)


@pytest.mark.parametrize(("text", "specs"), [
    ("sgd,adam", ["sgd", "adam"]),
    ("adam:lr=0.05,betas=(0.9,0.99),sgd:lr=0.1",
     ["adam:lr=0.05,betas=(0.9,0.99)", "sgd:lr=0.1"]),
    ("pkg.mod:Opt,momentum:lr=0.01,dampening=0",
     ["pkg.mod:Opt", "momentum:lr=0.01,dampening=0"]),
], ids=["plain", "kwargs-with-commas", "import-path"])
def test_split_specs_keeps_kwargs_with_their_spec(text, specs):
    assert split_specs(text) == specs


@pytest.mark.parametrize(("cls", "expected"), [
    (torch.optim.Adam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
    (torch.optim.SGD, {"momentum": 0, "nesterov": False}),
    (torch.optim.lr_scheduler.StepLR, {"step_size": inspect.Parameter.empty, "gamma": 0.1}),
], ids=["adam", "sgd", "steplr"])
def test_constructor_defaults_are_the_signature_s_after_what_the_class_is_built_on(cls, expected):
    defaults = constructor_defaults(cls)
    assert expected.items() <= defaults.items()
    assert not {"self", "params", "optimizer"} & set(defaults)
    defaults.clear()  # a fresh dict: the next call is not changed
    assert constructor_defaults(cls)


def test_constructor_defaults_of_a_class_without_a_readable_signature_are_empty():
    import math

    class Opaque(torch.optim.SGD):
        __init__ = math.hypot  # a builtin with no signature to read

    with pytest.raises(ValueError):
        inspect.signature(Opaque.__init__)
    assert constructor_defaults(Opaque) == {}


def test_replace_entry_sets_one_entry_of_a_tuple_hyperparameter():
    assert replace_entry((0.9, 0.999), 0, 0.5) == (0.5, 0.999)
    assert replace_entry([0.9, 0.999], 1, 0.99) == (0.9, 0.99)
    with pytest.raises(IndexError):
        replace_entry((0.9, 0.999), 2, 0.5)
