"""The story of `01_gradient_descent.ipynb` as a script: one figure per chapter.

    python examples/gradient_descent.py --out /tmp/gd

writes lr.png (step size), noise.png (batch / stochastic / mini-batch), ravine.png
(SGD, momentum, Nesterov), adaptive.png and adaptive.gif (the adaptive family) and
schedules.png (learning-rate schedules), and prints a table for each; then runs every
lesson (`trajviz.lessons`), prints its claims as checked on the run and writes one GIF per
lesson (ravine.gif, saddle.gif, ...). ``TRAJVIZ_SMALL=1`` makes it quick (fewer steps,
smaller figures), as the tests run it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

import surfaces
import trajviz
from trajviz import lessons
from trajviz.summary import format_table, summarize

SMALL = os.environ.get("TRAJVIZ_SMALL") == "1"
FIG = dict(size=(7.5, 4.6), dpi=50 if SMALL else 100)


def steps(n: int) -> int:
    return max(n // 4, 20) if SMALL else n


def report(title: str, run: trajviz.Run, surface: trajviz.Surface) -> None:
    rows = [[o.label, f"{o.final_loss:.3g}", f"{o.distance:.3g}", str(o.reached_at),
             str(o.diverged_at)] for o in summarize(run, surface)]
    print(f"\n{title}\n" + format_table(
        ["optimizer", "final loss", "dist to min", "reached", "diverged"], rows))


def training_loop(bowl: trajviz.Surface, n: int) -> None:
    """A hand-written torch loop and trajviz agree position for position."""
    xy = torch.tensor(bowl.start, requires_grad=True)
    opt = torch.optim.SGD([xy], lr=0.09)
    path = [xy.detach().clone()]
    for _ in range(n):
        opt.zero_grad()
        bowl(xy).backward()
        opt.step()
        path.append(xy.detach().clone())
    run = trajviz.run(bowl, "sgd:lr=0.09", steps=n, device="cpu", progress=False)
    if not np.array_equal(run.positions[0], torch.stack(path).numpy()):
        raise SystemExit("trajviz and the hand-written loop disagree")
    print(f"training loop: trajviz matches the hand-written loop on all {n + 1} positions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gradient_descent"),
                        help="folder for the figures (created)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    bowl = trajviz.resolve_surface("quadratic:kappa=10")
    training_loop(bowl, steps(60))

    run = trajviz.run(bowl, ["sgd:lr=0.01", "sgd:lr=0.09", "sgd:lr=0.19", "sgd:lr=0.3"],
                      steps=steps(80), progress=False)
    report("step size (stable below 2/10)", run, bowl)
    trajviz.save(trajviz.plot(run, bowl, **FIG), out / "lr.png")

    noisy_runs = {}
    for label, sigma, batch in (("batch", 0.0, 1), ("stochastic", 3.0, 1),
                                ("mini-batch 16", 3.0, 16)):
        noisy = surfaces.noisy(bowl, sigma, batch_size=batch, seed=0)
        noisy_runs[label] = trajviz.run(noisy, "sgd:lr=0.05", steps=steps(120), progress=False)
    fig = Figure(figsize=(6, 3), dpi=FIG["dpi"], layout="constrained")
    ax = fig.add_subplot()
    for label, r in noisy_runs.items():
        ax.semilogy(r.loss[0], label=label)
        print(f"{label:<14} final loss {r.final_loss[0]:.4f}")
    ax.set(xlabel="step", ylabel="loss", title="SGD with batch, stochastic and mini-batch "
           "gradients")
    ax.legend()
    trajviz.save(fig, out / "noise.png")

    ravine = trajviz.resolve_surface("quadratic:kappa=50")
    run = trajviz.run(ravine, ["sgd:lr=0.035", "momentum:lr=0.01", "nesterov:lr=0.01"],
                      steps=steps(150), progress=False)
    report("SGD, momentum and Nesterov in a ravine (curvatures 1 and 50)", run, ravine)
    trajviz.save(trajviz.plot(run, ravine, **FIG), out / "ravine.png")

    adaptive = ["sgd:lr=0.035", "adagrad:lr=0.3", "rmsprop:lr=0.03", "adadelta:lr=20",
                "adam:lr=0.1", "adamax:lr=0.3"]
    run = trajviz.run(ravine, adaptive, steps=steps(150), progress=False)
    report("the adaptive family in the same ravine", run, ravine)
    trajviz.save(trajviz.plot(run, ravine, **FIG), out / "adaptive.png")
    anim = trajviz.animate(run, ravine, frames=12 if SMALL else 80, fps=15, **FIG)
    trajviz.save(anim, out / "adaptive.gif")

    n = steps(100)
    schedules = {"constant": None, "StepLR": f"steplr:step_size={n // 4},gamma=0.5",
                 "ExponentialLR": "exponentiallr:gamma=0.97",
                 "CosineAnnealingLR": f"cosineannealinglr:T_max={n}"}
    fig = Figure(figsize=(9, 3.2), dpi=FIG["dpi"], layout="constrained")
    ax_lr, ax_loss = fig.subplots(1, 2)
    print("\nlearning-rate schedules (SGD, lr 0.18)")
    for name, spec in schedules.items():
        r = trajviz.run(bowl, "sgd:lr=0.18", steps=n, scheduler=spec, progress=False)
        ax_lr.plot(r.lr[0], label=name)
        ax_loss.semilogy(r.loss[0], label=name)
        print(f"{name:<18} final loss {r.final_loss[0]:.3g}")
    ax_lr.set(xlabel="step", ylabel="learning rate", title="schedule")
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_lr.legend()
    trajviz.save(fig, out / "schedules.png")

    for name in lessons.names():
        result = lessons.get(name).run().check()  # raises if a caption's claim fails
        print(f"\n{result.report()}")
        result.save(out / f"{name}.gif", frames=12 if SMALL else 150,
                    question_frames=4 if SMALL else 30, progress=False, **FIG)
    print(f"\nfigures in {out}")


if __name__ == "__main__":
    main()
