"""The lean step loop behind the maps: many exact runs reduced to what a map needs.

A map needs, per run, only where it ended, whether and when it diverged and when it
converged, not its history, so a chunk of runs is walked by a `Stepper` (the engine's
exact batching, `Stepper.walk`) and reduced on the fly to its `Outcomes`. A basin map's
starts are one block of rows of one spec; a sweep's settings are one block (a param
group, or an optimizer per run) each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .._divergence import FirstBadStep
from .._stepper import Block, Stepper, intra_op_threads
from ._common import MapSettings
from ._outcomes import Outcomes


def run_chunk(cfg: MapSettings, blocks: Sequence[Block], x0: Tensor,
              tick: Callable[[], None]) -> Outcomes:
    """Runs ``blocks`` from the rows of ``x0`` (``(k, 2)``, on the settings' device and
    dtype) for ``cfg.steps`` steps, and reduces them to their outcomes (arrays ``(k,)``).

    Args:
        tick: called after every step (a progress bar's update).
    """
    with intra_op_threads(len(x0)):
        stepper = Stepper(cfg.surface.fn, blocks, x0, scheduler=cfg.scheduler, bound=cfg.bound)
        reducer = _Reducer(x0, cfg)
        for t, loss, grad in stepper.walk(cfg.steps):
            if t:
                tick()
            reducer.update(t, stepper.pos, loss, grad)
        return reducer.result()


class _Reducer:
    """Per-run divergence and convergence, updated with a few batched ops per step.

    Every op works on ``(k,)`` columns: reductions over a trailing dimension of 2 (``.all(-1)``,
    ``.sum(-1)``) and broadcasts to ``(k, M, 2)`` cost several times more on a CPU (measured
    in ``benchmarks/bench_maps.py``'s history). On CUDA nothing waits on the host.
    """

    def __init__(self, x0: Tensor, cfg: MapSettings) -> None:
        k = len(x0)
        self.fn, self.steps = cfg.surface.fn, cfg.steps
        self.tol, self.tol2 = cfg.tol, cfg.tol * cfg.tol
        minima = cfg.surface.minima  # as the runs' dtype holds them
        self.minima = torch.tensor(minima, dtype=x0.dtype).tolist() if minima else None
        self.divergence = FirstBadStep(k, cfg.bound, x0.device)
        self.last_good = x0.clone()
        self.prev = x0.clone()
        # last step at which the run was farther than tol from each minimum (or, without
        # minima, moved more than tol); it converged from the step after.
        width = len(self.minima) if self.minima is not None else 1
        self.last_out = torch.full((width, k), -1, dtype=torch.int32, device=x0.device)

    def update(self, t: int, pos: Tensor, loss: Tensor, grad: Tensor | None) -> None:
        x, y = pos[:, 0], pos[:, 1]
        fresh = self.divergence.update(t, pos, loss, grad)
        if fresh is not None:  # where they were before this step
            if self.divergence.host_checks:  # (a boolean index waits for the device)
                self.last_good[fresh] = self.prev[fresh]
            else:
                self.last_good = torch.where(fresh[:, None], self.prev, self.last_good)
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
    def result(self) -> Outcomes:
        diverged_at = self.divergence.at
        alive = diverged_at < 0
        final = torch.where(alive[:, None], self.prev, self.last_good)
        final_loss = self.fn(final)
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
            minimum = torch.full_like(diverged_at, -1)
        converged_at = torch.where(converged, last + 1, -1)

        def numpy(a: Tensor) -> np.ndarray:
            return a.cpu().numpy()

        return Outcomes(final=numpy(final), final_loss=numpy(final_loss),
                        diverged_at=numpy(diverged_at), converged_at=numpy(converged_at),
                        minimum=numpy(minimum), steps=self.steps, tol=self.tol)
