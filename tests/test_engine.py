"""The batched engine against the plain PyTorch training loop, for every torch.optim class."""

import numpy as np
import pytest
import torch

import surfaces
import trajviz
from trajviz import UsageError, parse_optimizer
from trajviz.optimizers import OPTIMIZERS, PRESETS

# Hyperparameters that make each optimizer move visibly on Himmelblau in a few steps.
SETTINGS = {
    "sgd": "sgd:lr=1e-3", "momentum": "momentum:lr=1e-3", "nesterov": "nesterov:lr=1e-3",
    "adam": "adam:lr=0.05", "adamw": "adamw:lr=0.05,weight_decay=0.1",
    "adamax": "adamax:lr=0.05", "nadam": "nadam:lr=0.05", "radam": "radam:lr=0.05",
    "adagrad": "adagrad:lr=0.3", "adadelta": "adadelta:lr=1.0", "rmsprop": "rmsprop:lr=0.01",
    "rprop": "rprop:lr=0.01", "asgd": "asgd:lr=1e-3", "lbfgs": "lbfgs:lr=0.1",
    "adafactor": "adafactor:lr=0.05",
}
UNSUITABLE = {"sparseadam": "dense gradients", "muon": "2D parameters"}
# float64 must match the plain loop to 1e-12 relative; float32 to 1e-6.
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-6}
STARTS = np.array([[-0.5, 0.0], [1.0, 1.0], [-3.0, -2.0]])


def test_every_torch_optimizer_is_covered():
    assert set(SETTINGS) | set(UNSUITABLE) == set(OPTIMIZERS) | set(PRESETS)


def plain_loop(surface, spec_text, start, steps, dtype, scheduler=None, device="cpu"):
    """One trajectory, the way every tutorial writes it: zero_grad, loss, backward, step."""
    spec = parse_optimizer(spec_text)
    p = torch.tensor(start, dtype=dtype, device=device, requires_grad=True)
    opt = spec.cls([p], **spec.all_kwargs)
    sched = torch.optim.lr_scheduler.StepLR(opt, **scheduler) if scheduler else None
    positions = [p.detach().clone()]

    def closure():
        opt.zero_grad()
        loss = surface(p)
        loss.backward()
        return loss

    for _ in range(steps):
        if spec.needs_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
        if sched:
            sched.step()
        positions.append(p.detach().clone())
    return torch.stack(positions).cpu().numpy()


def assert_matches(batched, reference, dtype):
    tol = TOLERANCE[dtype]
    scale = np.abs(reference).max()
    np.testing.assert_allclose(batched, reference, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_batched_equals_plain_loop(name, dtype, device):
    surface = surfaces.get("himmelblau")
    steps = 25
    run = trajviz.run(surface, [SETTINGS[name]], steps=steps, starts=STARTS, dtype=dtype,
                      device=device)
    assert run.positions.shape == (len(STARTS), steps + 1, 2)
    assert run.meta["device"] == str(device)
    for i, start in enumerate(STARTS):
        reference = plain_loop(surface, SETTINGS[name], start, steps, dtype, device=device)
        assert_matches(run.positions[i], reference, dtype)
        np.testing.assert_array_equal(run.updates[i], np.diff(run.positions[i], axis=0))


def test_mixed_optimizers_and_param_groups_stay_independent(device):
    """Two Adam variants share one optimizer as param groups, with SGD between them."""
    surface = surfaces.get("himmelblau")
    specs = ["adam:lr=0.05,weight_decay=0.5", "sgd:lr=1e-3", "adam:lr=0.01,betas=(0.5,0.9)",
             "lbfgs:lr=0.1", "momentum"]
    run = trajviz.run(surface, specs, steps=20, starts=STARTS, dtype=torch.float64,
                      device=device)
    for k, spec in enumerate(specs):
        for i, start in enumerate(STARTS):
            reference = plain_loop(surface, spec, start, 20, torch.float64, device=device)
            assert_matches(run.positions[k * len(STARTS) + i], reference, torch.float64)
    assert run.labels[0] == "adam(lr=0.05,weight_decay=0.5)"
    assert run.labels[2 * len(STARTS)] == "adam(lr=0.01,betas=(0.5, 0.9))"


def test_scheduler_matches_plain_loop_and_records_lr(device):
    surface = surfaces.get("booth")
    run = trajviz.run(surface, ["sgd:lr=0.01", "adam:lr=0.5"], steps=30, dtype=torch.float64,
                      scheduler="steplr:step_size=10,gamma=0.5", device=device)
    np.testing.assert_allclose(run.lr[0, [0, 9, 10, 29]], [0.01, 0.01, 0.005, 0.0025])
    np.testing.assert_allclose(run.lr[1, [0, 10, 20]], [0.5, 0.25, 0.125])
    for k, spec in enumerate(["sgd:lr=0.01", "adam:lr=0.5"]):
        reference = plain_loop(surface, spec, surface.start, 30, torch.float64,
                               scheduler={"step_size": 10, "gamma": 0.5}, device=device)
        assert_matches(run.positions[k], reference, torch.float64)


def test_recorded_gradient_and_loss_are_the_surface_s(device):
    surface = surfaces.get("rosenbrock")
    run = trajviz.run(surface, "sgd:lr=1e-4", steps=3, dtype=torch.float64, device=device)
    p = torch.tensor(run.positions[0, 1], requires_grad=True)
    (g,) = torch.autograd.grad(surface(p), p)
    np.testing.assert_allclose(run.grads[0, 1], g.numpy(), rtol=1e-12)
    np.testing.assert_allclose(run.loss[0, 1], float(surface(p.detach())), rtol=1e-12)
    np.testing.assert_allclose(run.updates[0, 1], -1e-4 * g.numpy(), rtol=1e-9)


def test_lbfgs_records_one_position_per_step_and_its_evaluations(device):
    run = trajviz.run("rosenbrock", "lbfgs:lr=1,max_iter=20,line_search_fn='strong_wolfe'",
                      steps=5, dtype=torch.float64, device=device)
    assert run.positions.shape == (1, 6, 2)
    assert run.evals[0, 0] > 1 and (run.evals[0] >= 1).all() and (run.evals[0] <= 25).all()
    assert run.final_loss[0] < 1e-8


def test_divergence_stops_only_that_trajectory(device):
    starts = [[1.0, 0.5], [1.0, 0.0], [0.5, -0.1]]
    run = trajviz.run("saddle", "sgd:lr=0.1", steps=200, starts=starts, dtype=torch.float64,
                      device=device)
    assert run.diverged_at[1] == -1
    assert run.diverged_at[0] > 0 and run.diverged_at[2] > 0
    d = run.diverged_at[0]
    assert np.isnan(run.positions[0, d:]).all() and np.isfinite(run.positions[0, :d]).all()
    assert np.isnan(run.loss[0, d:]).all()
    alone = trajviz.run("saddle", "sgd:lr=0.1", steps=200, starts=[starts[1]],
                        dtype=torch.float64, device=device)
    np.testing.assert_array_equal(run.positions[1], alone.positions[0])


def test_bound_is_configurable_and_non_finite_diverges():
    run = trajviz.run("saddle", "sgd:lr=0.1", steps=100, starts=[[1.0, 0.5]], bound=10.0)
    assert 0 < run.diverged_at[0] < 30
    assert abs(run.positions[0, run.diverged_at[0] - 1]).max() <= 10.0
    run = trajviz.run("rosenbrock", "sgd:lr=1.0", steps=50)
    assert run.diverged_at[0] > 0


def _first_bad_reference(run: trajviz.Run, bound: float) -> np.ndarray:
    """The divergence rule over the whole record at once: the first step with a non-finite
    loss or gradient or a coordinate beyond ``bound``, or -1."""
    d = run.diverged_at
    pos, loss, grad = (a.copy() for a in (run.positions, run.loss, run.grads))
    out = []
    for i in range(run.n_traj):  # the run NaNs everything from divergence on: look before
        end = d[i] + 1 if d[i] >= 0 else run.steps + 1
        bad = ~(np.isfinite(loss[i, :end]) & (np.abs(pos[i, :end]).max(-1) <= bound))
        bad[:min(end, run.steps)] |= ~np.isfinite(grad[i, :min(end, run.steps)]).all(-1)
        out.append(int(bad.argmax()) if bad.any() else -1)
    return np.array(out)


@pytest.fixture(params=["after", "streamed"])
def history_mode(request, monkeypatch):
    """A small history is checked after the run, a large one step by step: both ways."""
    monkeypatch.setattr(trajviz.engine, "STREAMED_ELEMENTS",
                        0 if request.param == "streamed" else 1 << 40)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_divergence_is_found_at_the_first_bad_step_of_each_row(dtype, device, history_mode):
    """Whether checked step by step (whole-tensor sums first, rows only when they fail) or
    after the run, each trajectory gets the first step the rule marks, whatever mix of rows
    goes bad when."""
    starts = np.array([[1.0, 0.5], [1.0, 0.0], [0.5, -0.1], [0.2, 0.3], [-1.0, 0.01]])
    for spec, bound in [("sgd:lr=0.1", 50.0), ("sgd:lr=0.3,adam:lr=2.0", 1e3),
                        ("sgd:lr=1e999", 1e3)]:
        run = trajviz.run("saddle", spec, steps=60, starts=starts, bound=bound, dtype=dtype,
                          device=device)
        assert (run.diverged_at >= 0).any(), spec
        np.testing.assert_array_equal(run.diverged_at, _first_bad_reference(run, bound))
        np.testing.assert_array_equal(run.updates, np.diff(run.positions, axis=1))


def test_finite_values_whose_sum_overflows_are_not_divergence(history_mode):
    """float32 coordinates near its largest value sum to infinity: that sends the step to
    the per-row check, which finds every value finite and within the bound."""
    flat = surfaces.Surface.from_callable(lambda p: 1e-30 * p.sum(-1), name="flat")
    big = float(np.finfo(np.float32).max) / 2
    run = trajviz.run(flat, "sgd:lr=0.0", steps=3, starts=[[big, big], [big, big]],
                      bound=float(np.finfo(np.float32).max))
    assert torch.isinf(torch.full((4,), big).sum())  # what the whole-tensor sum sees
    assert run.diverged_at.tolist() == [-1, -1] and np.isfinite(run.positions).all()


def test_updates_and_records_are_consistent(device, history_mode):
    run = trajviz.run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=40, starts=STARTS,
                      device=device)
    np.testing.assert_array_equal(run.updates, run.positions[:, 1:] - run.positions[:, :-1])
    assert run.lr.shape == run.evals.shape == (6, 40)
    np.testing.assert_array_equal(run.lr[:3], 1e-3)
    np.testing.assert_array_equal(run.lr[3:], 0.05)
    np.testing.assert_array_equal(run.evals, 1)


@pytest.mark.parametrize(("scheduler", "error"), [
    ("constantlr:factor=0", "ZeroDivisionError"),
    ("polynomiallr:power=-1", "ZeroDivisionError"),
    ("exponentiallr:gamma=1e308", "overflow"),
], ids=["factor-0", "negative-power", "overflowing-gamma"])
def test_torch_refusing_a_setting_mid_run_is_bad_input(scheduler, error):
    for spec in ("sgd:lr=0.001", "lbfgs"):
        with pytest.raises(UsageError, match=rf"{spec.split(':')[0]}.* with scheduler "
                                             rf".*, step \d+: .*{error}"):
            trajviz.run("rosenbrock", spec, steps=20, scheduler=scheduler)


def test_a_learning_rate_beyond_float32_is_tried_in_float64():
    run = trajviz.run("quadratic", "sgd:lr=1e39", steps=3, dtype=torch.float64)
    assert run.diverged_at[0] >= 1  # it diverges, as an lr of 1e39 should
    with pytest.raises(UsageError, match=r"sgd\(lr=1e\+39\), step 1: .*overflow"):
        trajviz.run("quadratic", "sgd:lr=1e39", steps=3, dtype=torch.float32)


def test_optimizer_state_is_checked_against_the_memory_cap_before_it_exists(monkeypatch):
    monkeypatch.setenv("TRAJVIZ_MAX_MEMORY_MB", "100")
    with pytest.raises(UsageError, match=r"lbfgs\(history_size=1000000000\)'s state needs "
                                         r"7\.45 GiB"):
        trajviz.run("rosenbrock", "lbfgs:history_size=1000000000", steps=3)
    # one instance per run: many starts multiply it
    starts = np.random.default_rng(0).uniform(-1, 1, size=(2000, 2))
    with pytest.raises(UsageError, match="the optimizers' state needs 153 MiB"):
        trajviz.run("rosenbrock", "lbfgs:history_size=10000", steps=3, starts=starts)
    trajviz.run("rosenbrock", "lbfgs:history_size=10000", steps=3, starts=starts[:100])


def test_sys_exit_in_a_user_surface_is_their_error():
    with pytest.raises(trajviz.errors.UserCodeError, match="error in your surface "
                       "'custom_objects:exiting_surface': SystemExit: 7"):
        trajviz.run("custom_objects:exiting_surface", "sgd", steps=2)


def test_engine_restores_torch_threads():
    before = torch.get_num_threads()
    trajviz.run("rosenbrock", "adam:lr=0.05", steps=5)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(("name", "reason"), sorted(UNSUITABLE.items()))
def test_optimizers_that_cannot_take_two_parameters_say_why(name, reason):
    with pytest.raises(UsageError, match=reason):
        trajviz.run("rosenbrock", name, steps=2)


def test_user_optimizer_by_import_path():
    run = trajviz.run("custom_objects:BOWL", "custom_objects:SignSGD:lr=0.1", steps=5,
                      dtype=torch.float64)
    np.testing.assert_allclose(run.updates[0, 0], [0.1, -0.1])


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"optimizers": "adam:lr=-1"}, UsageError, "Invalid learning rate: -1"),
    ({"optimizers": "nesterov:momentum=0"}, UsageError, "Nesterov momentum requires"),
    ({"optimizers": "adma"}, UsageError, "did you mean"),
    ({"optimizers": "sgd", "steps": 0}, UsageError, "steps must be at least 1"),
    ({"optimizers": "sgd", "starts": [1.0, 2.0, 3.0]}, UsageError, "starts must be"),
    ({"optimizers": "sgd", "starts": np.zeros((2, 2, 2))}, UsageError, r"shape \(2, 2, 2\)"),
    ({"optimizers": "sgd", "starts": [1.0, 2.0, 3.0, 4.0]}, UsageError, r"shape \(4,\)"),
    ({"optimizers": "sgd", "scheduler": "stepp"}, UsageError, "did you mean 'steplr'"),
    ({"optimizers": "sgd", "scheduler": "steplr"}, UsageError, "step_size"),
    ({"optimizers": "sgd", "scheduler": "onecyclelr:max_lr=0.1,total_steps=2"}, UsageError,
     r"onecyclelr\(max_lr=0.1,total_steps=2\), step 3: Tried to step"),
    ({"optimizers": "sgd", "device": "tpu"}, UsageError, "valid devices"),
    ({"optimizers": "sgd", "dtype": "float16"}, UsageError, "valid dtypes"),
], ids=["bad-lr", "nesterov-no-momentum", "typo", "zero-steps", "bad-starts", "starts-3d",
         "starts-flat",
        "bad-scheduler", "scheduler-missing-arg", "scheduler-runs-out", "bad-device", "bad-dtype"])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        trajviz.run("rosenbrock", **{"steps": 3, **kwargs})


def test_device_auto_picks_what_is_there():
    run = trajviz.run("booth", "sgd:lr=0.01", steps=2, device="auto")
    assert run.meta["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


def test_meta_describes_the_run():
    run = trajviz.run("quadratic:kappa=50", "momentum:lr=0.01", steps=3, seed=7)
    meta = run.meta
    assert meta["surface"] == "quadratic:kappa=50"
    assert meta["optimizers"][0]["kwargs"] == {"momentum": 0.9, "lr": 0.01}
    assert meta["optimizers"][0]["class"] == "torch.optim.sgd.SGD"
    assert (meta["steps"], meta["seed"], meta["dtype"]) == (3, 7, "float32")
    assert meta["torch_version"] == torch.__version__


@pytest.fixture
def spare(monkeypatch):
    """Every history large enough to be streamed, and so to borrow kept buffers."""
    monkeypatch.setattr(trajviz.engine, "STREAMED_ELEMENTS", 0)
    trajviz.engine._SPARE.clear()
    yield trajviz.engine._SPARE
    trajviz.engine._SPARE.clear()


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_a_dropped_run_lends_its_memory_to_the_next_and_the_results_are_the_same(spare):
    starts = np.random.default_rng(0).uniform(-2, 2, size=(64, 2))
    first = trajviz.run("rosenbrock", "adam:lr=0.05", steps=30, starts=starts)
    expected = {k: getattr(first, k).copy() for k in ("positions", "loss", "grads", "updates")}
    where = _address(first.positions)
    del first
    again = trajviz.run("rosenbrock", "adam:lr=0.05", steps=30, starts=starts)
    assert _address(again.positions) == where
    for k, v in expected.items():
        np.testing.assert_array_equal(getattr(again, k), v)


@pytest.mark.parametrize("keep", ["run", "slice", "tensor"])
def test_memory_any_view_still_uses_is_never_lent(spare, keep):
    starts = np.random.default_rng(1).uniform(-2, 2, size=(64, 2))
    first = trajviz.run("rosenbrock", "sgd:lr=1e-3", steps=30, starts=starts)
    held = {"run": first, "slice": first.positions[3:5, 10:],
            "tensor": torch.from_numpy(first.positions[7])}[keep]
    del first

    def values() -> np.ndarray:
        return {"run": lambda: held.positions, "slice": lambda: held,
                "tensor": lambda: held.numpy()}[keep]()

    before = values().copy()
    other = trajviz.run("rosenbrock", "adam:lr=0.5", steps=30, starts=starts)
    assert not np.shares_memory(values(), other.positions)
    np.testing.assert_array_equal(values(), before)


def test_a_set_cancel_event_ends_the_run_before_its_next_step():
    import dataclasses
    import threading

    from trajviz.errors import Cancelled

    cancel, evaluations = threading.Event(), [0]
    base = surfaces.get("rosenbrock")

    def fn(xy: torch.Tensor) -> torch.Tensor:
        if xy.shape[:-1] == (1,):  # not the surface check's three points
            evaluations[0] += 1
            if evaluations[0] == 10:
                cancel.set()
        return base.fn(xy)

    surface = dataclasses.replace(base, fn=fn)
    with pytest.raises(Cancelled, match="step 9 of 100"):
        trajviz.run(surface, "adam:lr=0.01", steps=100, cancel=cancel)
    assert evaluations[0] == 10
    cancel.clear()
    evaluations[0] = 11  # past the trigger: an unset event changes nothing
    run = trajviz.run(surface, "adam:lr=0.01", steps=100, cancel=cancel)
    plain = trajviz.run("rosenbrock", "adam:lr=0.01", steps=100)
    np.testing.assert_array_equal(run.positions, plain.positions)
    with pytest.raises(UsageError, match="cancel must be a threading.Event"):
        trajviz.run("rosenbrock", "sgd", steps=5, cancel=True)
