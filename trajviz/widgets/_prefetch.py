"""Speculative prefetch: the runs a user is likely to ask for next, computed while idle.

A user moves a slider notch by notch (arrow keys, a short drag). While the explorer is
idle, one background thread runs the edited optimizer at the slider's values up to
`NOTCH_REACH` notches below and above (`slider_notches`), nearest first, into the
`RunCache`, through `RunCache.fill`: the same engine call a change to that value makes,
so a move of that many notches finds its run and only draws.

The thread computes runs only; matplotlib and the widgets stay on the main thread. It
never delays a user: every change stops it first (`Prefetcher.cancel`, within one optimizer
step, storing nothing of a stopped run). It never runs while a notebook cell runs (the cell
that builds the explorer included), because the engine sets process-wide torch state (its
seed, its thread count) while it runs: it waits for the cell to end
(`Prefetcher.pause_during_cells`).
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np

from surfaces import Surface

from ..optimizers import OptimizerSpec, SchedulerSpec
from ._cache import RunCache

log = logging.getLogger(__name__)

# Seconds the thread waits before its first run: the kernel first sends the change's
# picture and its idle status, and a burst of changes (a held key, the play button)
# starts no engine run that the next change would stop.
START_DELAY_S = 0.05
THREAD_NAME = "trajviz-prefetch"
# Notches each way the thread runs while idle (a run of 500 steps takes about 0.2 s here): a
# key press is one notch, a short drag (the sliders send their value when released) a few.
NOTCH_REACH = 3


def slider_notches(slider: widgets.FloatSlider | widgets.FloatLogSlider, reach: int = 1, *,
                   up_first: bool = False) -> list[float]:
    """The values ``slider`` takes 1, 2, ..., ``reach`` notches below and above its value,
    nearest first; at each distance the one below first (``up_first``: above first).

    As the front end's slider (noUiSlider) moves on arrow keys: by ``step`` each (for a
    log slider, in the exponent), snapped to the grid of steps from ``min``, within
    ``min..max``. Near an end there are fewer: each value appears once.
    """
    log_scale = isinstance(slider, widgets.FloatLogSlider)
    at = math.log(slider.value, slider.base) if log_scale else slider.value
    values: list[float] = []
    for k in range(1, reach + 1):
        ways = (k, -k) if up_first else (-k, k)
        for to in (at + way * slider.step for way in ways):
            notches = round((min(max(to, slider.min), slider.max) - slider.min) / slider.step)
            position = min(slider.min + notches * slider.step, slider.max)
            value = slider.base ** position if log_scale else position
            if not any(math.isclose(value, seen) for seen in (slider.value, *values)):
                values.append(value)
    return values


class Prefetcher:
    """Fills a `RunCache` from one background thread; a new `start` or `cancel` stops the
    last one first. Safe to drive from several threads (ipykernel 7 runs widget callbacks
    on a subshell's thread and cells on the main thread).

    Attributes:
        cache: the cache it fills.
        stored: how many runs it has put in the cache.
    """

    def __init__(self, cache: RunCache, *, delay: float = START_DELAY_S) -> None:
        self.cache = cache
        self.delay = delay
        self.stored = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one caller at a time starts or stops the thread
        self._job: tuple | None = None  # the last `start`'s arguments
        self._in_cell = False  # a notebook cell is running: `start` waits for its end

    def start(self, surface: Surface, specs: Sequence[OptimizerSpec], *, starts: np.ndarray,
              steps: int, scheduler: SchedulerSpec | None) -> None:
        """Runs each of ``specs`` in turn, as `RunCache.fill` does, after `delay` seconds
        (once the running cell, if any, has ended)."""
        with self._lock:
            self._end_thread()
            self._job = (surface, list(specs), starts, steps, scheduler)
            if not self._in_cell:
                self._launch()

    def _launch(self) -> None:
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(stop, *self._job),
                                        name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _fill(self, stop: threading.Event, surface: Surface, specs: list[OptimizerSpec],
              starts: np.ndarray, steps: int, scheduler: SchedulerSpec | None) -> None:
        if stop.wait(self.delay):
            return
        for spec in specs:
            if stop.is_set():
                return
            try:
                stored = self.cache.fill(surface, spec, starts=starts, steps=steps,
                                         scheduler=scheduler, stop=stop)
            except Exception:  # a change to these settings runs them and shows the error
                log.debug("prefetch of %s failed", spec.label, exc_info=True)
                continue
            self.stored += stored

    def cancel(self) -> None:
        """Stops the thread (within one optimizer step), waits for it to end, and forgets its
        runs."""
        with self._lock:
            self._end_thread()
            self._job = None

    def _end_thread(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def join(self) -> None:
        """Waits until the thread has stored or dropped every run it was given."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    @property
    def busy(self) -> bool:
        """Whether the thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    def pause_during_cells(self) -> None:
        """In IPython, keeps the thread off while a cell runs, from now (this is called from
        the cell that builds the explorer) to that cell's end, and then from each cell's
        start to its end: the engine sets process-wide torch state (the seed, the thread
        count) that the cell may use. A run stopped by a cell starts again after it (its
        finished runs are cached, so only the rest runs). Unregistered once this prefetcher
        is gone."""
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        if shell is None:
            return
        self._in_cell = True
        ref = weakref.ref(self)

        def cell_starts(*_: object) -> None:
            prefetcher = ref()
            if prefetcher is not None:
                prefetcher._set_in_cell(True)

        def cell_ended(*_: object) -> None:
            prefetcher = ref()
            if prefetcher is not None:
                prefetcher._set_in_cell(False)

        for event, callback in (("pre_run_cell", cell_starts), ("post_run_cell", cell_ended)):
            shell.events.register(event, callback)
            weakref.finalize(self, shell.events.unregister, event, callback)

    def _set_in_cell(self, running: bool) -> None:
        with self._lock:
            self._in_cell = running
            if running:
                self._end_thread()
            elif self._job is not None and self._thread is None:
                self._launch()
