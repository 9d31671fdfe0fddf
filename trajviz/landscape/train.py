"""Training each optimizer from one seeded initialisation, recording the weights' path."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parameters_to_vector
from tqdm.auto import tqdm

from ..errors import UsageError
from ..optimizers import OptimizerSpec, parse_optimizers

log = logging.getLogger(__name__)
LossFn = Callable[[Tensor, Tensor], Tensor]

# The seed tutorial's settings: SGD-family at lr 0.1, the adaptive ones at torch's defaults.
SEED_SETTINGS = ("sgd:lr=0.1", "momentum:lr=0.1", "nesterov:lr=0.1", "adam", "adagrad",
                 "adadelta", "adamax", "rmsprop")


@dataclass(frozen=True)
class TrainConfig:
    """How each optimizer trains.

    Attributes:
        iterations: optimizer steps.
        batch_size: images per step (the whole training set is batch gradient descent,
            1 is stochastic gradient descent).
        record_every: record the flattened weights every this many steps (and at the end).
        seed: seeds the batch order, identical for every optimizer.
    """

    iterations: int = 500
    batch_size: int = 100
    record_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "record_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")

    @property
    def recorded_steps(self) -> np.ndarray:
        steps = list(range(0, self.iterations, self.record_every)) + [self.iterations]
        return np.array(steps, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One optimizer's training run.

    Attributes:
        label: the optimizer's label (``adam``, ``sgd(lr=0.1)``).
        spec: the optimizer's full description (`OptimizerSpec.describe`).
        params: ``(r, n_params)`` float32 CPU tensor, the flattened weights (in
            ``parameters_to_vector`` order) at ``steps``.
        steps: ``(r,)`` the step of each record (0 is the shared initialisation).
        train_loss: ``(iterations,)`` the mini-batch loss of every step.
        test_acc: ``(r,)`` held-out accuracy at each record.
        diverged_at: the step whose loss was not finite, or -1; records stop there.
        lr: the learning rate in force (the optimizer's own default when not given).
    """

    label: str
    spec: dict[str, Any]
    params: Tensor
    steps: np.ndarray
    train_loss: np.ndarray
    test_acc: np.ndarray
    diverged_at: int = -1
    lr: float = float("nan")

    @property
    def final(self) -> Tensor:
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

    def table(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of final held-out accuracy per optimizer, for printing."""
        rows = [[t.label, f"{100 * t.final_acc:.2f}%", f"{t.train_loss[-20:].mean():.4f}",
                 "-" if t.diverged_at < 0 else f"at step {t.diverged_at}"]
                for t in self.trajectories]
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
    optimizer. The data must already be on the model's device.

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
    specs = parse_optimizers(optimizers)
    x, y = train_data
    if config.batch_size > len(x):
        raise UsageError(f"batch size {config.batch_size} is larger than the training set "
                         f"({len(x)} images)")
    init = parameters_to_vector(model.parameters()).detach().float().cpu()
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
            "record_every": config.record_every, "train_seed": config.seed,
            "n_params": int(init.numel())}
    return Training(tuple(trajectories), init, config, meta)


def _batches(n: int, config: TrainConfig, device: torch.device):
    """The seeded mini-batch index sequence, epoch after epoch without replacement."""
    gen = torch.Generator().manual_seed(config.seed)
    while True:
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n - config.batch_size + 1, config.batch_size):
            yield perm[i:i + config.batch_size]


def _train_one(model: nn.Module, spec: OptimizerSpec, x: Tensor, y: Tensor,
               held_out: tuple[Tensor, Tensor], config: TrainConfig, loss_fn: LossFn,
               bar: tqdm) -> Trajectory:
    net = copy.deepcopy(model).train()
    opt = spec.build(net.parameters())
    record_at = set(config.recorded_steps.tolist())
    params, accs, losses = [], [], np.full(config.iterations, np.nan)
    diverged_at = -1

    def record() -> None:
        params.append(parameters_to_vector(net.parameters()).detach().float().cpu())
        accs.append(accuracy(net, *held_out))

    batches = _batches(len(x), config, x.device)
    record()
    for step in range(config.iterations):
        idx = next(batches)
        xb, yb = x[idx], y[idx]

        def closure(xb: Tensor = xb, yb: Tensor = yb) -> Tensor:
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            return loss

        if spec.needs_closure:
            loss = opt.step(closure)
        else:
            loss = closure()
            opt.step()
        losses[step] = float(loss.detach())
        bar.update()
        if not np.isfinite(losses[step]):
            diverged_at = step
            log.warning("%s diverged at step %d (loss %s)", spec.label, step, losses[step])
            bar.update(config.iterations - step - 1)
            break
        if step + 1 in record_at:
            record()
    steps = config.recorded_steps[:len(params)]
    return Trajectory(spec.label, spec.describe(), torch.stack(params), steps, losses,
                      np.array(accs), diverged_at, float(opt.param_groups[0].get("lr", np.nan)))
