"""The lean step loop behind the maps: many exact runs reduced to what a map needs.

A map needs, per run, only where it ended, whether and when it diverged and when it
converged, not its history, so a chunk of runs is advanced with the real ``torch.optim``
optimizers and reduced on the fly. The batching rule is the engine's
(`OptimizerSpec.elementwise`):

* ``shared``: one element-wise optimizer over one ``(k, 2)`` tensor (a basin map's starts);
* ``grouped``: one element-wise optimizer with a param group per run (a sweep's settings);
* ``per_run``: any other optimizer, one instance per run (exact for every update rule).

Every run's parameter is a view into one ``(k, 2)`` position buffer and its ``.grad`` a view
into one gradient buffer, so the loss and gradient of all runs come from one batched
forward and backward pass, and nothing is concatenated or split per step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from ..errors import UsageError
from ..optimizers import OptimizerSpec, SchedulerSpec

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
    pos = x0.clone()
    grad = torch.zeros_like(pos)
    optimizers, closures = _build(fn, spec, pos, grad, kwargs)
    per_run = not spec.elementwise
    schedulers = [scheduler.build(o) for o in optimizers] if scheduler else []
    tracker = _Tracker(x0, minima, tol, bound, steps)
    for t in range(steps + 1):
        x = pos.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = fn(x)
            g = torch.autograd.grad(loss.sum(), x)[0] if t < steps else None
        tracker.update(t, pos, loss.detach(), g)
        if t == steps:
            break
        grad.copy_(g)
        if not per_run:
            optimizers[0].step()
        else:  # one optimizer per run: like the engine, a diverged run's optimizer stops
            dead = (tracker.diverged_at >= 0).tolist()
            for i, opt in enumerate(optimizers):
                if not dead[i]:
                    opt.step(closures[i]) if closures else opt.step()
        for sched in schedulers:
            sched.step()
        tick()
    return tracker.result(fn)


def _leaf(view: Tensor, grad: Tensor) -> Tensor:
    """A leaf parameter sharing ``view``'s storage, with ``grad`` as its ``.grad``: the
    optimizer's in-place update lands in the position buffer."""
    p = view.detach().requires_grad_(True)
    p.grad = grad
    return p


def _build(fn: LossFn, spec: OptimizerSpec, pos: Tensor, grad: Tensor,
           kwargs: Sequence[dict[str, Any]] | None
           ) -> tuple[list[Optimizer], list[Callable[[], Tensor]] | None]:
    if spec.elementwise and kwargs is None:
        return [spec.build([_leaf(pos, grad)])], None
    params = [_leaf(pos[i], grad[i]) for i in range(len(pos))]
    if spec.elementwise:  # param groups; torch fills each group's unset keys from defaults
        groups = [{"params": [p], **kw} for p, kw in zip(params, kwargs, strict=True)]
        return [spec.build(groups)], None
    rows = kwargs if kwargs is not None else [{}] * len(params)
    optimizers = [spec.with_kwargs(**kw).build([p]) for p, kw in zip(params, rows, strict=True)]
    if not spec.needs_closure:
        return optimizers, None
    return optimizers, [_closure(fn, p, o) for p, o in zip(params, optimizers, strict=True)]


def _closure(fn: LossFn, p: Tensor, opt: Optimizer) -> Callable[[], Tensor]:
    """The engine's closure: the run's own loss and gradient, for LBFGS-like optimizers."""

    def closure() -> Tensor:
        opt.zero_grad()
        loss = fn(p)
        loss.backward()
        return loss

    return closure


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
        ok = torch.isfinite(loss) & (x.abs() <= self.bound) & (y.abs() <= self.bound)
        if grad is not None:
            ok &= torch.isfinite(grad[:, 0]) & torch.isfinite(grad[:, 1])
        fresh = ~ok & (self.diverged_at < 0)
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
