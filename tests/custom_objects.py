"""Objects the tests load by import path, as a user's own code would be."""

import torch

from surfaces import Surface


def tilted_bowl(xy: torch.Tensor) -> torch.Tensor:
    return (xy[..., 0] - 1) ** 2 + 2 * (xy[..., 1] + 0.5) ** 2


BOWL = Surface("bowl", tilted_bowl, ((-2.0, 2.0), (-2.0, 2.0)), minima=((1.0, -0.5),),
               min_value=0.0, start=(-1.0, 1.0))


class SignSGD(torch.optim.Optimizer):
    """A user's optimizer: steps by lr * sign(grad)."""

    def __init__(self, params, lr: float = 0.01) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


# User code that fails, for the error-boundary tests: each must be reported as the user's.
def raising_surface(xy: torch.Tensor) -> torch.Tensor:
    raise ZeroDivisionError("my surface divides by zero")


def exiting_surface(xy: torch.Tensor) -> torch.Tensor:
    raise SystemExit(7)


def batch_sum_surface(xy: torch.Tensor) -> torch.Tensor:
    """Wrong: one value for the whole batch, which would couple independent runs."""
    return (xy**2).sum()


class RaisingOptimizer(torch.optim.SGD):
    def step(self, closure=None):
        raise RuntimeError("my optimizer is broken")


class RaisingScheduler(torch.optim.lr_scheduler.StepLR):
    def get_lr(self):
        if self.last_epoch > 1:
            raise ArithmeticError("my scheduler is broken")
        return super().get_lr()


class NotAScheduler:
    def __init__(self, optimizer, **kwargs) -> None:
        raise AssertionError("built although it is not an LRScheduler")
