"""Every grid method computes the user's loss: the plain per-point loop is the reference
(set the weights, one forward pass over all the data, the loss), for any loss."""

from __future__ import annotations

import copy
import functools
import logging

import numpy as np
import pytest
import torch
from _landscape import mnist_root
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from trajviz.errors import UsageError
from trajviz.landscape import (
    PlaneEvaluator,
    build_model,
    load_dataset,
    loss_landscape,
    random_plane,
)
from trajviz.landscape.grid import grid_points


class Boom(RuntimeError):
    pass


def raises(out, y):
    raise Boom("the user's loss failed")


LOSSES = {
    "cross-entropy": (F.cross_entropy, "labels"),
    "CrossEntropyLoss-sum": (nn.CrossEntropyLoss(reduction="sum"), "labels"),
    "label-smoothing": (nn.CrossEntropyLoss(label_smoothing=0.1), "labels"),
    "mse-one-hot": (F.mse_loss, "one-hot"),
    "constant": (lambda o, t: F.cross_entropy(o, t) * 0 + 7, "labels"),
    "nll-sum": (lambda o, t: F.nll_loss(F.log_softmax(o, 1), t, reduction="sum"), "labels"),
    "raises": (raises, "labels"),
}
MODELS = {
    "linear": lambda: torch.manual_seed(0) and nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
    "mlp": lambda: build_model("mlp", seed=1),
    "cnn": lambda: build_model("cnn", seed=2),
}
CASES = [("linear", "affine"), ("linear", "vmap"), ("mlp", "auto"), ("mlp", "affine"),
         ("mlp", "vmap"), ("mlp", "loop"), ("cnn", "affine"), ("cnn", "vmap")]


@pytest.fixture(scope="module")
def mnist():
    d = load_dataset("mnist", data_dir=mnist_root())
    return d.train_x[:300], d.train_y[:300]


def plain_loop(model, plane, points, x, y, loss_fn):
    net = copy.deepcopy(model)
    out = []
    with torch.no_grad():
        for a, b in points:
            vector_to_parameters(plane.point(float(a), float(b)), net.parameters())
            out.append(float(loss_fn(net(x), y)))
    return np.array(out)


@pytest.mark.parametrize("model_name, method", CASES, ids=[f"{m}-{k}" for m, k in CASES])
@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_every_method_computes_the_users_loss(mnist, model_name, method, loss_name, device):
    x, y = mnist
    loss_fn, target = LOSSES[loss_name]
    if target == "one-hot":
        y = F.one_hot(y, 10).float()
    model = MODELS[model_name]()
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=4)
    points = grid_points(np.linspace(-0.6, 0.6, 3), np.linspace(-0.4, 0.8, 2))
    # a small budget splits points and data into several chunks and blocks (the cnn's
    # activations are large: a few blocks of its own)
    n, budget = (64, 4.0) if model_name == "cnn" else (len(x), 0.5)
    x, y = x[:n], y[:n]
    ev = PlaneEvaluator(model, plane, x, y, loss_fn=loss_fn, method=method, memory_mb=budget,
                        device=device)
    if loss_fn is raises:
        with pytest.raises(Boom, match="the user's loss failed"):
            ev.evaluate(points)
        return
    loss, acc = ev.evaluate(points, chunk=4)
    ref = plain_loop(model, plane, points, x, y, loss_fn)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(loss, ref, rtol=0, atol=2e-5 * scale)
    assert np.isnan(acc).all() == (target == "one-hot")


def test_the_reviews_repro_gives_the_constant_loss_on_every_method(mnist):
    """A net starting with Linear and a constant loss: 7.0 everywhere, not cross-entropy."""
    x, y = mnist
    model = MODELS["linear"]()
    const = lambda o, t: F.cross_entropy(o, t) * 0 + 7  # noqa: E731
    for method in ("auto", "affine", "vmap", "loop"):
        g = loss_landscape(model, const, (x, y), grid=3, method=method, progress=False)
        np.testing.assert_allclose(g.loss, 7.0, rtol=0, atol=1e-6)


def test_a_loss_that_is_not_one_number_is_a_clear_error(mnist):
    x, y = mnist
    model = MODELS["linear"]()
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=0)
    per_sample = nn.CrossEntropyLoss(reduction="none")
    ev = PlaneEvaluator(model, plane, x, y, loss_fn=per_sample)
    with pytest.raises(UsageError, match=r"one number for the data.*shape \(300,\)"):
        ev.evaluate([[0.0, 0.0]])


# -- the API's bad input, the user's failing code, and its checkpoints ------------------------

class Tempered(nn.Module):
    """A model whose behaviour depends on an attribute that is no parameter or buffer."""

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)
        self.temperature = temperature

    def forward(self, x):
        return self.linear(x) / self.temperature


class Breaks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x):
        raise Boom("the user's model failed")


def _small():
    torch.manual_seed(0)
    return torch.randn(60, 6), torch.randint(0, 4, (60,))


@pytest.mark.parametrize("model, loss_fn, error, message", [
    (None, F.cross_entropy, "UsageTypeError", "model must be a torch.nn.Module, got NoneType"),
    (nn.ReLU(), F.cross_entropy, "UsageError", "the model (ReLU) has no parameters"),
    (nn.Linear(6, 4), 3, "UsageTypeError", "loss_fn must be a callable"),
    (nn.Linear(3, 4), F.cross_entropy, "UserCodeError",
     "error in your model 'Linear': RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
    (Breaks(), F.cross_entropy, "UserCodeError",
     "error in your model 'Breaks': Boom: the user's model failed"),
    (nn.Linear(6, 4), raises, "UserCodeError",
     "error in your loss 'raises': Boom: the user's loss failed"),
], ids=["none", "no-parameters", "loss-not-callable", "model-shape", "model-raises",
        "loss-raises"])
def test_bad_models_and_failing_user_code_are_named(model, loss_fn, error, message):
    from trajviz import errors

    with pytest.raises(getattr(errors, error)) as info:
        loss_landscape(model, loss_fn, _small(), grid=3, progress=False)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("extent", [(0, 1e308, 0, 1), (0, 1e-300, 0, 1e-300), (0, 1, 0, 1e13),
                                    (1e20, 1e20 + 1e5, 0, 1)],
                         ids=["huge", "tiny", "beta-huge", "coarse-for-its-values"])
def test_an_extent_of_insane_span_is_refused(extent, tmp_path, capsys):
    from trajviz.cli import main

    with pytest.raises(UsageError, match=r"extent: the (alpha|beta) axis spans .* it must span "
                                         r"more than 1e-12 and less than 1e\+12"):
        loss_landscape(nn.Linear(6, 4), F.cross_entropy, _small(), grid=3, extent=extent,
                       progress=False)
    text = ",".join(map(repr, map(float, extent)))
    assert main(["landscape", f"--extent={text}", "--out", str(tmp_path / "l.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"trajviz landscape: error: --extent '{text}': "
                                               "the ")
    assert "axis spans" in err[0] and not list(tmp_path.iterdir())


@pytest.fixture
def kept_checkpoints(monkeypatch):
    """Chunk checkpoints stay after the grid is written, as if the run had been interrupted."""
    from trajviz.landscape.distributed import Checkpoints

    monkeypatch.setattr(Checkpoints, "clear", lambda self: None)


def _resumed(model, loss_fn, save, **kw):
    return loss_landscape(model, loss_fn, _small(), grid=5, chunk=5, method="loop", save=save,
                          progress=False, **kw)


@pytest.mark.parametrize("first, second", [
    (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.5)),
    (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2, 3, 4]))),
    (nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2, 3, 4])),
     nn.CrossEntropyLoss(weight=torch.tensor([4.0, 3, 2, 1]))),
    (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(ignore_index=2)),
    (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(reduction="sum")),
    (F.cross_entropy, F.multi_margin_loss),
], ids=["label-smoothing", "weight", "weight-values", "ignore-index", "reduction", "function"])
def test_a_checkpoint_of_another_loss_is_never_reused(first, second, tmp_path,
                                                      kept_checkpoints):
    torch.manual_seed(1)
    model = nn.Linear(6, 4)
    _resumed(model, first, tmp_path / "g.npz")
    assert _resumed(model, first, tmp_path / "g.npz").meta["reused_points"] == 25
    again = _resumed(model, second, tmp_path / "g.npz")
    assert again.meta["reused_points"] == 0
    fresh = loss_landscape(model, second, _small(), grid=5, method="loop", progress=False)
    np.testing.assert_array_equal(again.loss, fresh.loss)


def test_a_checkpoint_of_a_model_with_another_attribute_is_never_reused(tmp_path,
                                                                        kept_checkpoints):
    torch.manual_seed(1)
    cold = Tempered(1.0)
    hot = copy.deepcopy(cold)
    hot.temperature = 3.0
    _resumed(cold, F.cross_entropy, tmp_path / "g.npz")
    assert _resumed(copy.deepcopy(cold), F.cross_entropy,
                    tmp_path / "g.npz").meta["reused_points"] == 25
    again = _resumed(hot, F.cross_entropy, tmp_path / "g.npz")
    assert again.meta["reused_points"] == 0
    fresh = loss_landscape(hot, F.cross_entropy, _small(), grid=5, method="loop", progress=False)
    np.testing.assert_array_equal(again.loss, fresh.loss)


def _scaled(t):
    return lambda o, y: F.cross_entropy(o, y) * t


@pytest.mark.parametrize("loss_fn, second", [
    (lambda o, y: F.cross_entropy(o, y), lambda o, y: F.cross_entropy(o, y) * 2),
    (_scaled(1.0), _scaled(2.0)),
    (functools.partial(F.cross_entropy, label_smoothing=0.0),
     functools.partial(F.cross_entropy, label_smoothing=0.5)),
], ids=["lambda", "closure", "partial"])
def test_a_loss_that_cannot_be_identified_is_never_reused(loss_fn, second, tmp_path, caplog,
                                                          kept_checkpoints):
    torch.manual_seed(1)
    model = nn.Linear(6, 4)
    with caplog.at_level(logging.WARNING):
        first = _resumed(model, loss_fn, tmp_path / "g.npz")
    assert "will not be reused by a rerun: the loss cannot be identified" in caplog.text
    assert first.meta["resumable"] is False
    assert list((tmp_path / "g.npz.chunks").iterdir())  # written all the same
    for fn in (loss_fn, second):
        again = _resumed(model, fn, tmp_path / "g.npz")
        assert again.meta["reused_points"] == 0
    fresh = loss_landscape(model, second, _small(), grid=5, method="loop", progress=False)
    np.testing.assert_array_equal(again.loss, fresh.loss)


RESUME_SCRIPT = """
import sys, torch
from torch import nn
from torch.nn import functional as F
from trajviz import loss_landscape
from trajviz.landscape.distributed import Checkpoints
Checkpoints.clear = lambda self: None
torch.manual_seed(0)
x, y = torch.randn(60, 6), torch.randint(0, 4, (60,))
torch.manual_seed(1)
g = loss_landscape(nn.Linear(6, 4), F.cross_entropy, (x, y), grid=5, chunk=5, method="loop",
                   save=sys.argv[1], progress=False)
print(g.meta["reused_points"], g.meta["resumable"])
"""


def test_a_function_loss_resumes_in_another_process(tmp_path, kept_checkpoints):
    import subprocess
    import sys

    save = tmp_path / "g.npz"
    done = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(save)], capture_output=True,
                          text=True, timeout=300, check=True)
    assert done.stdout.split() == ["0", "True"]
    torch.manual_seed(1)
    again = _resumed(nn.Linear(6, 4), F.cross_entropy, save)
    assert again.meta["reused_points"] == 25 and again.meta["resumable"] is True
