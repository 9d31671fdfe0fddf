"""`Stepper`: many exact runs of real ``torch.optim`` optimizers, advanced together.

Every run's parameter is a view into one ``(n, 2)`` position buffer and its ``.grad`` a
view into one gradient buffer, so one batched forward and backward pass gives every run its
loss and gradient, and each optimizer's in-place update lands in the buffer.

The batching rule: trajectories of an element-wise optimizer (see
`optimizers.ELEMENTWISE`; each element's update depends only on its own gradient history)
share one optimizer, a param group per block of rows with that block's own
hyperparameters. The sum of independent surface values gives each row its own gradient,
so every row moves exactly as if it were alone. Any other optimizer (LBFGS's line search,
Adafactor's RMS scaling, a user's class) gets one instance per run, which is exact for
every update rule; closure optimizers get a closure over their own run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from surfaces import SurfaceFn

from ._divergence import point_in_bounds
from ._threads import torch_threads
from .checks import check_memory
from .optimizers import OptimizerSpec, SchedulerSpec, torch_refused

# Elements per intra-op thread: below this an operation's share is a few tens of
# microseconds, and a parallel region costs more than it saves; on a busy machine every
# region also waits for its slowest thread, which the scheduler may have put aside.
ELEMENTS_PER_THREAD = 1 << 18


@contextmanager
def intra_op_threads(rows: int) -> Iterator[int]:
    """Runs the body with as many CPU threads as the step's ``(rows, 2)`` operations can
    use well (at most torch's current number), and restores the setting after."""
    with torch_threads(max(1, min(torch.get_num_threads(), 2 * rows // ELEMENTS_PER_THREAD))
                       ) as threads:
        yield threads


@dataclass(frozen=True)
class Block:
    """Consecutive runs that share one optimizer spec (hyperparameters included)."""

    spec: OptimizerSpec
    rows: slice


@dataclass
class _PerRun:
    """One optimizer for one run (row), which stops when its run diverges."""

    optimizer: Optimizer
    row: int
    closure: Callable[[], Tensor] | None = None
    evals: int = 0
    stopped: bool = False


class Stepper:
    """Advances runs ``x0[i]`` (``(n, 2)``), block by block, one optimizer step at a time.

    `walk` is the one step loop: the engine records what it yields, the maps reduce it.

    Args:
        fn: the surface's loss of each point, ``(n, 2) -> (n,)``.
        blocks: which spec moves which rows; together they cover ``0..n`` in order.
        x0: start points.
        scheduler: one LR scheduler per optimizer, stepped after each step.
        bound: the divergence bound (finite); a per-run optimizer stops at a point beyond
            it (`trajviz._divergence.point_in_bounds`).
    """

    def __init__(self, fn: SurfaceFn, blocks: Sequence[Block], x0: Tensor, *,
                 scheduler: SchedulerSpec | None = None, bound: float) -> None:
        self.fn, self.blocks, self.bound = fn, list(blocks), bound
        check_memory("the optimizers' state", sum(
            b.spec.state_bytes() * (1 if b.spec.elementwise else b.rows.stop - b.rows.start)
            for b in self.blocks))
        self.pos = x0.clone()
        self.grad = torch.zeros_like(self.pos)
        self.shared: list[Optimizer] = []  # element-wise: a param group per block
        self.per_run: list[_PerRun] = []
        self._lr_groups: list[dict] = []  # each block's param group (its lr moves there)
        by_class: dict[type, int] = {}
        for block in self.blocks:
            spec = block.spec
            if spec.elementwise:
                p = self._leaf(block.rows)
                k = by_class.get(spec.cls)
                if k is None:
                    by_class[spec.cls] = k = len(self.shared)
                    self.shared.append(spec.build([p]))
                else:  # the group takes all of this spec's settings, not the first spec's
                    own = spec.build([torch.zeros(2, requires_grad=True)]).defaults
                    self.shared[k].add_param_group({**own, "params": [p]})
                self._lr_groups.append(self.shared[k].param_groups[-1])
            else:
                for row in range(block.rows.start, block.rows.stop):
                    p = self._leaf(row)
                    run = _PerRun(spec.build([p]), row)
                    if spec.needs_closure:
                        run.closure = self._closure(run, p)
                    self.per_run.append(run)
                self._lr_groups.append(self.per_run[-1].optimizer.param_groups[0])
        self.optimizers = self.shared + [r.optimizer for r in self.per_run]
        self.schedulers = [scheduler.build(o) for o in self.optimizers] if scheduler else []
        self.steps_taken = 0
        labels = list(dict.fromkeys(b.spec.label for b in self.blocks))
        more = f" and {len(labels) - 3} more settings" if len(labels) > 4 else ""
        self._names = ", ".join(labels[:3] if more else labels) + more + (
            f" with scheduler {scheduler.label}" if scheduler else "")

    def _leaf(self, rows: slice | int) -> Tensor:
        """A leaf parameter sharing the position buffer's storage, with a view of the
        gradient buffer as its ``.grad``."""
        p = self.pos[rows].detach().requires_grad_(True)
        p.grad = self.grad[rows]
        return p

    def _closure(self, run: _PerRun, p: Tensor) -> Callable[[], Tensor]:
        def closure() -> Tensor:
            run.evals += 1
            run.optimizer.zero_grad()
            loss = self.fn(p)
            loss.backward()
            return loss

        return closure

    def walk(self, steps: int) -> Iterator[tuple[int, Tensor, Tensor | None]]:
        """Yields ``(t, loss, grad)`` at every step ``t`` from 0 to ``steps`` (`evaluate`;
        no gradient at the last), and takes step ``t`` when asked for the next. While the
        caller holds step ``t``, `pos` is its position, `block_lrs` the learning rates
        step ``t`` will use and `evals` the evaluations step ``t - 1`` took."""
        for t in range(steps + 1):
            loss, grad = self.evaluate(with_grad=t < steps)
            yield t, loss, grad
            if t < steps:
                self.step()

    def evaluate(self, *, with_grad: bool = True) -> tuple[Tensor, Tensor | None]:
        """Every run's loss ``(n,)`` and gradient ``(n, 2)`` at the current positions, from
        one batched pass; the gradient also lands in the optimizers' ``.grad``."""
        x = self.pos.detach().requires_grad_(with_grad)
        with torch.enable_grad():
            loss = self.fn(x)
            g = torch.autograd.grad(loss.sum(), x)[0] if with_grad else None
        if g is not None:
            self.grad.copy_(g)
        return loss.detach(), g

    def step(self) -> None:
        """One step of every optimizer. A per-run optimizer stops at its run's first
        non-finite or out-of-bounds position, where a line search could spin on NaN.
        torch refusing the settings mid-run (a scheduler's factor of 0, a learning rate
        that overflows the dtype) is a `UsageError` naming them."""
        self.steps_taken += 1
        with torch_refused(f"{self._names}, step {self.steps_taken}"):
            self._step()

    def _step(self) -> None:
        for opt in self.shared:
            opt.step()
        for run in self.per_run:
            run.evals = 0
            if run.stopped:
                continue
            if run.closure is not None:
                run.optimizer.step(run.closure)
            else:
                run.optimizer.step()
                run.evals = 1
            run.stopped = not point_in_bounds(self.pos[run.row], self.bound)
        for sched in self.schedulers:
            if isinstance(sched, ReduceLROnPlateau):  # on the sum of its own runs' losses
                sched.step(self._metric(sched.optimizer))
            else:
                sched.step()

    def _metric(self, optimizer: Optimizer) -> float:
        params = [p.detach().reshape(-1, 2) for g in optimizer.param_groups for p in g["params"]]
        return float(self.fn(torch.cat(params)).nansum())

    def block_lrs(self) -> list[float]:
        """The learning rate each block's runs use now."""
        return [float(g["lr"]) for g in self._lr_groups]

    def evals(self) -> dict[int, int]:
        """Loss evaluations of the last step, for runs with a closure optimizer."""
        return {r.row: r.evals for r in self.per_run if r.closure is not None}
