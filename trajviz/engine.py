"""The engine: many trajectories of real ``torch.optim`` optimizers, recorded step by step.

Batching and exactness live in `stepper.Stepper`; the engine lays the optimizers x starts
out as blocks of rows, records every step, and finds where trajectories diverged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from surfaces import Surface

from .checks import check_memory, number
from .checks import seed as check_seed
from .errors import UsageError, UsageTypeError
from .optimizers import OptimizerSpec, SchedulerSpec, as_scheduler, parse_optimizers
from .provenance import provenance
from .resolve import resolve_device, resolve_dtype, resolve_surface
from .run import Run
from .stepper import Block, Stepper, default_bound

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

    Returns:
        A `Run` with trajectory ``i = optimizer_index * len(starts) + start_index``.

    Example:
        >>> r = run("rosenbrock", "sgd:lr=1e-3,adam:lr=0.05", steps=100)
        >>> r.positions.shape
        (2, 101, 2)
    """
    steps = number(steps, "steps", integer=True, lo=1)
    check_seed(seed)
    surf = resolve_surface(surface)
    specs = parse_optimizers(optimizers)
    sched = as_scheduler(scheduler)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    x0 = _starts(surf, starts, dev, dt)
    check_memory(f"a run of {len(specs) * len(x0)} trajectories x {steps} steps",
                 Run.nbytes(len(specs) * len(x0), steps, dt.itemsize))
    bound = default_bound(surf) if bound is None else number(bound, "bound", lo=0, lo_open=True)
    torch.manual_seed(seed)

    k = len(x0)
    blocks = [Block(spec, slice(i * k, (i + 1) * k)) for i, spec in enumerate(specs)]
    stepper = Stepper(surf.fn, blocks, x0.repeat(len(specs), 1), scheduler=sched, bound=bound)
    history = _History(len(blocks) * k, steps, dev, dt)
    lrs: list[list[float]] = []
    for t in tqdm(range(steps + 1), desc=f"{surf.name}", unit="step", disable=_quiet(progress),
                  delay=0.5, leave=False):
        loss, grad = stepper.evaluate(with_grad=t < steps)
        history.record(t, stepper.pos, loss, grad)
        if t < steps:
            lrs.append(stepper.block_lrs())
            stepper.step()
            for row, evals in stepper.evals().items():
                history.evals[t, row] = evals
    diverged_at = history.first_bad(bound)

    log.debug("run finished: %d trajectories, %d diverged", len(diverged_at),
              int((diverged_at >= 0).sum()))
    meta = {
        "labels": [label for s in specs for label in [s.label] * len(x0)],
        "optimizers": [s.describe() for s in specs],
        "n_starts": len(x0),
        "steps": steps,
        **provenance(surf, scheduler=sched, seed=seed, dtype=dt, device=dev, bound=bound),
    }
    lr_per_block = torch.tensor(lrs, dtype=torch.float64)  # (steps, blocks)
    history.lr[:] = lr_per_block.repeat_interleave(k, dim=1)
    return history.to_run(diverged_at, meta)


def _quiet(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _starts(surf: Surface, starts: object, dev: torch.device, dt: torch.dtype) -> Tensor:
    try:
        x0 = torch.as_tensor(surf.start if starts is None else starts, dtype=dt).to(dev)
    except (TypeError, ValueError, RuntimeError):
        raise UsageTypeError(f"starts must be (x, y) pairs of numbers, got {starts!r:.60}"
                             ) from None
    x0 = x0.reshape(-1, 2) if x0.numel() % 2 == 0 and x0.numel() else x0
    if x0.ndim != 2 or x0.shape[1] != 2 or not len(x0) or not torch.isfinite(x0).all():
        raise UsageError(f"starts must be one or more finite (x, y) pairs, got shape "
                         f"{tuple(x0.shape)}")
    return x0


class _History:
    """Preallocated per-step records on the run's device, copied to NumPy once at the end."""

    def __init__(self, n: int, steps: int, dev: torch.device, dt: torch.dtype) -> None:
        self.pos = torch.empty(steps + 1, n, 2, dtype=dt, device=dev)
        self.loss = torch.empty(steps + 1, n, dtype=dt, device=dev)
        self.grad = torch.empty(steps, n, 2, dtype=dt, device=dev)
        self.lr = torch.empty(steps, n, dtype=torch.float64)
        self.evals = torch.ones(steps, n, dtype=torch.int32)

    def record(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor | None) -> None:
        self.pos[t] = pos
        self.loss[t] = loss
        if grad is not None:
            self.grad[t] = grad

    def first_bad(self, bound: float) -> Tensor:
        """Each trajectory's first step with a non-finite loss or gradient or a coordinate
        beyond ``bound`` (NaN fails that test too), or -1."""
        bad = ~(torch.isfinite(self.loss) & (self.pos.abs().amax(-1) <= bound))
        bad[:-1] |= ~torch.isfinite(self.grad).all(-1)
        first = bad.to(torch.uint8).argmax(0)
        return torch.where(bad.any(0), first, -1)

    def to_run(self, diverged_at: Tensor, meta: dict) -> Run:
        """The records, with everything from a trajectory's divergence on set to NaN."""
        steps = torch.arange(len(self.pos), device=diverged_at.device)[:, None]
        dead = (diverged_at >= 0) & (steps >= diverged_at)
        nan = float("nan")
        pos = self.pos.masked_fill_(dead[..., None], nan)

        def numpy(x: Tensor) -> np.ndarray:  # (steps, n, ...) -> a (n, steps, ...) view
            return x.cpu().numpy().swapaxes(0, 1)

        return Run(
            positions=numpy(pos),
            loss=numpy(self.loss.masked_fill_(dead, nan)),
            grads=numpy(self.grad.masked_fill_(dead[:-1, :, None], nan)),
            updates=numpy(pos[1:] - pos[:-1]),
            lr=self.lr.T.numpy(),
            diverged_at=diverged_at.cpu().numpy(),
            evals=self.evals.T.numpy(),
            meta=meta,
        )
