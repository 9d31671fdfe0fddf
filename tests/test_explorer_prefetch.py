"""The explorer's speculative prefetch, without a browser: the slider values it expects
next, runs equal to the foreground's, a notch move that only draws, and a background run
that stops within one step of a change and stores nothing."""

import dataclasses
import gc
import threading

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from IPython.core.events import EventManager, available_events

import surfaces
from trajviz.optimizers import parse_optimizer
from trajviz.run import ARRAYS
from trajviz.widgets import explore
from trajviz.widgets._cache import RunCache
from trajviz.widgets._prefetch import NOTCH_REACH, Prefetcher, slider_notches

SMALL = dict(size=(5, 3.5), dpi=40, backend="image", device="cpu")
FOUR = ["sgd", "momentum", "adam", "rmsprop"]
START = np.array([surfaces.get("rosenbrock").start])


def lr_slider(value: float) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(value=value, base=10, min=-6, max=2, step=0.05)


@pytest.mark.parametrize(("slider", "expected"), [
    (lr_slider(1e-3), [10 ** -3.05, 10 ** -2.95]),
    (lr_slider(0.05), [10 ** -1.35, 10 ** -1.25]),  # off the grid: snapped onto it
    (lr_slider(100.0), [10 ** 1.95]),
    (widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01), [0.89, 0.91]),
    (widgets.FloatSlider(value=0.0, min=0.0, max=0.99, step=0.01), [0.01]),
], ids=["log-on-grid", "log-off-grid", "log-at-max", "linear", "linear-at-min"])
def test_notches_are_the_values_an_arrow_key_gives(slider, expected):
    assert slider_notches(slider) == pytest.approx(expected, rel=1e-12)


def test_notches_reach_several_each_way_nearest_first():
    on_grid = lr_slider(1e-3)
    below, above = [10 ** -3.05, 10 ** -3.1, 10 ** -3.15], [10 ** -2.95, 10 ** -2.9, 10 ** -2.85]
    assert slider_notches(on_grid, 3) == pytest.approx(
        [v for pair in zip(below, above, strict=True) for v in pair], rel=1e-12)
    assert slider_notches(on_grid, 3, up_first=True) == pytest.approx(
        [v for pair in zip(above, below, strict=True) for v in pair], rel=1e-12)
    near_min = widgets.FloatSlider(value=0.01, min=0.0, max=0.99, step=0.01)
    assert slider_notches(near_min, 3) == pytest.approx([0.0, 0.02, 0.03, 0.04])


def explorers() -> tuple:
    """Two explorers editing Adam: one that prefetches (its prefetch done), one that does
    not."""
    warm = explore("rosenbrock", FOUR, steps=40, **SMALL)
    cold = explore("rosenbrock", FOUR, steps=40, prefetch=False, **SMALL)
    assert cold.prefetcher is None
    for ui in (warm, cold):
        ui.controls["target"].value = "adam"
    warm.wait_for_prefetch()
    return warm, cold


@pytest.mark.parametrize("way", [-1, 1], ids=["down", "up"])
def test_notch_moves_after_the_prefetch_only_draw_the_cold_picture(way):
    warm, cold = explorers()
    for _ in range(3):  # each move prefetches the next one, that way first
        value = slider_notches(warm.controls["lr"])[0 if way < 0 else -1]
        for ui in (warm, cold):
            ui.controls["lr"].value = value
        warm.wait_for_prefetch()
        assert warm.timings[-1].rerun == 0 and cold.timings[-1].rerun == 1
        assert " lr: re-ran 0 of 4 " in warm.controls["timing"].value
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(warm.run, name), getattr(cold.run, name),
                                          err_msg=name)
        assert warm.run.meta == cold.run.meta
        assert warm.view.widget.value == cold.view.widget.value  # the same JPEG
    assert warm.prefetcher.stored >= 3


@pytest.mark.parametrize("notches", [-3, 2], ids=["3 down", "2 up"])
def test_a_short_drag_after_the_prefetch_only_draws_the_cold_picture(notches):
    warm, cold = explorers()
    value = slider_notches(warm.controls["lr"], abs(notches))[-2 if notches < 0 else -1]
    assert abs(notches) <= NOTCH_REACH
    for ui in (warm, cold):
        ui.controls["lr"].value = value
    assert warm.timings[-1].rerun == 0 and cold.timings[-1].rerun == 1
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(warm.run, name), getattr(cold.run, name),
                                      err_msg=name)
    assert warm.view.widget.value == cold.view.widget.value


def test_a_filled_run_is_the_foreground_run():
    adam = parse_optimizer("adam:lr=0.0112")
    rosenbrock = surfaces.get("rosenbrock")
    prefetched, foreground = RunCache(device="cpu"), RunCache(device="cpu")
    assert prefetched.fill(rosenbrock, adam, starts=START, steps=60, stop=threading.Event())
    assert not prefetched.fill(rosenbrock, adam, starts=START, steps=60,
                               stop=threading.Event())  # cached: not run again
    hit = prefetched.get(rosenbrock, [adam], starts=START, steps=60)
    miss = foreground.get(rosenbrock, [adam], starts=START, steps=60)
    assert (hit.computed, miss.computed) == (0, 1)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(hit.run, name), getattr(miss.run, name))
    assert hit.run.meta == miss.run.meta


def counting_surface(on_step) -> tuple[surfaces.Surface, list[int]]:
    """Rosenbrock that calls ``on_step(n)`` at its ``n``-th evaluation of one point, and
    the count of those evaluations."""
    base = surfaces.get("rosenbrock")
    evaluations = [0]

    def fn(xy: torch.Tensor) -> torch.Tensor:
        if xy.shape[:-1] == (1,):  # not `Surface.check`'s three points
            evaluations[0] += 1
            on_step(evaluations[0])
        return base.fn(xy)

    return dataclasses.replace(base, fn=fn), evaluations


def test_a_stopped_fill_ends_within_one_step_and_stores_nothing():
    stop = threading.Event()
    surface, evaluations = counting_surface(lambda n: n == 10 and stop.set())
    cache = RunCache(device="cpu")
    adam = parse_optimizer("adam:lr=0.01")
    assert not cache.fill(surface, adam, starts=START, steps=100, stop=stop)
    assert evaluations[0] == 10 and len(cache) == 0  # none after the stop


def fake_ipython(monkeypatch) -> EventManager:
    import IPython

    events = EventManager(None, available_events)
    shell = type("Shell", (), {"events": events})()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    return events


@pytest.mark.parametrize("stop", ["cancel", "cell"])
def test_the_prefetch_stops_for_a_change_or_a_cell(stop, monkeypatch):
    events = fake_ipython(monkeypatch)
    running = threading.Event()
    surface, evaluations = counting_surface(lambda n: n == 5 and running.set())
    prefetcher = Prefetcher(RunCache(device="cpu"), delay=0.0)
    prefetcher.pause_during_cells()
    events.trigger("post_run_cell", None)  # the cell that built it ends
    prefetcher.start(surface, [parse_optimizer("adam:lr=0.01")], starts=START,
                     steps=20_000, scheduler=None)  # a minute if it did not stop
    assert running.wait(60)
    if stop == "cancel":
        prefetcher.cancel()
    else:
        events.trigger("pre_run_cell", None)
    assert not prefetcher.busy and len(prefetcher.cache) == 0 and prefetcher.stored == 0
    assert evaluations[0] < 20_000
    del prefetcher
    gc.collect()
    assert events.callbacks["pre_run_cell"] == events.callbacks["post_run_cell"] == []


def test_the_prefetch_waits_for_the_running_cell_and_resumes_after_one(monkeypatch):
    """Nothing runs in the background while a cell runs (the engine sets torch's seed and
    thread count): not in the cell that builds it, nor in a later one."""
    events = fake_ipython(monkeypatch)
    surface, evaluations = counting_surface(lambda n: None)
    prefetcher = Prefetcher(RunCache(device="cpu"), delay=0.0)
    prefetcher.pause_during_cells()  # called from the cell building the explorer
    specs = [parse_optimizer(f"adam:lr={lr}") for lr in ("0.01", "0.02")]
    prefetcher.start(surface, specs, starts=START, steps=30, scheduler=None)
    prefetcher.join()
    assert evaluations[0] == 0 and not prefetcher.busy
    events.trigger("post_run_cell", None)
    prefetcher.join()
    assert prefetcher.stored == 2 and evaluations[0] > 0
    events.trigger("pre_run_cell", None)
    prefetcher.start(surface, [parse_optimizer("adam:lr=0.03")], starts=START, steps=30,
                     scheduler=None)
    prefetcher.join()
    assert prefetcher.stored == 2  # waits for this cell too
    events.trigger("post_run_cell", None)
    prefetcher.join()
    assert prefetcher.stored == 3


def test_the_cache_serves_the_foreground_while_the_prefetch_fills_it():
    rosenbrock = surfaces.get("rosenbrock")
    lrs = [f"{v:.3g}" for v in np.geomspace(0.001, 0.1, 6)]
    specs = [parse_optimizer(f"adam:lr={lr}") for lr in lrs]
    cache, alone = RunCache(device="cpu"), RunCache(device="cpu")
    prefetcher = Prefetcher(cache, delay=0.0)
    prefetcher.start(rosenbrock, specs[3:], starts=START, steps=50, scheduler=None)
    for spec in specs:  # the foreground, meanwhile
        got = cache.get(rosenbrock, [spec], starts=START, steps=50).run
        np.testing.assert_array_equal(
            got.positions, alone.get(rosenbrock, [spec], starts=START, steps=50).run.positions)
    prefetcher.join()
    assert len(cache) == len(specs)


def test_a_users_own_code_never_runs_unasked():
    """A surface function or optimizer class of the user's runs only when a change asks."""
    calls = []

    def bowl(p: torch.Tensor) -> torch.Tensor:
        calls.append(threading.current_thread().name)
        return (p ** 2).sum(-1)

    own = dataclasses.replace(surfaces.get("quadratic"), name="bowl", fn=bowl)
    ui = explore(own, ["sgd", "adam"], steps=20, **SMALL)
    ui.controls["lr"].value = ui.controls["lr"].value * 2
    ui.wait_for_prefetch()
    assert calls and set(calls) == {threading.main_thread().name}
    assert ui.prefetcher.stored == 0
    builtin = explore("quadratic", ["sgd", "adam"], steps=20, **SMALL)
    builtin.wait_for_prefetch()
    assert builtin.prefetcher.stored == 2 * NOTCH_REACH  # the check above is not vacuous


def test_prefetch_takes_true_or_false_only():
    from trajviz.errors import UsageError

    with pytest.raises(UsageError, match="prefetch must be True or False, got 'no'"):
        explore("rosenbrock", ["sgd"], prefetch="no", **SMALL)
