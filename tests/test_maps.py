"""Convergence maps: exact against the engine, the stability limit of gradient descent,
parameter parsing, fallbacks and the figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import surfaces
import trajviz
from trajviz.errors import UsageError
from trajviz.maps import (
    BasinMap,
    Outcomes,
    ParamAxis,
    SweepMap,
    basins,
    parse_param,
    plot_basins,
    plot_sweep,
    save_figure,
    sweep,
)
from trajviz.maps.plot import DIVERGED, NOT_CONVERGED, basin_rgb, minimum_colour

ENGINE_CASES = [
    ("sgd:lr=0.01", "shared tensor"),
    ("momentum:lr=0.01", "shared tensor, chaotic basins"),
    ("adam:lr=0.1", "shared tensor, adam"),
    ("rmsprop:lr=0.05", "shared tensor, rmsprop"),
    ("sgd:lr=0.05", "some runs diverge"),
    ("lbfgs:lr=0.5", "one optimizer per run, closure"),
    ("adafactor:lr=0.1", "one optimizer per run, not element-wise"),
]


def _engine_reference(opt: str, m: BasinMap, steps: int, device: torch.device) -> trajviz.Run:
    starts = np.stack(np.meshgrid(m.xs, m.ys), -1).reshape(-1, 2)
    return trajviz.run("himmelblau", opt, steps=steps, starts=starts, progress=False,
                       device=device)


@pytest.mark.parametrize("opt", [c[0] for c in ENGINE_CASES], ids=[c[1] for c in ENGINE_CASES])
def test_basins_match_engine_bit_for_bit(opt: str, device: torch.device) -> None:
    steps = 40
    grid = (6, 5) if opt.startswith(("lbfgs", "adafactor")) else (24, 20)  # 480: 2 chunks
    m = basins("himmelblau", opt, grid=grid, steps=steps, memory_mb=1e-6, progress=False,
               device=device)
    assert m.meta["device"] == str(device)
    ref = _engine_reference(opt, m, steps, device)
    np.testing.assert_array_equal(m.diverged_at[0].ravel(), ref.diverged_at)
    np.testing.assert_array_equal(m.final[0].reshape(-1, 2), ref.final_positions)
    # steps to converge, recomputed from the engine's full history
    surf = surfaces.get("himmelblau")
    idx, dist = surf.nearest_minimum(torch.tensor(ref.final_positions, dtype=torch.float64))
    mins = np.asarray(surf.minima)[idx.numpy()]
    d = np.linalg.norm(ref.positions - mins[:, None, :], axis=-1)
    far = d > m.tol
    last_far = np.where(far.any(1), steps - np.argmax(far[:, ::-1], 1), -1)
    expected = np.where((ref.diverged_at < 0) & ~far[:, -1], last_far + 1, -1)
    np.testing.assert_array_equal(m.converged_at[0].ravel(), expected)


def test_basin_chunks_do_not_change_the_map(device: torch.device) -> None:
    kw = dict(grid=(30, 20), steps=30, progress=False, device=device)
    one = basins("himmelblau", "adam:lr=0.1,sgd:lr=0.02", **kw)
    many = basins("himmelblau", "adam:lr=0.1,sgd:lr=0.02", memory_mb=1e-6, **kw)  # 3 chunks
    for name in ("final", "diverged_at", "converged_at", "minimum"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))
    assert one.labels == ["adam(lr=0.1)", "sgd(lr=0.02)"]


def test_sweep_matches_one_run_per_setting(device: torch.device) -> None:
    s = sweep("rosenbrock", "adam", ["lr=1e-3:0.5:log:4", "betas[0]=0.5:0.95:3"], steps=40,
              progress=False, device=device)
    assert s.shape == (3, 4)
    for row in range(3):
        for col in range(4):
            v = s.value(row, col)
            spec = trajviz.parse_optimizer(f"adam:lr={v['lr']!r},betas=({v['betas[0]']!r},0.999)")
            ref = trajviz.run("rosenbrock", [spec], steps=40, progress=False, device=device)
            np.testing.assert_array_equal(s.final[row, col], ref.final_positions[0])
            assert s.diverged_at[row, col] == ref.diverged_at[0]


def test_sweep_of_a_per_run_optimizer_with_scheduler(device: torch.device) -> None:
    sched = "steplr:step_size=5,gamma=0.5"
    s = sweep("rosenbrock", "lbfgs", ["lr=0.1,0.5,1.0"], steps=10, scheduler=sched,
              progress=False, device=device)
    for col, lr in enumerate((0.1, 0.5, 1.0)):
        ref = trajviz.run("rosenbrock", f"lbfgs:lr={lr}", steps=10, scheduler=sched,
                          progress=False, device=device)
        np.testing.assert_array_equal(s.final[0, col], ref.final_positions[0])


KAPPA = 40.0


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9], ids=["gd", "heavy-ball-0.5", "hb-0.9"])
def test_sweep_shows_the_stability_limit_of_gradient_descent(momentum: float,
                                                             device: torch.device) -> None:
    """Quadratic with curvatures 1 and kappa: gradient descent (heavy ball with momentum mu)
    is stable exactly for lr < 2 (1 + mu) / kappa. The log grid puts that limit mid-cell."""
    limit = 2 * (1 + momentum) / KAPPA
    s = sweep(f"quadratic:kappa={KAPPA}", f"sgd:momentum={momentum}",
              [f"lr={limit / 4}:{limit * 4}:log:40"], steps=600, dtype="float64",
              progress=False, device=device)
    lrs = np.array(s.axes[0].values)
    below, above = lrs < limit * 0.97, lrs > limit * 1.03
    start_loss = 0.5 * (1.8**2 + KAPPA * 0.8**2)
    unstable = s.diverged[0] | (s.final_loss[0] > start_loss)
    assert not unstable[below].any(), lrs[below & unstable]
    assert unstable[above].all(), lrs[above & ~unstable]
    assert s.diverged[0][lrs > limit * 1.2].all()
    assert (s.final_loss[0][below] < start_loss).all()
    # the map's boundary: first unstable cell is the first grid value past the limit (+-1)
    first = int(np.argmax(unstable))
    assert abs(first - int(np.searchsorted(lrs, limit))) <= 1


PARAM_CASES = [
    ("lr=1e-3:1e-1:log:3", "lr", None, (1e-3, 1e-2, 1e-1), True),
    ("betas[0]=0.5:0.9:3", "betas", 0, (0.5, 0.7, 0.9), False),
    ("momentum=0,0.5,0.9", "momentum", None, (0, 0.5, 0.9), False),
    ("nesterov=False,True", "nesterov", None, (False, True), False),
    ("lr = 0.1:0.3:lin:3", "lr", None, (0.1, 0.2, 0.3), False),
    ("eps=1e-8:1e-8:1", "eps", None, (1e-8,), False),
]


@pytest.mark.parametrize("text,name,index,values,log", PARAM_CASES,
                         ids=[c[0] for c in PARAM_CASES])
def test_parse_param(text: str, name: str, index: int | None, values: tuple, log: bool) -> None:
    axis = parse_param(text)
    assert (axis.name, axis.index, axis.log) == (name, index, log)
    np.testing.assert_allclose(np.asarray(axis.values, dtype=float), values, rtol=1e-12)


BAD_PARAMS = [
    ("lr=1:1e-4:log:8", "reversed range"),
    ("lr=1e-4:1:log:0", "empty range"),
    ("lr=0.1:0.1:8", "LO equals HI"),
    ("lr=0:1:log:8", "needs LO > 0"),
    ("lr=0.1:1:cubic:8", "SCALE one of lin, log"),
    ("lr=a:b:8", "must be numbers"),
    ("lr=0.1:1:8.5", "must be an integer"),
    ("lr", "malformed --param"),
    ("lr=", "no values"),
    ("lr=0.1,0.1", "repeats a value"),
]


@pytest.mark.parametrize("text,message", BAD_PARAMS, ids=[b[0] for b in BAD_PARAMS])
def test_bad_param_text(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_param(text)


BAD_SWEEPS = [
    ("adam", ["momentum=0:0.9:4"], "does not take 'momentum'.*it takes .*betas"),
    ("adam", ["beta=0:0.9:4"], "did you mean 'betas'"),
    ("adam", ["betas[2]=0.1:0.5:4"], r"betas has 2 entries \(betas\[0\], betas\[1\]\)"),
    ("adam", ["lr[0]=0.1:0.5:4"], "single value"),
    ("adam", ["betas[0]=0.5:1.5:4"], "Invalid beta parameter"),
    ("sgd", ["lr=-1:1:3"], "Invalid learning rate"),
    ("sgd", ["lr=0.1,0.2", "lr=0.3,0.4"], "given twice"),
    ("sgd", ["lr=0.1,0.2", "momentum=0,0.5", "dampening=0,0.1"], "one or two"),
    ("sgd,adam", ["lr=0.1,0.2"], "one optimizer, got 2"),
    ("sgd", ["foreach=True,False"], "does not take 'foreach'"),
]


@pytest.mark.parametrize("opt,params,message", BAD_SWEEPS, ids=[b[2][:30] for b in BAD_SWEEPS])
def test_bad_sweep(opt: str, params: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        sweep("rosenbrock", opt, params, steps=2, progress=False)


def test_plateau_scheduler_is_refused_with_a_reason() -> None:
    with pytest.raises(UsageError, match="couple a map's independent runs"):
        basins("himmelblau", "sgd", grid=4, steps=2, scheduler="reducelronplateau")


def test_surface_without_minima_colours_by_where_runs_end() -> None:
    bowl = surfaces.Surface.from_callable(lambda p: ((p - 1.0) ** 2).sum(-1), name="bowl")
    m = basins(bowl, "sgd:lr=0.1", grid=8, steps=200, progress=False)
    assert (m.minimum == -1).all() and m.minima.shape == (0, 2)
    np.testing.assert_allclose(m.final[0], 1.0, atol=1e-4)
    assert m.converged.all()  # every update settles below tol
    rgb = basin_rgb(m, 0)
    assert rgb.shape == (8, 8, 3) and np.isfinite(rgb).all()
    assert len(plot_basins(m).axes) >= 1


def test_basin_colours_follow_outcomes() -> None:
    m = basins("himmelblau", "sgd:lr=0.03,adam:lr=1e-3,sgd:lr=0.01", grid=24, steps=100,
               progress=False)
    assert m.diverged[0].any() and (~m.converged[1] & ~m.diverged[1]).any()
    assert m.converged[2].mean() > 0.9
    rgb0, rgb1, rgb2 = basin_rgb(m, 0), basin_rgb(m, 1), basin_rgb(m, 2)
    np.testing.assert_allclose(rgb0[m.diverged[0]], np.broadcast_to(
        np.array(matplotlib_rgb(DIVERGED)), rgb0[m.diverged[0]].shape))
    stuck = ~m.converged[1] & ~m.diverged[1]
    np.testing.assert_allclose(rgb1[stuck], np.broadcast_to(
        np.array(matplotlib_rgb(NOT_CONVERGED)), rgb1[stuck].shape))
    # a converged cell is its minimum's colour blended towards white
    for j, i in np.argwhere(m.converged[2])[::37]:
        base, got = np.array(minimum_colour(m.minimum[2, j, i])), rgb2[j, i]
        t = (got - base) / (1 - base)
        np.testing.assert_allclose(t, t[0], atol=1e-9)
        assert 0 <= t[0] <= 1


def matplotlib_rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def test_maps_save_and_load_roundtrip(tmp_path, device: torch.device) -> None:
    m = basins("himmelblau", "adam:lr=0.1", grid=(6, 4), steps=10, progress=False,
               device=device)
    m.save(tmp_path / "b.npz")
    back = BasinMap.load(tmp_path / "b.npz")
    for name in ("xs", "ys", "final", "final_loss", "diverged_at", "converged_at", "minimum"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    assert back.labels == m.labels and back.domain == m.domain
    with np.load(tmp_path / "b.npz", allow_pickle=False) as data:  # plain NumPy
        assert data["final"].shape == (1, 4, 6, 2)
    s2 = sweep("rosenbrock", "sgd:momentum=0.9", ["lr=1e-4:1e-3:log:3", "nesterov=False,True"],
               steps=5, progress=False, device=device)
    s2.save(tmp_path / "s.npz")
    back = SweepMap.load(tmp_path / "s.npz")
    assert back.axes == s2.axes and back.label == s2.label
    np.testing.assert_array_equal(back.final_loss, s2.final_loss)
    with pytest.raises(UsageError, match="not a valid trajviz sweep file: .*kind"):
        SweepMap.load(tmp_path / "b.npz")
    assert s2.shape == (2, 3)


def test_sweep_needs_nesterov_momentum_checked_per_combination() -> None:
    with pytest.raises(UsageError, match="Nesterov"):
        sweep("rosenbrock", "sgd", ["nesterov=False,True"], steps=2, progress=False)


def test_figures(tmp_path) -> None:
    m = basins("himmelblau", "sgd:lr=0.01,momentum:lr=0.01,adam:lr=0.05", grid=16, steps=50,
               progress=False)
    fig = plot_basins(m)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3
    save_figure(fig, tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 10_000
    s = sweep("quadratic:kappa=20", "sgd", ["lr=0.01:0.2:log:6", "momentum=0:0.9:4"],
              steps=50, progress=False)
    save_figure(plot_sweep(s), tmp_path / "s.svg")
    one = sweep("quadratic:kappa=20", "sgd", [ParamAxis("lr", (0.01, 0.05, 0.2))], steps=50,
                progress=False)
    save_figure(plot_sweep(one), tmp_path / "s1.pdf")
    with pytest.raises(UsageError, match="suffix must be one of"):
        save_figure(fig, tmp_path / "b.xyz")
    assert not (tmp_path / "b.xyz").exists()


def test_basin_summary_gives_each_optimizer_s_shares_and_median_steps() -> None:
    m = basins("himmelblau", "sgd:lr=0.03,adam:lr=0.05,sgd:lr=0.01", grid=12, steps=80,
               progress=False)
    summaries = m.summary()
    assert [s.label for s in summaries] == m.labels
    n = m.minimum[0].size
    for k, s in enumerate(summaries):
        conv, div = m.converged_at[k] >= 0, m.diverged_at[k] >= 0
        assert (s.converged, s.diverged) == (conv.sum() / n, div.sum() / n)
        np.testing.assert_allclose(s.per_minimum, [((m.minimum[k] == j) & conv).sum() / n
                                                   for j in range(len(m.minima))])
        assert s.not_converged == pytest.approx((~conv & ~div).sum() / n)
        steps = m.converged_at[k][conv]
        if not steps.size:
            assert s.median_steps is None
            continue
        assert (steps < s.median_steps).sum() <= len(steps) // 2 < (steps <= s.median_steps).sum()
    assert summaries[0].diverged > 0 and summaries[2].median_steps is not None


def test_sweep_summary_names_the_best_run_that_did_not_diverge() -> None:
    s = sweep(f"quadratic:kappa={KAPPA}", "sgd", ["lr=0.01:0.2:log:8"], steps=100,
              progress=False)
    summary = s.summary()
    assert summary.runs == 8 and 0 < summary.diverged < 1
    assert summary.diverged == s.diverged.mean() and summary.converged == s.converged.mean()
    col = int(np.argmin(np.where(s.diverged[0], np.inf, s.final_loss[0])))
    assert summary.best == {"lr": s.axes[0].values[col]}
    assert summary.best_loss == s.final_loss[0, col]
    every_run_diverges = sweep(f"quadratic:kappa={KAPPA}", "sgd", ["lr=1,2"], steps=50,
                               progress=False).summary()
    assert every_run_diverges.diverged == 1
    assert (every_run_diverges.best, every_run_diverges.best_loss) == (None, None)


@pytest.mark.parametrize("kind", [BasinMap, SweepMap], ids=["basins", "sweep"])
def test_both_maps_are_outcomes(kind: type) -> None:
    """One outcomes type: the arrays, their meaning and the derived masks are shared."""
    assert issubclass(kind, Outcomes)
    m = (basins("himmelblau", "sgd:lr=0.03", grid=6, steps=40, progress=False)
         if kind is BasinMap else
         sweep("himmelblau", "sgd", ["lr=0.01,0.03"], steps=40, progress=False))
    arrays = m.outcome_arrays()
    assert list(arrays) == ["final", "final_loss", "diverged_at", "converged_at", "minimum"]
    assert arrays["final"].shape == (*arrays["minimum"].shape, 2)
    np.testing.assert_array_equal(m.diverged, m.diverged_at >= 0)
    np.testing.assert_array_equal(m.converged, m.converged_at >= 0)
