"""Every grid method computes the user's loss: the plain per-point loop is the reference
(set the weights, one forward pass over all the data, the loss), for any loss."""

from __future__ import annotations

import copy

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
    grid_points,
    load_dataset,
    loss_landscape,
    random_plane,
)


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
