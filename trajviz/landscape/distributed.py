"""Grid evaluation shared by ``torchrun`` processes, checkpointed per chunk.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every rank evaluates its own
contiguous share of the grid's chunks on its own device (NCCL on GPUs, gloo on the CPU);
rank 0 gathers the shares, and only rank 0 writes files. Without torchrun the same code runs
in one process. A point's value does not depend on the batch it is evaluated in, so the
result is bit-identical to the single-process grid.

With a checkpoint folder every finished chunk is written there (atomically); a later run
with the same inputs reuses the chunks it finds and says how many points it reused.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .._io import FLOAT, Field, load_npz, save_npz
from ..errors import UsageError
from .evaluator import PlaneEvaluator
from .grid import evaluate_grid

log = logging.getLogger(__name__)
TIMEOUT_S = float(os.environ.get("TRAJVIZ_DIST_TIMEOUT", "600"))


@dataclass(frozen=True)
class Context:
    """This process's place in the job: ``rank`` of ``world`` (1 without torchrun).

    ``launched``: started by torchrun, so it joins the job's process group even as its only
    rank (one rank on a machine with one GPU still goes through NCCL).
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    launched: bool = False

    @property
    def active(self) -> bool:
        return self.launched or self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """Each rank's own GPU (``cuda:LOCAL_RANK``) when CUDA is used."""
        if requested.type == "cuda" and self.active:
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return requested


def context() -> Context:
    """The job as torchrun describes it in the environment (a single process otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    launched = "TORCHELASTIC_RUN_ID" in os.environ  # set by torchrun for every rank
    if world <= 1 and not launched:
        return Context()
    return Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")),
                   launched)


@contextlib.contextmanager
def process_group(ctx: Context, device: torch.device) -> Iterator[None]:
    """Joins the torchrun job (NCCL for CUDA, gloo for the CPU) for the duration."""
    if not ctx.active or dist.is_initialized():
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    log.info("rank %d of %d joined (%s on %s)", ctx.rank, ctx.world, backend, device)
    try:
        yield
    finally:
        dist.destroy_process_group()


def broadcast(t: torch.Tensor, ctx: Context, device: torch.device) -> torch.Tensor:
    """Rank 0's ``t`` on every rank (so all ranks evaluate exactly the same plane)."""
    if not ctx.active:
        return t
    buf = t.to(device).contiguous()
    dist.broadcast(buf, src=0)
    return buf.to(t.device)


def chunk_ranges(n_points: int, chunk: int) -> list[tuple[int, int]]:
    return [(i, min(i + chunk, n_points)) for i in range(0, n_points, chunk)]


def share(chunks: list[tuple[int, int]], ctx: Context) -> list[tuple[int, int]]:
    """This rank's contiguous run of chunks (earlier ranks get one more when uneven)."""
    q, r = divmod(len(chunks), ctx.world)
    start = ctx.rank * q + min(ctx.rank, r)
    return chunks[start:start + q + (ctx.rank < r)]


class Checkpoints:
    """Finished chunks as ``<folder>/chunk-<start>-<stop>.npz``, each tagged with ``key``.

    A checkpoint is a cache: one that is damaged or not what it should be is reported as a
    warning and its chunk computed again (and rewritten)."""

    FIELDS = {"loss": Field(FLOAT, ("k",)), "accuracy": Field(FLOAT, ("k",))}

    def __init__(self, folder: str | os.PathLike[str] | None, key: str) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.key = key

    def path(self, start: int, stop: int) -> Path:
        return self.folder / f"chunk-{start:09d}-{stop:09d}.npz"

    def load(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.path(start, stop) if self.folder is not None else None
        if path is None or not path.exists():
            return None
        try:
            f = load_npz(path, "checkpoint", self.FIELDS, {"key": str})
        except UsageError as e:
            log.warning("recomputing grid points %d:%d: %s", start, stop, e)
            return None
        if f.meta["key"] != self.key:
            return None  # made from other inputs
        if f.dims["k"] != stop - start:
            log.warning("recomputing grid points %d:%d: %s holds %d points", start, stop,
                        path, f.dims["k"])
            return None
        return f.arrays["loss"], f.arrays["accuracy"]

    def save(self, start: int, stop: int, loss: np.ndarray, acc: np.ndarray) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        save_npz(self.path(start, stop), {"loss": loss, "accuracy": acc}, {"key": self.key})

    def clear(self) -> None:
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class GridResult:
    """The flat grid values (on rank 0; other ranks get ``None``) and what was reused."""

    loss: np.ndarray | None
    accuracy: np.ndarray | None
    reused_points: int
    world: int


def evaluate_shared(evaluator: PlaneEvaluator, alpha: np.ndarray, beta: np.ndarray,
                    ctx: Context, *, checkpoint: str | os.PathLike[str] | None = None,
                    key: str = "", chunk: int | None = None,
                    progress: bool | None = None) -> GridResult:
    """Evaluates the whole grid across the job's ranks; see the module docstring.

    Args:
        evaluator: the plane and data (on this rank's device).
        alpha, beta: the grid's coordinates.
        ctx: this process's rank and the world size (`context`).
        checkpoint: folder for per-chunk checkpoints (none by default).
        key: identifies the inputs; checkpoints with another key are not reused.
        chunk: points per chunk (default: from the evaluator's memory budget).
        progress: progress bar on rank 0 (``None``: only on a terminal).
    """
    n = len(alpha) * len(beta)
    step = chunk or evaluator.chunk_sizes()[0]
    mine = share(chunk_ranges(n, step), ctx)
    store = Checkpoints(checkpoint, key)
    lo = mine[0][0] if mine else 0
    hi = mine[-1][1] if mine else 0
    loss, acc = np.full(hi - lo, np.nan), np.full(hi - lo, np.nan)
    reused = 0
    todo = []
    for a, b in mine:
        found = store.load(a, b)
        if found is None:
            todo.append((a, b))
        else:
            loss[a - lo:b - lo], acc[a - lo:b - lo] = found
            reused += b - a
    for a, b in todo:
        lo_, ac_ = evaluate_grid(evaluator, alpha, beta, start=a, stop=b, chunk=step,
                                 progress=progress if ctx.main else False)
        loss[a - lo:b - lo], acc[a - lo:b - lo] = lo_, ac_
        store.save(a, b, lo_, ac_)
    if not ctx.active:
        return GridResult(loss, acc, reused, 1)
    return _gather(loss, acc, lo, n, reused, ctx, evaluator.device)


def _gather(loss: np.ndarray, acc: np.ndarray, lo: int, n: int, reused: int, ctx: Context,
            device: torch.device) -> GridResult:
    """All shares to rank 0, padded to one length (``all_gather`` needs equal sizes)."""
    sizes = torch.tensor([lo, len(loss), reused], dtype=torch.float64, device=device)
    all_sizes = [torch.empty_like(sizes) for _ in range(ctx.world)]
    dist.all_gather(all_sizes, sizes)
    longest = max(int(s[1]) for s in all_sizes)
    buf = torch.full((2, longest), float("nan"), dtype=torch.float64, device=device)
    buf[0, :len(loss)] = torch.from_numpy(loss)
    buf[1, :len(acc)] = torch.from_numpy(acc)
    parts = [torch.empty_like(buf) for _ in range(ctx.world)]
    dist.all_gather(parts, buf)
    total_reused = int(sum(float(s[2]) for s in all_sizes))
    if not ctx.main:
        return GridResult(None, None, total_reused, ctx.world)
    out = np.full((2, n), np.nan)
    covered = np.zeros(n, dtype=bool)
    for s, part in zip(all_sizes, parts, strict=True):
        start, length = int(s[0]), int(s[1])
        out[:, start:start + length] = part[:, :length].cpu().numpy()
        covered[start:start + length] = True
    if not covered.all():
        raise UsageError("the ranks' shares do not cover the grid (a rank returned nothing)")
    return GridResult(out[0], out[1], total_reused, ctx.world)
