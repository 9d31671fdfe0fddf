"""The divergence rule, the one definition the engine, the maps and the stepper apply.

A run diverges at its first step whose loss or gradient is non-finite or whose position
has a coordinate beyond the bound (NaN is never within it). The rule is applied to one
step's rows (`fine_rows`, with `all_fine` as a cheap whole-step test first), to a whole
recorded history (`first_bad_steps`), step by step (`FirstBadStep`), and to one run's
point after a step, before it is evaluated (`point_in_bounds`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from surfaces import Surface


def default_bound(surface: Surface) -> float:
    """Where a run counts as diverged unless told otherwise: 1000 times the domain's extent."""
    return 1000.0 * max(hi - lo for lo, hi in surface.domain)


def fine_rows(pos: Tensor, loss: Tensor, grad: Tensor | None, bound: float) -> Tensor:
    """The rule, per row: a finite loss and gradient and both coordinates within
    ``bound`` (NaN fails). Column by column: on a CPU, reductions over a trailing
    dimension of 2 cost several times more."""
    x, y = pos[:, 0], pos[:, 1]
    ok = torch.isfinite(loss) & (x.abs() <= bound) & (y.abs() <= bound)
    if grad is not None:
        ok &= torch.isfinite(grad[:, 0]) & torch.isfinite(grad[:, 1])
    return ok


def all_fine(pos: Tensor, loss: Tensor, grad: Tensor | None, bound: float) -> bool:
    """Whether `fine_rows` holds for every row, from whole-tensor reductions (much cheaper
    on a CPU than per-row ones; it waits for the device). A sum is finite only if every
    term is; a False from a sum of finite values that overflows only costs `fine_rows`."""
    total = pos.sum() + loss.sum() + (0 if grad is None else grad.sum())
    lo, hi = torch.aminmax(pos)
    return bool(torch.isfinite(total) & (lo >= -bound) & (hi <= bound))


def point_in_bounds(point: Tensor, bound: float) -> bool:
    """The rule's test of a position alone, for one run's ``(2,)`` point (``bound`` is
    finite, so an infinite coordinate fails as NaN does)."""
    return bool((point.abs() <= bound).all())


def first_bad_steps(pos: Tensor, loss: Tensor, grad: Tensor, bound: float) -> Tensor:
    """Each run's first step that breaks the rule, or -1, from its whole record:
    ``pos`` ``(steps + 1, n, 2)``, ``loss`` ``(steps + 1, n)``, ``grad`` ``(steps, n, 2)``
    (the last step has no gradient)."""
    steps, n = grad.shape[:2]
    ok = torch.ones(steps + 1, n, dtype=torch.bool, device=pos.device)
    ok[:-1] = fine_rows(pos[:-1].reshape(-1, 2), loss[:-1].reshape(-1), grad.reshape(-1, 2),
                        bound).view(steps, n)
    ok[-1] = fine_rows(pos[-1], loss[-1], None, bound)
    first = (~ok).to(torch.uint8).argmax(0)
    return torch.where(ok.all(0), -1, first)


class FirstBadStep:
    """Each run's first step that broke the rule (``at``, -1 while none has), kept step by
    step. Where ``host_checks`` (on a CPU, where a check on the host is free) a step is
    first tested as a whole (`all_fine`); elsewhere every step is tested per row, so
    nothing waits for the device."""

    def __init__(self, n: int, bound: float, device: torch.device) -> None:
        self.bound = bound
        self.at = torch.full((n,), -1, dtype=torch.int64, device=device)
        self.host_checks = device.type == "cpu"

    def update(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor | None) -> Tensor | None:
        """Marks the runs that break the rule for the first time at step ``t`` and returns
        them as a ``(n,)`` mask; ``None`` when the host already knows that none did."""
        if self.host_checks and all_fine(pos, loss, grad, self.bound):
            return None
        fresh = ~fine_rows(pos, loss, grad, self.bound) & (self.at < 0)
        if self.host_checks and not fresh.any():
            return None
        self.at.masked_fill_(fresh, t)
        return fresh
