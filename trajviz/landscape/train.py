"""Training each optimizer from one seeded initialisation, recording the weights' path and,
at every iteration, what the optimizer did to all the weights.

Every iteration records the mini-batch loss, the size of the update (the norm of the change
of all weights) and the share of the weights that moved whose move has the sign of the
negative mini-batch gradient: 100 % for plain SGD, whose update is ``-lr * gradient``; lower
for optimizers with momentum (Adam's, Adamax's, momentum's update follows a running mean).

A run diverges at the first iteration whose loss or update is not finite, or after which
the weights' norm exceeds `EXPLODED` times their initial norm (a net blown that far is
dead, and its path would swamp every plane); its records stop there.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..errors import UsageError
from ..optimizers import SEED_OPTIMIZERS, OptimizerSpec, parse_optimizer
from ..teaching import NET, NET_BATCH_SIZE, apply_teaching_lr, net_optimizers
from .evaluator import LossFn

log = logging.getLogger(__name__)
RECORDS = 50  # records along a path by default (plus the start)
EXPLODED = 1000.0  # weights this many times their initial norm count as diverged

# The seed tutorial's eight, at its settings (`trajviz.teaching.NET`); built-in specs, not
# validated here: validating builds an optimizer, which imports torch._dynamo (1.5 s) for
# every command whose parser shows this default.
SEED_SETTINGS = tuple(s.spec for s in apply_teaching_lr(map(parse_optimizer, SEED_OPTIMIZERS),
                                                         NET.lr))


@dataclass(frozen=True)
class TrainConfig:
    """How each optimizer trains (defaults: the seed tutorial's).

    Attributes:
        iterations: optimizer steps.
        batch_size: images per step (the whole training set is batch gradient descent,
            1 is stochastic gradient descent).
        record_every: record the flattened weights every this many steps (and at the end);
            default ``iterations / 50``.
        seed: seeds the batch order, identical for every optimizer.
    """

    iterations: int = NET.steps
    batch_size: int = NET_BATCH_SIZE
    record_every: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "record_every", "seed"):
            value = getattr(self, name)
            if value is None and name == "record_every":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise UsageError(f"{name.replace('_', '-')} must be a whole number, got "
                                 f"{value!r}")
            low = 0 if name == "seed" else 1
            if not low <= value < 2**63:
                raise UsageError(f"{name.replace('_', '-')} must be at least {low} (and below "
                                 f"2**63), got {value}")

    @property
    def every(self) -> int:
        """The recording interval in force."""
        return self.record_every or max(1, self.iterations // RECORDS)

    @property
    def recorded_steps(self) -> np.ndarray:
        steps = list(range(0, self.iterations, self.every)) + [self.iterations]
        return np.array(steps, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One optimizer's training run.

    Attributes:
        label: the optimizer's label (``adam``, ``sgd(lr=0.1)``).
        spec: the optimizer's full description (`OptimizerSpec.describe`).
        params: ``(r, n_params)`` float32 CPU tensor, the flattened weights (in
            ``parameters_to_vector`` order) at ``steps``; only finite weights are recorded.
        steps: ``(r,)`` the iteration of each record (0 is the shared initialisation).
        train_loss: ``(iterations,)`` the mini-batch loss of every iteration (NaN after a
            divergence).
        update_norm: ``(iterations,)`` the norm of each iteration's change of all weights.
        sign_share: ``(iterations,)`` of the weights that moved, the share whose move has
            the sign of the negative mini-batch gradient (NaN where none moved).
        test_acc: ``(r,)`` held-out accuracy at each record.
        diverged_at: the first iteration whose loss or update was not finite or that took
            the weights beyond `EXPLODED` times their initial norm, or -1; the records
            stop before it.
        lr: the learning rate in force (the optimizer's own default when not given).
    """

    label: str
    spec: dict[str, Any]
    params: Tensor
    steps: np.ndarray
    train_loss: np.ndarray
    update_norm: np.ndarray
    sign_share: np.ndarray
    test_acc: np.ndarray
    diverged_at: int = -1
    lr: float = float("nan")

    @property
    def diverged(self) -> bool:
        return self.diverged_at >= 0

    @property
    def final(self) -> Tensor:
        """The last recorded (finite) weights."""
        return self.params[-1]

    @property
    def final_acc(self) -> float:
        return float(self.test_acc[-1])


@dataclass(frozen=True, eq=False)
class Training:
    """All optimizers' trajectories from the same initial weights ``init``."""

    trajectories: tuple[Trajectory, ...]
    init: Tensor
    config: TrainConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.trajectories]

    @property
    def converged(self) -> list[int]:
        """Indices of the trajectories that did not diverge."""
        return [i for i, t in enumerate(self.trajectories) if not t.diverged]

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of final held-out accuracy per optimizer, for printing."""
        rows = []
        for t in self.trajectories:
            tail = t.train_loss[np.isfinite(t.train_loss)][-20:]
            rows.append([t.label, f"{100 * t.final_acc:.2f}%",
                         f"{tail.mean():.4f}" if tail.size else "-",
                         f"at iteration {t.diverged_at}" if t.diverged else "-"])
        return ["optimizer", "held-out accuracy", "train loss (last 20)", "diverged"], rows


def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """The seeds' evaluation loop: eval mode, no grad, share of correct argmax predictions."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(x), 1)


def train(
    model: nn.Module,
    optimizers: str | Sequence[str | OptimizerSpec],
    train_data: tuple[Tensor, Tensor],
    held_out: tuple[Tensor, Tensor],
    *,
    config: TrainConfig | None = None,
    loss_fn: LossFn = nn.functional.cross_entropy,
    progress: bool | None = None,
) -> Training:
    """Trains a copy of ``model`` with each optimizer, all from ``model``'s current weights.

    Every optimizer sees the same sequence of mini-batches, so the paths differ only by the
    optimizer. The data must already be on the model's device. An optimizer named without
    ``lr`` trains at the seed tutorial's learning rate where it gave one (`net_optimizers`).

    Args:
        model: the initial model (left unchanged).
        optimizers: specs such as ``"sgd:lr=0.1,adam"`` (see `parse_optimizers`).
        train_data: ``(x, y)`` training images and labels.
        held_out: ``(x, y)`` for the accuracy recorded along the way.
        config: iterations, batch size, recording interval, seed.
        loss_fn: ``loss_fn(output, y)``, the mean over the batch.
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        A `Training` with one `Trajectory` per optimizer.
    """
    config = config or TrainConfig()
    specs = net_optimizers(optimizers)
    if not specs:
        raise UsageError("no optimizer given")
    x, y = train_data
    if config.batch_size > len(x):
        raise UsageError(f"batch size {config.batch_size} is larger than the training set "
                         f"({len(x)} images)")
    if len({p.dtype for p in model.parameters()}) != 1:
        raise UsageError("the model's parameters must share one dtype")
    init = torch.nn.utils.parameters_to_vector(model.parameters()).detach().float().cpu()
    total = len(specs) * config.iterations
    bar = tqdm(total=total, desc="training", unit="step", delay=0.5, leave=False,
               disable=None if progress is None else not progress)
    trajectories = []
    with bar:
        for spec in specs:
            bar.set_postfix_str(spec.label)
            trajectories.append(_train_one(model, spec, x, y, held_out, config, loss_fn, bar))
    meta = {"optimizers": [s.describe() for s in specs], "labels": [s.label for s in specs],
            "iterations": config.iterations, "batch_size": config.batch_size,
            "record_every": config.every, "train_seed": config.seed,
            "n_params": int(init.numel()),
            "diverged_at": [t.diverged_at for t in trajectories],
            "lr": [t.lr for t in trajectories]}
    return Training(tuple(trajectories), init, config, meta)


def _batches(n: int, config: TrainConfig, device: torch.device):
    """The seeded mini-batch index sequence, epoch after epoch without replacement."""
    gen = torch.Generator().manual_seed(config.seed)
    while True:
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n - config.batch_size + 1, config.batch_size):
            yield perm[i:i + config.batch_size]


def _flat(net: nn.Module) -> tuple[Tensor, Tensor]:
    """Makes every parameter of ``net`` a view into one flat weight buffer and its ``.grad``
    a view into one flat gradient buffer (``parameters_to_vector`` order), and returns them:
    an optimizer's in-place update lands in the buffer, and backward adds into the grads."""
    params = list(net.parameters())
    weights = torch.cat([p.detach().reshape(-1) for p in params])
    grads = torch.zeros_like(weights)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = weights[offset:offset + n].view_as(p)
        p.grad = grads[offset:offset + n].view_as(p)
        offset += n
    return weights, grads


def _train_one(model: nn.Module, spec: OptimizerSpec, x: Tensor, y: Tensor,
               held_out: tuple[Tensor, Tensor], config: TrainConfig, loss_fn: LossFn,
               bar: tqdm) -> Trajectory:
    net = copy.deepcopy(model).train()
    weights, grads = _flat(net)
    opt = spec.build(net.parameters())
    record_at = set(config.recorded_steps.tolist())
    params, accs = [], []
    n = config.iterations
    losses, norms, shares = (np.full(n, np.nan) for _ in range(3))
    before, gradient, delta = (torch.empty_like(weights) for _ in range(3))
    diverged_at = -1
    limit = EXPLODED * max(float(torch.linalg.vector_norm(weights)), 1.0)

    def record() -> None:
        params.append(weights.detach().float().cpu().clone())
        accs.append(accuracy(net, *held_out))

    def closure(xb: Tensor, yb: Tensor) -> Tensor:
        grads.zero_()  # opt.zero_grad() would drop the views into the gradient buffer
        loss = loss_fn(net(xb), yb)
        loss.backward()
        return loss

    batches = _batches(len(x), config, x.device)
    record()
    for step in range(n):
        idx = next(batches)
        xb, yb = x[idx], y[idx]
        before.copy_(weights)
        if spec.needs_closure:
            first: list[Tensor] = []

            def evaluate(xb: Tensor = xb, yb: Tensor = yb, first: list = first) -> Tensor:
                loss = closure(xb, yb)
                if not first:  # the gradient at this iteration's weights
                    gradient.copy_(grads)
                    first.append(loss)
                return loss

            opt.step(evaluate)
            loss = first[0]
        else:
            loss = closure(xb, yb)
            gradient.copy_(grads)
            opt.step()
        torch.sub(weights, before, out=delta)
        losses[step] = float(loss.detach())
        norms[step] = float(torch.linalg.vector_norm(delta))
        moved = int(torch.count_nonzero(delta))
        agree = int(torch.count_nonzero(delta.mul_(gradient) < 0))  # the sign of -gradient
        shares[step] = agree / moved if moved else np.nan
        bar.update()
        if not (math.isfinite(losses[step]) and math.isfinite(norms[step])
                and float(torch.linalg.vector_norm(weights)) <= limit):
            diverged_at = step
            log.info("%s diverged at iteration %d (loss %s)", spec.label, step, losses[step])
            losses[step:], norms[step:], shares[step:] = np.nan, np.nan, np.nan
            bar.update(n - step - 1)
            break
        if step + 1 in record_at:
            record()
    steps = config.recorded_steps[:len(params)]
    return Trajectory(spec.label, spec.describe(), torch.stack(params), steps,
                      losses, norms, shares, np.array(accs),
                      diverged_at, float(opt.param_groups[0].get("lr", np.nan)))
