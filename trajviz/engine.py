"""The engine: many trajectories of real ``torch.optim`` optimizers, recorded step by step.

Batching and exactness live in `stepper.Stepper`; the engine lays the optimizers x starts
out as blocks of rows and records every step of `Stepper.walk`, with where each trajectory
diverged (`trajviz._divergence`).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from surfaces import Surface

from ._divergence import FirstBadStep, first_bad_steps
from ._settings import resolve_settings
from ._stepper import Block, Stepper, intra_op_threads
from .checks import check_memory
from .errors import Cancelled, UsageError, UsageTypeError
from .optimizers import OptimizerSpec, SchedulerSpec, parse_optimizers
from .run import Run

log = logging.getLogger(__name__)


def run(
    surface: Surface | str,
    optimizers: str | Sequence[str | OptimizerSpec],
    *,
    steps: int = 200,
    starts: Sequence[Sequence[float]] | np.ndarray | Tensor | None = None,
    scheduler: str | SchedulerSpec | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    seed: int = 0,
    bound: float | None = None,
    progress: bool | None = None,
    cancel: threading.Event | None = None,
) -> Run:
    """Runs every optimizer from every start for ``steps`` steps.

    Args:
        surface: a `Surface` or a spec such as ``"quadratic:kappa=50"``.
        optimizers: specs such as ``"sgd:lr=0.01,adam:lr=0.05"`` or a list of them.
        steps: optimizer steps per trajectory.
        starts: ``(k, 2)`` start points; the surface's teaching start by default.
        scheduler: an LR scheduler spec (``"steplr:step_size=50,gamma=0.5"``), one
            instance per optimizer, stepped after every optimizer step.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        dtype: ``float32`` or ``float64``.
        seed: seeds torch before the run (stochastic surfaces, random optimizers).
        bound: a trajectory diverges when a coordinate's magnitude exceeds this (default:
            1000 times the domain's extent) or any value turns non-finite.
        progress: show a progress bar (``None``: only on a terminal, after a moment).
        cancel: once set (from another thread), the run ends before its next step and
            raises `Cancelled` instead of returning.

    Returns:
        A `Run` with trajectory ``i = optimizer_index * len(starts) + start_index``.

    Example:
        >>> r = run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=100)
        >>> r.positions.shape
        (2, 101, 2)
    """
    if cancel is not None and not isinstance(cancel, threading.Event):
        raise UsageTypeError(f"cancel must be a threading.Event or None, got "
                             f"{type(cancel).__name__}")
    cfg = resolve_settings(surface, steps=steps, scheduler=scheduler, device=device,
                           dtype=dtype, seed=seed, bound=bound)
    steps, dt = cfg.steps, cfg.dtype
    specs = parse_optimizers(optimizers)
    x0 = _starts(cfg.surface, starts, cfg.device, dt)
    check_memory(f"a run of {len(specs) * len(x0)} trajectories x {steps} steps",
                 Run.nbytes(len(specs) * len(x0), steps, dt.itemsize))
    torch.manual_seed(cfg.seed)

    k = len(x0)
    blocks = [Block(spec, slice(i * k, (i + 1) * k)) for i, spec in enumerate(specs)]
    n = len(blocks) * k
    with intra_op_threads(n):
        stepper = Stepper(cfg.surface.fn, blocks, x0.repeat(len(specs), 1),
                          scheduler=cfg.scheduler, bound=cfg.bound)
        history = _History(n, steps, cfg.bound, cfg.device, dt)
        lrs: list[list[float]] = []
        for t, loss, grad in tqdm(stepper.walk(steps), total=steps + 1, desc=cfg.surface.name,
                                  unit="step", disable=_quiet(progress), delay=0.5,
                                  leave=False):
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"run cancelled at step {t} of {steps}")
            history.record(t, stepper.pos, loss, grad)
            if t:
                history.record_evals(t - 1, stepper.evals())
            if t < steps:
                lrs.append(stepper.block_lrs())
        diverged_at = history.finish()

    log.debug("run finished: %d trajectories, %d diverged", len(diverged_at),
              int((diverged_at >= 0).sum()))
    meta = {
        "labels": [label for s in specs for label in [s.label] * len(x0)],
        "optimizers": [s.describe() for s in specs],
        "n_starts": len(x0),
        "steps": steps,
        **cfg.provenance(),
    }
    lr = np.asarray(lrs, dtype=np.float64).T  # (blocks, steps)
    # one row per trajectory; a single block's rows share one read-only row of memory
    lr = np.broadcast_to(lr, (n, steps)) if len(blocks) == 1 else np.repeat(lr, k, axis=0)
    return history.to_run(diverged_at, lr, meta)


def _quiet(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _starts(surf: Surface, starts: object, dev: torch.device, dt: torch.dtype) -> Tensor:
    try:
        x0 = torch.as_tensor(surf.start if starts is None else starts, dtype=dt).to(dev)
    except (TypeError, ValueError, RuntimeError):
        raise UsageTypeError(f"starts must be (x, y) pairs of numbers, got {starts!r:.60}"
                             ) from None
    x0 = x0[None] if x0.shape == (2,) else x0  # one start
    if x0.ndim != 2 or x0.shape[1] != 2 or not len(x0) or not torch.isfinite(x0).all():
        raise UsageError(f"starts must be one or more finite (x, y) pairs, got shape "
                         f"{tuple(x0.shape)}")
    return x0


# Histories up to this many rows x steps are checked and differenced after the run, in a
# few whole-array operations; larger ones step by step, while each step is in cache.
STREAMED_ELEMENTS = 1 << 20


class _History:
    """Per-step records on the run's device, handed over to NumPy without copies on the CPU.

    A large history (gigabytes at N = 65,536) is checked for divergence and differenced
    into updates step by step, on each step's slice while it is still in cache: every
    extra pass over it, or temporary as large as it, costs another round of memory traffic
    and page faults. A small one is done after the run in a few operations, where a few
    more small operations per step would cost more. (Huge pages would fault less, but on
    the development machine a process's first request for them stalled 1.5 to 2 s at
    N = 65,536 while the kernel compacted memory.)
    """

    def __init__(self, n: int, steps: int, bound: float, dev: torch.device,
                 dt: torch.dtype) -> None:
        streamed = n * (steps + 1) > STREAMED_ELEMENTS
        take = _SPARE.take if streamed and dev.type == "cpu" else _fresh
        self._arrays: dict[str, np.ndarray | None] = {}
        for name, shape in (("pos", (steps + 1, n, 2)), ("loss", (steps + 1, n)),
                            ("grad", (steps, n, 2)), ("updates", (steps, n, 2))):
            tensor, self._arrays[name] = take(shape, dt, dev)
            setattr(self, name, tensor)
        self.bound = bound
        # a streamed history is checked step by step, any other in `finish`
        self.divergence = FirstBadStep(n, bound, dev) if streamed else None
        self._evals: Tensor | None = None  # only closure optimizers take other than one

    def record_evals(self, t: int, evals: dict[int, int]) -> None:
        """The loss evaluations step ``t`` took, by row (rows not named took one)."""
        if not evals:
            return
        if self._evals is None:
            self._evals = torch.ones(self.grad.shape[:2], dtype=torch.int32)
        for row, count in evals.items():
            self._evals[t, row] = count

    def record(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor | None) -> None:
        self.pos[t] = pos
        self.loss[t] = loss
        if grad is not None:
            self.grad[t] = grad
        if self.divergence is None:
            return
        if t:
            torch.sub(pos, self.pos[t - 1], out=self.updates[t - 1])
        self.divergence.update(t, pos, loss, grad)

    def finish(self) -> Tensor:
        """Each trajectory's first step that breaks the divergence rule, or -1."""
        if self.divergence is not None:
            return self.divergence.at
        torch.sub(self.pos[1:], self.pos[:-1], out=self.updates)
        return first_bad_steps(self.pos, self.loss, self.grad, self.bound)

    def to_run(self, diverged_at: Tensor, lr: np.ndarray, meta: dict) -> Run:
        """The records, with everything from a trajectory's divergence on set to NaN."""
        cols = torch.nonzero(diverged_at >= 0).flatten()
        if len(cols):  # only the diverged trajectories' columns are touched
            steps = torch.arange(len(self.pos), device=cols.device)[:, None]
            dead = steps >= diverged_at[cols]  # (steps + 1, diverged)
            nan = float("nan")
            self.pos[:, cols] = self.pos[:, cols].masked_fill(dead[..., None], nan)
            self.loss[:, cols] = self.loss[:, cols].masked_fill(dead, nan)
            self.grad[:, cols] = self.grad[:, cols].masked_fill(dead[:-1, :, None], nan)
            self.updates[:, cols] = self.updates[:, cols].masked_fill(dead[1:, :, None], nan)

        def numpy(name: str) -> np.ndarray:  # (steps, n, ...) -> a (n, steps, ...) view
            own = self._arrays[name]
            return (getattr(self, name).cpu().numpy() if own is None else own).swapaxes(0, 1)

        evals = (np.broadcast_to(np.int32(1), lr.shape) if self._evals is None
                 else self._evals.T.numpy())
        return Run(
            positions=numpy("pos"),
            loss=numpy("loss"),
            grads=numpy("grad"),
            updates=numpy("updates"),
            lr=lr,
            diverged_at=diverged_at.cpu().numpy(),
            evals=evals,
            meta=meta,
        )


def _fresh(shape: tuple[int, ...], dt: torch.dtype, dev: torch.device
           ) -> tuple[Tensor, None]:
    return torch.empty(shape, dtype=dt, device=dev), None


class _Spare:
    """The buffers of the last large histories on the CPU, lent again to the next run of
    the same shape once no array of the run that had them is alive.

    Fresh memory costs a page fault every 4 kB on first touch: about 0.1 s for each
    quarter gigabyte of a history here, a third of a large run. A buffer is lent as a
    tensor with the NumPy array that every array of the run is a view of; while any such
    view lives (the run, a slice of it, a tensor made from one), that array's reference
    count says so and the buffer is not lent. The last `KEEP` buffers are kept.
    """

    KEEP = 8  # two histories' worth: one a user holds, and the next

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[tuple[tuple, Tensor, np.ndarray]] = []  # oldest first

    def take(self, shape: tuple[int, ...], dt: torch.dtype, dev: torch.device
             ) -> tuple[Tensor, np.ndarray]:
        key = (shape, dt)
        with self._lock:
            for i, entry in enumerate(self._kept):
                # references: the entry and getrefcount's argument; any more is a view
                if entry[0] == key and sys.getrefcount(entry[2]) == 2:
                    self._kept.append(self._kept.pop(i))
                    return entry[1], entry[2]
            tensor = torch.empty(shape, dtype=dt, device=dev)
            self._kept.append((key, tensor, tensor.numpy()))
            del self._kept[:-self.KEEP]
            return tensor, self._kept[-1][2]

    def clear(self) -> None:
        """Drops the kept buffers (their memory goes once no run uses it)."""
        with self._lock:
            self._kept.clear()


_SPARE = _Spare()
