import pytest
import torch

import surfaces
from surfaces import Surface
from trajviz import UsageError, resolve_surface

ALL = surfaces.names()


def test_at_least_fourteen_surfaces_cover_the_issue():
    wanted = {"rosenbrock", "beale", "himmelblau", "booth", "matyas", "rastrigin", "ackley",
              "six_hump_camel", "goldstein_price", "styblinski_tang", "quadratic", "saddle",
              "monkey_saddle", "plateau"}
    assert wanted <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_minima_have_listed_value_and_zero_gradient(name):
    s = surfaces.get(name)
    for m in s.minima:
        p = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        value = s(p)
        (grad,) = torch.autograd.grad(value, p)
        assert float(value.detach()) == pytest.approx(s.min_value, abs=1e-9)
        assert torch.linalg.vector_norm(grad) < 1e-6, (m, grad)


@pytest.mark.parametrize("name", ALL)
def test_saddles_have_zero_gradient(name):
    s = surfaces.get(name)
    for m in s.saddles:
        p = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        (grad,) = torch.autograd.grad(s(p), p)
        assert torch.linalg.vector_norm(grad) < 1e-4


@pytest.mark.parametrize("name", ALL)
def test_batched_equals_pointwise_in_both_dtypes(name, device):
    s = surfaces.get(name)
    (x0, x1), (y0, y1) = s.domain
    for dtype in (torch.float32, torch.float64):
        g = torch.rand(3, 4, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
        pts = g * torch.tensor([x1 - x0, y1 - y0], dtype=dtype) + torch.tensor([x0, y0],
                                                                               dtype=dtype)
        pts = pts.to(device)
        batched = s(pts)
        assert batched.shape == (3, 4) and batched.dtype == dtype
        assert batched.device == pts.device
        pointwise = torch.stack([s(p) for p in pts.reshape(-1, 2)]).reshape(3, 4)
        torch.testing.assert_close(batched, pointwise, rtol=0, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_start_is_inside_domain_and_finite(name):
    s = surfaces.get(name)
    (x0, x1), (y0, y1) = s.domain
    assert x0 <= s.start[0] <= x1 and y0 <= s.start[1] <= y1
    assert torch.isfinite(s(torch.tensor(s.start, dtype=torch.float64)))


@pytest.mark.parametrize(("spec", "check"), [
    ("quadratic:kappa=50", lambda s: s.params["kappa"] == 50),
    ("rosenbrock:a=2,b=10", lambda s: s.minima == ((2, 4),)),
    ("rastrigin", lambda s: s.params["a"] == 10.0),
], ids=["quadratic", "rosenbrock-ab", "default"])
def test_parameterised_surfaces_by_name(spec, check):
    assert check(resolve_surface(spec))


def test_rosenbrock_parameters_move_its_minimum_and_keep_zero_gradient():
    s = resolve_surface("rosenbrock:a=2,b=10")
    p = torch.tensor(s.minima[0], dtype=torch.float64, requires_grad=True)
    assert float(s(p).detach()) == 0
    assert torch.autograd.grad(s(p), p)[0].abs().max() == 0


def test_noisy_keeps_value_perturbs_gradient_and_is_seeded(device):
    base = surfaces.get("booth")
    p = torch.tensor([[0.5, 0.5]] * 4, dtype=torch.float64, device=device, requires_grad=True)

    def grads(s):
        (g,) = torch.autograd.grad(s(p).sum(), p)
        return g

    a, b = surfaces.noisy(base, 2.0, seed=1), surfaces.noisy(base, 2.0, seed=1)
    torch.testing.assert_close(grads(a), grads(b))  # same seed, same noise
    assert not torch.allclose(grads(a), grads(base))
    assert torch.equal(a(p), base(p))
    quiet = surfaces.noisy(base, 2.0, batch_size=10_000, seed=1)
    assert (grads(quiet) - grads(base)).abs().max() < (grads(a) - grads(base)).abs().max()


def test_user_surface_from_callable_and_import_path():
    s = Surface.from_callable(lambda p: (p**2).sum(-1), name="mine")
    assert float(s(torch.tensor([1.0, 2.0]))) == 5.0
    assert resolve_surface("custom_objects:BOWL").name == "bowl"
    assert resolve_surface("custom_objects:tilted_bowl").name == "tilted_bowl"


@pytest.mark.parametrize(("spec", "message"), [
    ("rosenbrok", "did you mean 'rosenbrock'"),
    ("quadratic:kappa=-1", "kappa > 0"),
    ("quadratic:alpha=1", "it takes kappa"),
    ("custom_objects:nothing_here", "cannot import"),
    ("quadratic:kappa=", "missing value"),
], ids=["typo", "bad-param", "unknown-param", "bad-import", "malformed"])
def test_bad_surface_specs(spec, message):
    with pytest.raises(UsageError, match=message):
        resolve_surface(spec)
