"""Per-optimizer run cache: the explorer re-runs only the trajectories a change touches.

A cached `Run` holds one optimizer's trajectories from one start on one surface. Its key
leaves out the step count: the first ``k`` steps of a longer run are exactly a ``k``-step
run (the engine and every scheduler are causal), so a shorter request is a slice.

The cache may be filled from a background thread (`RunCache.fill`, the explorer's
prefetch): a lock guards its entries, and the engine runs outside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from surfaces import Surface

from ..engine import run as engine_run
from ..errors import Cancelled, UsageError
from ..optimizers import OptimizerSpec, SchedulerSpec
from ..run import ARRAYS, Run

log = logging.getLogger(__name__)

PER_STEP = ("grads", "updates", "lr", "evals")  # arrays with `steps` (not steps + 1) columns


@dataclass(frozen=True)
class Fetch:
    """What one `RunCache.get` did: the combined run, how many optimizers it re-ran, the
    engine's time, and the optimizers that could not run with torch's reason."""

    run: Run | None
    computed: int
    engine_s: float
    errors: dict[str, str]


def split_run(run: Run) -> list[Run]:
    """One `Run` per optimizer of ``run`` (each with all of that optimizer's starts)."""
    k = int(run.meta["n_starts"])
    pieces = []
    for i, opt in enumerate(run.meta["optimizers"]):
        rows = slice(i * k, (i + 1) * k)
        meta = {**run.meta, "optimizers": [opt], "labels": run.meta["labels"][rows]}
        pieces.append(Run(**{a: getattr(run, a)[rows] for a in ARRAYS}, meta=meta))
    return pieces


def truncate_run(run: Run, steps: int) -> Run:
    """The first ``steps`` steps of ``run``; divergence after them is forgotten."""
    if steps == run.steps:
        return run
    arrays = {a: getattr(run, a)[:, : steps + (a not in PER_STEP)]
              for a in ARRAYS if a != "diverged_at"}
    diverged = np.where(run.diverged_at > steps, -1, run.diverged_at)
    return Run(**arrays, diverged_at=diverged, meta={**run.meta, "steps": steps})


def concat_runs(runs: Sequence[Run]) -> Run:
    """Joins per-optimizer runs of the same surface, starts and steps into one `Run`."""
    if not runs:
        raise ValueError("concat_runs needs at least one run")
    meta = {**runs[0].meta,
            "optimizers": [o for r in runs for o in r.meta["optimizers"]],
            "labels": [lab for r in runs for lab in r.meta["labels"]]}
    arrays = {a: np.concatenate([getattr(r, a) for r in runs]) for a in ARRAYS}
    return Run(**arrays, meta=meta)


class RunCache:
    """Runs keyed by (surface, optimizer, starts, scheduler, dtype, device), least recently
    used first out. A miss for several optimizers is one batched engine call. Safe to use
    from two threads: a lock guards the entries, and no engine run holds it."""

    def __init__(self, *, max_entries: int = 256, device: str = "auto",
                 dtype: str = "float32") -> None:
        self.max_entries = max_entries
        self.device = device
        self.dtype = dtype
        self._runs: OrderedDict[tuple, Run] = OrderedDict()
        self._surfaces: dict[int, Surface] = {}  # keeps every keyed surface alive (ids stay unique)
        self._checked: OrderedDict[tuple, str | None] = OrderedDict()  # spec -> torch's reason
        self._lock = threading.RLock()
        self.engine_calls = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def _key(self, surface: Surface, spec: OptimizerSpec, starts: np.ndarray,
             scheduler: SchedulerSpec | None) -> tuple:
        self._surfaces.setdefault(id(surface), surface)
        sched = None if scheduler is None else (scheduler.name, repr(scheduler.kwargs))
        return (surface.spec, id(surface), spec.name, repr(spec.all_kwargs),
                starts.tobytes(), sched, self.dtype, self.device)

    def _cached(self, key: tuple, steps: int) -> Run | None:
        run = self._runs.get(key)
        return run if run is not None and run.steps >= steps else None

    def _store(self, fresh: dict[tuple, Run], used: Sequence[tuple]) -> None:
        """Adds ``fresh``, marks ``used`` as just used, and drops the least recently used
        entries beyond `max_entries`."""
        self._runs.update(fresh)
        for key in used:
            if key in self._runs:
                self._runs.move_to_end(key)
        while len(self._runs) > self.max_entries:
            self._runs.popitem(last=False)

    def check(self, spec: OptimizerSpec) -> str | None:
        """Why torch rejects ``spec`` (`OptimizerSpec.validate`), or ``None``. A built-in
        optimizer's verdict is kept: a change validates only the spec it touched."""
        key = (spec.name, repr(spec.all_kwargs))
        with self._lock:
            if key in self._checked:
                self._checked.move_to_end(key)
                return self._checked[key]
            try:
                spec.validate()
            except UsageError as e:
                reason: str | None = str(e)
            else:
                reason = None
            if not spec.user_code:  # a user's class may behave differently next time
                self._checked[key] = reason
                while len(self._checked) > 4 * self.max_entries:
                    self._checked.popitem(last=False)
            return reason

    def get(self, surface: Surface, specs: Sequence[OptimizerSpec], *, starts: np.ndarray,
            steps: int, scheduler: SchedulerSpec | None = None) -> Fetch:
        """The run of every spec (in order), computing only the missing or too-short ones.

        A spec torch rejects (``nesterov`` without momentum, a negative learning rate) is left
        out of the run and reported in `Fetch.errors` with torch's message.
        """
        starts = _as_starts(starts)
        errors: dict[str, str] = {}
        good: list[OptimizerSpec] = []
        with self._lock:
            for spec in specs:
                reason = self.check(spec)
                if reason is None:
                    good.append(spec)
                else:
                    errors[spec.label] = reason
            keys = [self._key(surface, s, starts, scheduler) for s in good]
            found = [self._cached(k, steps) for k in keys]
        missing = [i for i, run in enumerate(found) if run is None]
        t0 = time.perf_counter()
        fresh: dict[tuple, Run] = {}
        if missing:
            run = engine_run(surface, [good[i] for i in missing], steps=steps, starts=starts,
                             scheduler=scheduler, device=self.device, dtype=self.dtype,
                             progress=False)
            self.engine_calls += 1
            for i, piece in zip(missing, split_run(run), strict=True):
                found[i] = fresh[keys[i]] = piece
        engine_s = time.perf_counter() - t0
        with self._lock:
            self._store(fresh, keys)
        runs = [truncate_run(r, steps) for r in found if r is not None]
        combined = concat_runs(runs) if runs else None
        log.debug("cache: %d of %d optimizers re-run in %.3f s", len(missing), len(good),
                  engine_s)
        return Fetch(combined, len(missing), engine_s, errors)

    def fill(self, surface: Surface, spec: OptimizerSpec, *, starts: np.ndarray, steps: int,
             scheduler: SchedulerSpec | None = None, stop: threading.Event) -> bool:
        """Puts ``spec``'s run in the cache as `get` computes it on a miss for ``spec``
        alone (the same engine call), unless it is cached or torch rejects it. Once ``stop``
        is set the run ends within one step and nothing is stored. Returns whether a run
        was stored."""
        starts = _as_starts(starts)
        with self._lock:
            if self.check(spec) is not None:
                return False
            key = self._key(surface, spec, starts, scheduler)
            if self._cached(key, steps) is not None:
                return False
        try:
            run = engine_run(surface, [spec], steps=steps, starts=starts, scheduler=scheduler,
                             device=self.device, dtype=self.dtype, progress=False, cancel=stop)
        except Cancelled:
            return False
        with self._lock:
            if stop.is_set():  # stopped just after its last step: stopped all the same
                return False
            self._store({key: split_run(run)[0]}, [key])
        return True


def _as_starts(starts: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(starts, dtype=np.float64).reshape(-1, 2)
