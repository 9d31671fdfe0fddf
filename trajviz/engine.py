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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

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

    lr_log: list[list[float]] = field(default_factory=list)  # per step, per param group
    evals_log: list[int] = field(default_factory=list)  # closure calls per step

    def log_lr(self) -> None:
        self.lr_log.append([float(g["lr"]) for g in self.optimizer.param_groups])

    def lr_rows(self) -> Iterator[tuple[slice, np.ndarray]]:
        """Each rows slice (one per param group) with its lr at every step."""
        lrs = np.asarray(self.lr_log, dtype=np.float64)
        for j, rows in enumerate(self.rows):
            yield rows, lrs[:, j]


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

    for t in tqdm(range(steps + 1), desc=f"{surf.name}", unit="step", disable=_quiet(progress),
                  delay=0.5, leave=False):
        _evaluate(surf.fn, slots, *history.at(t))
        if t < steps:
            _step(surf.fn, slots, bound)
    diverged_at = history.first_bad(bound)

    log.debug("run finished: %d trajectories, %d diverged", n, int((diverged_at >= 0).sum()))
    meta = {
        "surface": surf.spec,
        "surface_name": surf.name,
        "labels": [label for s in specs for label in [s.label] * len(x0)],
        "optimizers": [s.describe() for s in specs],
        "n_starts": len(x0),
        "steps": steps,
        "scheduler": sched.label if sched else None,
        "seed": seed,
        "dtype": str(dt).removeprefix("torch."),
        "device": str(dev),
        "bound": bound,
        "torch_version": torch.__version__,
        "trajviz_version": __version__,
    }
    for slot in slots:
        for rows, lrs in slot.lr_rows():
            history.lr[:, rows] = torch.from_numpy(lrs)[:, None]
        if slot.evals_log:
            history.evals[: len(slot.evals_log), slot.rows[0]] = torch.tensor(
                slot.evals_log, dtype=torch.int32)[:, None]
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
            else:  # the group takes all of this spec's settings, not the first spec's
                own = spec.build([torch.zeros(2, requires_grad=True)]).defaults
                slot.optimizer.add_param_group({**own, "params": [p]})
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


def _evaluate(fn: LossFn, slots: list[_Slot], pos: Tensor, loss: Tensor,
              grad: Tensor | None) -> None:
    """Writes every trajectory's position, loss and (unless ``grad`` is None) gradient,
    from one batched forward and backward pass."""
    params = [p for s in slots for p in s.params]
    rows = [r for s in slots for r in s.rows]
    leaves = [p.reshape(-1, 2) for p in params]
    for p in params:
        p.grad = None
    with torch.enable_grad():
        values = fn(leaves[0] if len(leaves) == 1 else torch.cat(leaves))
        if grad is not None:
            values.sum().backward()
    values = values.detach()
    offset = 0
    for p, r, leaf in zip(params, rows, leaves, strict=True):
        m = leaf.shape[0]
        pos[r] = leaf.detach()
        loss[r] = values[offset:offset + m]
        if grad is not None:
            grad[r] = p.grad.reshape(-1, 2)
        offset += m


def _step(fn: LossFn, slots: list[_Slot], bound: float) -> None:
    """One optimizer step of every slot.

    A diverged row of a shared tensor needs no special care: its NaN or huge values stay
    in its own elements, and its records are masked at the end. A per-trajectory
    optimizer (LBFGS, ...) stops at its first non-finite or out-of-bounds position, where
    a line search could otherwise spin on NaN.
    """
    for slot in slots:
        slot.log_lr()
        if slot.stopped:
            continue
        if slot.closure:
            slot.optimizer.step(_closure(fn, slot))
            slot.evals_log.append(slot.evals)
        else:
            slot.optimizer.step()
        if slot.scheduler is not None:
            if isinstance(slot.scheduler, ReduceLROnPlateau):
                slot.scheduler.step(float(fn(slot.params[0].detach()).nansum()))
            else:
                slot.scheduler.step()
        if slot.params[0].ndim == 1:
            p = slot.params[0].detach()
            slot.stopped = not bool(torch.isfinite(p).all() and p.abs().max() <= bound)


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

    def at(self, t: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Views to write step ``t``'s position, loss and gradient into."""
        return self.pos[t], self.loss[t], self.grad[t] if t < len(self.grad) else None

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
