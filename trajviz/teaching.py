"""Teaching defaults: per surface, a learning rate for each seed optimizer and a step count;
and the seed tutorial's settings for training the 784-100-10 net on MNIST.

Each surface learning rate was chosen by running the engine from the surface's teaching
start so that the optimizer visibly moves, neither sits still nor explodes, and shows its
character within the step count (`tests/test_plot.py` checks every entry still does).

One rule, `with_teaching_lr`, gives an optimizer named without ``lr`` its teaching learning
rate: `teaching_optimizers` for a surface (``trajviz animate``, ``plot``), `net_optimizers`
for training a net (``trajviz landscape``, `trajviz.compute_landscape`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from surfaces import Surface

from .optimizers import SEED_OPTIMIZERS, OptimizerSpec, parse_optimizers


@dataclass(frozen=True)
class Teaching:
    """Learning rates by seed optimizer name, and how many steps let the story play out."""

    lr: dict[str, float] = field(default_factory=dict)
    steps: int = 200


def _t(steps: int, sgd: float, momentum: float, nesterov: float, adam: float, adagrad: float,
       adadelta: float, adamax: float, rmsprop: float) -> Teaching:
    return Teaching(dict(sgd=sgd, momentum=momentum, nesterov=nesterov, adam=adam,
                         adagrad=adagrad, adadelta=adadelta, adamax=adamax, rmsprop=rmsprop),
                    steps)


# steps, then lr for: sgd, momentum, nesterov, adam, adagrad, adadelta, adamax, rmsprop
TEACHING: dict[str, Teaching] = {
    "ackley": _t(200, 0.05, 0.005, 0.005, 0.05, 0.5, 2.0, 0.1, 0.02),
    "beale": _t(300, 0.02, 0.005, 0.005, 0.5, 2.0, 5.0, 1.0, 0.1),
    "booth": _t(200, 0.05, 0.005, 0.02, 1.0, 10.0, 50.0, 5.0, 0.5),
    "goldstein_price": _t(300, 3e-5, 3e-6, 1e-5, 0.2, 1.0, 2.0, 1.0, 0.1),
    "himmelblau": _t(200, 0.002, 0.002, 0.001, 0.3, 0.3, 5.0, 2.0, 0.05),
    "matyas": _t(200, 1.0, 0.1, 0.2, 2.0, 10.0, 20.0, 10.0, 0.5),
    "monkey_saddle": _t(200, 0.005, 0.0005, 0.0005, 0.005, 0.05, 0.5, 0.01, 0.005),
    "plateau": _t(300, 2.0, 0.2, 0.2, 0.3, 1.0, 10.0, 2.0, 0.1),
    "quadratic": _t(200, 0.1, 0.01, 0.05, 0.1, 0.3, 5.0, 0.3, 0.05),
    "rastrigin": _t(200, 0.005, 0.001, 0.001, 0.2, 0.5, 3.0, 0.3, 0.05),
    "rosenbrock": _t(300, 0.0015, 0.001, 0.001, 0.1, 0.5, 5.0, 0.3, 0.02),
    "saddle": _t(150, 0.02, 0.005, 0.005, 0.01, 0.05, 0.1, 0.02, 0.005),
    "six_hump_camel": _t(200, 0.05, 0.005, 0.02, 0.1, 0.5, 1.0, 0.1, 0.02),
    "styblinski_tang": _t(200, 0.02, 0.005, 0.005, 0.3, 1.0, 10.0, 0.3, 0.05),
}
FALLBACK = Teaching(dict(sgd=1e-3, momentum=1e-3, nesterov=1e-3, adam=0.05, adagrad=0.5,
                         adadelta=10.0, adamax=0.05, rmsprop=0.01), 200)


# The seed tutorial: a 784-100-10 ReLU net on MNIST, mini-batches of 100, 3000 iterations;
# SGD, momentum and Nesterov at lr 0.1, the adaptive optimizers at torch's defaults (no lr
# here). Its published held-out accuracy (%) per optimizer, printed beside ours.
NET = Teaching(dict(sgd=0.1, momentum=0.1, nesterov=0.1), 3000)
NET_BATCH_SIZE = 100
TUTORIAL_ACCURACY: dict[str, float] = dict(sgd=95.78, momentum=97.69, nesterov=97.58,
                                           adam=97.20, adagrad=95.51, adadelta=97.45,
                                           adamax=96.58, rmsprop=97.1)


def with_teaching_lr(optimizers: str | Sequence[str | OptimizerSpec],
                     lrs: Mapping[str, float]) -> list[OptimizerSpec]:
    """The rule: each optimizer whose name is in ``lrs`` and that was given no ``lr`` of its
    own gets ``lrs[name]``; every other optimizer is left as given (torch's default lr)."""
    if not isinstance(optimizers, (str, Sequence)):
        raise TypeError(f"optimizers must be a spec string such as 'sgd,adam:lr=0.05' or a "
                        f"list of specs, not {type(optimizers).__name__}")
    return apply_teaching_lr(parse_optimizers(optimizers), lrs)


def apply_teaching_lr(specs: Iterable[OptimizerSpec], lrs: Mapping[str, float]
                      ) -> list[OptimizerSpec]:
    """`with_teaching_lr`'s rule on parsed specs, which it does not validate again."""
    return [s.with_kwargs(lr=lrs[s.name]) if s.name in lrs and "lr" not in s.kwargs else s
            for s in specs]


def net_optimizers(optimizers: str | Sequence[str | OptimizerSpec] = SEED_OPTIMIZERS
                   ) -> list[OptimizerSpec]:
    """``optimizers`` with the seed tutorial's learning rate wherever it gave one (`NET`)."""
    return with_teaching_lr(optimizers, NET.lr)


def teaching(surface: Surface | str) -> Teaching:
    """The teaching defaults for a surface (a generic set for surfaces not in the table)."""
    name = surface if isinstance(surface, str) else surface.name
    return TEACHING.get(name, FALLBACK)


def teaching_optimizers(surface: Surface | str,
                        optimizers: str | Sequence[str | OptimizerSpec] = SEED_OPTIMIZERS
                        ) -> list[OptimizerSpec]:
    """``optimizers`` with the surface's teaching learning rate filled in wherever a seed
    optimizer has no ``lr`` of its own."""
    return with_teaching_lr(optimizers, teaching(surface).lr)
