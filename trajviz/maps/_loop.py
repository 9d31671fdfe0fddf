"""The lean step loop behind the maps: many exact runs reduced to what a map needs.

A map needs, per run, only where it ended, whether and when it diverged and when it
converged, not its history, so a chunk of runs is advanced by a `Stepper` (the engine's
exact batching) and reduced on the fly. A basin map's starts are one block of rows of one
spec; a sweep's settings are one block (a param group, or an optimizer per run) each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import UsageError
from ..optimizers import OptimizerSpec, SchedulerSpec
from ..stepper import Block, Stepper, all_fine, fine_rows, intra_op_threads

log = logging.getLogger(__name__)
LossFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ChunkResult:
    """What a map keeps of ``k`` runs (tensors on the CPU).

    Attributes:
        final: ``(k, 2)`` last finite position (where a diverged run was before it diverged).
        final_loss: ``(k,)`` the loss there.
        diverged_at: ``(k,)`` first step whose position, loss or gradient is non-finite or
            whose position is out of bounds, or -1 (the engine's definition).
        converged_at: ``(k,)`` first step from which the run stays within ``tol`` of the
            known minimum it ends at (or, on a surface without known minima, from which every
            update is at most ``tol`` long), or -1.
        minimum: ``(k,)`` index of the known minimum nearest to ``final``, or -1 (diverged,
            or no known minima).
    """

    final: Tensor
    final_loss: Tensor
    diverged_at: Tensor
    converged_at: Tensor
    minimum: Tensor


def check_scheduler(scheduler: SchedulerSpec | None) -> None:
    if scheduler is not None and scheduler.needs_metric:
        raise UsageError(f"{scheduler.label} steps on a loss shared by all the runs of an "
                         "optimizer, which would couple a map's independent runs; use a "
                         "step-based scheduler (steplr, cosineannealinglr, ...)")


def run_chunk(
    fn: LossFn,
    spec: OptimizerSpec,
    x0: Tensor,
    *,
    steps: int,
    kwargs: Sequence[dict[str, Any]] | None = None,
    scheduler: SchedulerSpec | None = None,
    minima: Tensor | None,
    tol: float,
    bound: float,
    tick: Callable[[], None] = lambda: None,
) -> ChunkResult:
    """Runs ``spec`` from each row of ``x0`` (``(k, 2)``) for ``steps`` steps.

    Args:
        kwargs: per-run hyperparameters overriding ``spec``'s (a sweep), or ``None`` when
            every run uses ``spec`` as it is (a basin map).
        minima: ``(M, 2)`` known minima on ``x0``'s device and dtype, or ``None``.
        tick: called after every step (a progress bar's update).
    """
    if kwargs is None:
        blocks = [Block(spec, slice(0, len(x0)))]
    else:
        blocks = [Block(spec.with_kwargs(**kw), slice(i, i + 1)) for i, kw in enumerate(kwargs)]
    with intra_op_threads(len(x0)):
        stepper = Stepper(fn, blocks, x0, scheduler=scheduler, bound=bound)
        tracker = _Tracker(x0, minima, tol, bound, steps)
        for t in range(steps + 1):
            loss, grad = stepper.evaluate(with_grad=t < steps)
            tracker.update(t, stepper.pos, loss, grad)
            if t < steps:
                stepper.step()
                tick()
        return tracker.result(fn)


class _Tracker:
    """Per-run divergence and convergence, updated with a few batched ops per step.

    Every op works on ``(k,)`` columns: reductions over a trailing dimension of 2 (``.all(-1)``,
    ``.sum(-1)``) and broadcasts to ``(k, M, 2)`` cost several times more on a CPU (measured
    in ``benchmarks/bench_maps.py``'s history). On CUDA nothing waits on the host.
    """

    def __init__(self, x0: Tensor, minima: Tensor | None, tol: float, bound: float,
                 steps: int) -> None:
        k = len(x0)
        self.tol2, self.bound, self.steps = tol * tol, bound, steps
        self.minima = None if minima is None else [(float(x), float(y)) for x, y in minima]
        self.sync = x0.device.type == "cpu"  # a host check per step is free on a CPU
        self.diverged_at = torch.full((k,), -1, dtype=torch.long, device=x0.device)
        self.last_good = x0.clone()
        self.prev = x0.clone()
        # last step at which the run was farther than tol from each minimum (or, without
        # minima, moved more than tol); it converged from the step after.
        width = len(self.minima) if self.minima is not None else 1
        self.last_out = torch.full((width, k), -1, dtype=torch.int32, device=x0.device)

    def update(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor | None) -> None:
        x, y = pos[:, 0], pos[:, 1]
        if not (self.sync and all_fine(pos, loss, grad, self.bound)):
            fresh = ~fine_rows(pos, loss, grad, self.bound) & (self.diverged_at < 0)
            if not self.sync:
                self.diverged_at.masked_fill_(fresh, t)
                self.last_good = torch.where(fresh[:, None], self.prev, self.last_good)
            elif fresh.any():
                self.diverged_at.masked_fill_(fresh, t)
                self.last_good[fresh] = self.prev[fresh]
        if self.minima is not None:
            for m, (mx, my) in enumerate(self.minima):
                d2 = (x - mx).square_().add_((y - my).square_())
                self.last_out[m].masked_fill_(d2 > self.tol2, t)
        else:
            px, py = self.prev[:, 0], self.prev[:, 1]
            d2 = (x - px).square_().add_((y - py).square_())
            self.last_out[0].masked_fill_(d2 > self.tol2, t)
        self.prev.copy_(pos)

    @torch.no_grad()
    def result(self, fn: LossFn) -> ChunkResult:
        alive = self.diverged_at < 0
        final = torch.where(alive[:, None], self.prev, self.last_good)
        final_loss = fn(final)
        if self.minima is not None:
            mins = torch.tensor(self.minima, dtype=final.dtype, device=final.device)
            x, y = final[:, 0:1], final[:, 1:2]
            d2 = (x - mins[:, 0]).square() + (y - mins[:, 1]).square()  # (k, M)
            dist2, idx = d2.min(-1)
            last = self.last_out.gather(0, idx[None])[0].long()
            converged = alive & (dist2 <= self.tol2)
            minimum = torch.where(alive, idx, -1)
        else:
            last = self.last_out[0].long()
            converged = alive & (last < self.steps)  # the last update was short, and all after
            minimum = torch.full_like(self.diverged_at, -1)
        converged_at = torch.where(converged, last + 1, -1)
        cpu = torch.device("cpu")
        return ChunkResult(final.to(cpu), final_loss.to(cpu), self.diverged_at.to(cpu),
                           converged_at.to(cpu), minimum.to(cpu))
