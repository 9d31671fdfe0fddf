"""The engine: many trajectories of real ``torch.optim`` optimizers, advanced in batches.

Trajectories of an element-wise optimizer (see `optimizers.ELEMENTWISE`) share one
``(n_starts, 2)`` parameter tensor: the loss is the *sum* of the independent surface
values, so each row's gradient is its own, and the optimizer's per-element update moves
each row exactly as if it were alone. Hyperparameter variants of one class become param
groups of one optimizer. Any other optimizer gets one instance per trajectory, which is
exact for every update rule. Closure optimizers (LBFGS) get their own closure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau
from tqdm.auto import tqdm

from surfaces import Surface

from . import __version__
from .errors import UsageError
from .optimizers import OptimizerSpec, SchedulerSpec, parse_optimizers, parse_scheduler
from .resolve import resolve_device, resolve_dtype, resolve_surface
from .run import Run

log = logging.getLogger(__name__)
LossFn = Callable[[Tensor], Tensor]


@dataclass
class _Slot:
    """One optimizer instance (and scheduler) and the trajectory rows it moves."""

    optimizer: Optimizer
    params: list[Tensor]  # each (k, 2) for element-wise slots, or one (2,) tensor
    rows: list[slice]  # rows of the run owned by each param tensor
    scheduler: object | None = None
    closure: bool = False
    evals: int = 0
    stopped: bool = False  # a per-trajectory slot whose trajectory diverged

    @property
    def index(self) -> Tensor:
        """The run's row indices of every trajectory this slot moves, in param order."""
        return torch.cat([torch.arange(r.start, r.stop) for r in self.rows])

    def lr_per_row(self) -> Tensor:
        groups = self.optimizer.param_groups  # one group (one tensor) per rows slice
        return torch.cat([torch.full((r.stop - r.start,), float(g["lr"]), dtype=torch.float64)
                          for g, r in zip(groups, self.rows, strict=True)])


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
    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    surf = resolve_surface(surface)
    specs = parse_optimizers(optimizers)
    sched = parse_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    x0 = _starts(surf, starts, dev, dt)
    if bound is None:
        bound = 1000.0 * max(hi - lo for lo, hi in surf.domain)
    torch.manual_seed(seed)

    slots = _build_slots(specs, x0, sched)
    n = len(specs) * len(x0)
    history = _History(n, steps, dev, dt)
    alive = torch.ones(n, dtype=torch.bool, device=dev)
    diverged_at = torch.full((n,), -1, dtype=torch.long, device=dev)
    last_good = x0.repeat(len(specs), 1)

    for t in tqdm(range(steps + 1), desc=f"{surf.name}", unit="step", disable=_quiet(progress),
                  delay=0.5, leave=False):
        pos, loss, grad = _evaluate(surf.fn, slots, n, dev, dt, with_grad=t < steps)
        bad = ~(torch.isfinite(pos).all(-1) & torch.isfinite(loss)
                & (pos.abs() <= bound).all(-1))
        if t < steps:
            bad |= ~torch.isfinite(grad).all(-1)
        new_bad = bad & alive
        if new_bad.any():
            diverged_at[new_bad] = t
            alive &= ~bad
        history.record(t, pos, loss, grad, alive)
        last_good = torch.where(alive[:, None], pos, last_good)
        if t == steps:
            break
        _step(surf.fn, slots, history, t, alive, last_good)

    log.debug("run finished: %d trajectories, %d diverged", n, int((diverged_at >= 0).sum()))
    meta = {
        "surface": surf.spec,
        "surface_name": surf.name,
        "labels": [s.label for s in specs for _ in range(len(x0))],
        "optimizers": [s.describe() for s in specs],
        "n_starts": len(x0),
        "starts": x0.cpu().tolist(),
        "steps": steps,
        "scheduler": sched.label if sched else None,
        "seed": seed,
        "dtype": str(dt).removeprefix("torch."),
        "device": str(dev),
        "bound": bound,
        "torch_version": torch.__version__,
        "trajviz_version": __version__,
    }
    return history.to_run(diverged_at, meta)


def _quiet(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _starts(surf: Surface, starts: object, dev: torch.device, dt: torch.dtype) -> Tensor:
    x0 = torch.as_tensor(surf.start if starts is None else starts, dtype=dt).to(dev)
    x0 = x0.reshape(-1, 2) if x0.numel() % 2 == 0 and x0.numel() else x0
    if x0.ndim != 2 or x0.shape[1] != 2 or not torch.isfinite(x0).all():
        raise UsageError(f"starts must be finite (x, y) pairs, got shape {tuple(x0.shape)}")
    return x0


def _build_slots(specs: list[OptimizerSpec], x0: Tensor, sched: SchedulerSpec | None
                 ) -> list[_Slot]:
    """Element-wise specs of one class share an optimizer (a param group each); the rest
    get one optimizer per trajectory."""
    k = len(x0)
    slots: list[_Slot] = []
    shared: dict[type, _Slot] = {}
    for i, spec in enumerate(specs):
        rows = slice(i * k, (i + 1) * k)
        if spec.elementwise:
            p = x0.clone().requires_grad_(True)
            slot = shared.get(spec.cls)
            if slot is None:
                slot = shared[spec.cls] = _Slot(spec.build([p]), [p], [rows])
                slots.append(slot)
            else:
                slot.optimizer.add_param_group({"params": [p], **spec.all_kwargs})
                slot.params.append(p)
                slot.rows.append(rows)
        else:
            for j in range(k):
                p = x0[j].clone().requires_grad_(True)
                slots.append(_Slot(spec.build([p]), [p], [slice(i * k + j, i * k + j + 1)],
                                   closure=spec.needs_closure))
    for slot in slots:
        slot.scheduler = sched.build(slot.optimizer) if sched else None
    if sched and sched.needs_metric:
        log.info("%s steps on the sum of each optimizer's trajectory losses", sched.label)
    return slots


def _evaluate(fn: LossFn, slots: list[_Slot], n: int, dev: torch.device, dt: torch.dtype,
              *, with_grad: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Position, loss and gradient of every trajectory, in one batched forward pass."""
    params = [p for s in slots for p in s.params]
    rows = [r for s in slots for r in s.rows]
    for p in params:
        p.grad = None
    leaves = [p.reshape(-1, 2) for p in params]
    pos = torch.empty(n, 2, dtype=dt, device=dev)
    loss = torch.empty(n, dtype=dt, device=dev)
    grad = torch.zeros(n, 2, dtype=dt, device=dev)
    with torch.enable_grad():
        values = fn(torch.cat(leaves))
        if with_grad:
            values.sum().backward()
    values = values.detach()
    offset = 0
    for p, r, leaf in zip(params, rows, leaves, strict=True):
        m = leaf.shape[0]
        pos[r] = leaf.detach()
        loss[r] = values[offset:offset + m]
        if with_grad:
            grad[r] = p.grad.reshape(-1, 2)
        offset += m
    return pos, loss, grad


def _step(fn: LossFn, slots: list[_Slot], history: _History, t: int, alive: Tensor,
          last_good: Tensor) -> None:
    """One optimizer step of every slot; diverged rows are parked at their last good
    position with a zero gradient so they cannot disturb the run (their records are NaN)."""
    parked = not bool(alive.all())
    for slot in slots:
        history.lr[t, slot.index] = slot.lr_per_row()
        if slot.stopped:
            continue
        if parked:
            for p, r in zip(slot.params, slot.rows, strict=True):
                dead = ~alive[r]
                if dead.any():
                    if p.ndim == 1:  # a per-trajectory optimizer simply stops
                        slot.stopped = True
                        break
                    with torch.no_grad():
                        p[dead] = last_good[r][dead]
                        p.grad[dead] = 0
            if slot.stopped:
                continue
        if slot.closure:
            slot.optimizer.step(_closure(fn, slot))
            history.evals[t, slot.index] = slot.evals
        else:
            slot.optimizer.step()
        if slot.scheduler is not None:
            if isinstance(slot.scheduler, ReduceLROnPlateau):
                slot.scheduler.step(float(fn(slot.params[0]).sum()))
            else:
                slot.scheduler.step()


def _closure(fn: LossFn, slot: _Slot) -> Callable[[], Tensor]:
    slot.evals = 0
    (p,) = slot.params

    def closure() -> Tensor:
        slot.evals += 1
        slot.optimizer.zero_grad()
        loss = fn(p)
        loss.backward()
        return loss

    return closure


class _History:
    """Preallocated per-step records on the run's device, copied to NumPy once at the end."""

    def __init__(self, n: int, steps: int, dev: torch.device, dt: torch.dtype) -> None:
        self.pos = torch.empty(steps + 1, n, 2, dtype=dt, device=dev)
        self.loss = torch.empty(steps + 1, n, dtype=dt, device=dev)
        self.grad = torch.empty(steps, n, 2, dtype=dt, device=dev)
        self.lr = torch.empty(steps, n, dtype=torch.float64)
        self.evals = torch.ones(steps, n, dtype=torch.int32)

    def record(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor, alive: Tensor) -> None:
        nan = torch.tensor(float("nan"), dtype=pos.dtype, device=pos.device)
        self.pos[t] = torch.where(alive[:, None], pos, nan)
        self.loss[t] = torch.where(alive, loss, nan)
        if t < len(self.grad):
            self.grad[t] = torch.where(alive[:, None], grad, nan)

    def to_run(self, diverged_at: Tensor, meta: dict) -> Run:
        pos = self.pos.transpose(0, 1).cpu().numpy()
        return Run(
            positions=pos,
            loss=self.loss.T.cpu().numpy(),
            grads=self.grad.transpose(0, 1).cpu().numpy(),
            updates=np.diff(pos, axis=1),
            lr=self.lr.T.numpy(),
            diverged_at=diverged_at.cpu().numpy(),
            evals=self.evals.T.numpy(),
            meta=meta,
        )

