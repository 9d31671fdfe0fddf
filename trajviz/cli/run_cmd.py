"""``trajviz run``: compute trajectories, print a summary, optionally save them."""

from __future__ import annotations

import argparse
from typing import Any

from .._io import check_writable
from ..engine import run
from ..optimizers import SEED_OPTIMIZERS
from ..race import DEFAULT_SURFACE, noisy_surface
from ..summary import format_table, summarize
from ._common import (
    OPTIMIZERS_HELP,
    RUN_DEFAULTS,
    SCHEDULER_HELP,
    SURFACE_HELP,
    add_command,
    add_engine_options,
    integer,
    keyword_defaults,
    path,
    point,
    points,
    real,
)

EXAMPLES = """\
  trajviz run --surface rosenbrock
  trajviz run --surface rosenbrock --optimizers 'sgd:lr=1e-3,adam:lr=0.05' --steps 500
  trajviz run --surface himmelblau --starts '-1,0;1,0;0,1' --out run.npz
  trajviz run --surface quadratic:kappa=50 --optimizers sgd:lr=0.03 \\
      --scheduler steplr:step_size=50,gamma=0.5
  trajviz run --surface rosenbrock --noise 20 --batch-size 10   # mini-batch-like noise
"""
TOL = keyword_defaults(summarize)["tol"]  # 'reached the minimum' within this loss


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "run", "Run optimizers on a surface; print outcomes, save a .npz.",
                    EXAMPLES)
    add_run_options(p)
    p.add_argument("--tol", type=real(0, lo_open=True), default=TOL,
                   help="loss tolerance for 'reached the minimum'")
    p.add_argument("--out", type=path,
                   help="write the run here (.npz readable by plain NumPy)")
    p.set_defaults(func=main)


def add_run_options(p: argparse.ArgumentParser, *, teaching: bool = False) -> None:
    """The options that define a run; `trajviz animate` and `plot` reuse them with
    ``teaching``: left out, the surface, optimizers and steps are the teaching race's
    (`trajviz.race`)."""
    if teaching:
        p.add_argument("--surface", help=f"{SURFACE_HELP} (default: {DEFAULT_SURFACE}; "
                       "with --from, the run file's)")
        p.add_argument("--optimizers", help=f"{OPTIMIZERS_HELP}; a seed optimizer named "
                       "without lr runs at the surface's teaching lr (default: the seed "
                       "optimizers)")
        p.add_argument("--steps", type=integer(1), help="optimizer steps (default: the "
                       "surface's teaching step count)")
    else:
        p.add_argument("--surface", default=DEFAULT_SURFACE, help=SURFACE_HELP)
        p.add_argument("--optimizers", default=",".join(SEED_OPTIMIZERS), help=OPTIMIZERS_HELP)
        p.add_argument("--steps", type=integer(1), default=RUN_DEFAULTS["steps"],
                       help="optimizer steps")
    p.add_argument("--start", type=point, help="start point 'x,y' (default: the "
                   "surface's teaching start)")
    p.add_argument("--starts", type=points, help="several starts 'x1,y1;x2,y2'")
    p.add_argument("--scheduler", help=SCHEDULER_HELP)
    noise = keyword_defaults(noisy_surface)
    p.add_argument("--noise", type=real(0), default=noise["noise"], metavar="SIGMA",
                   help="Gaussian gradient noise std (stochastic gradient descent)")
    p.add_argument("--batch-size", type=integer(1), default=noise["batch_size"],
                   help="with --noise: noise std shrinks as SIGMA/sqrt(batch size)")
    p.add_argument("--bound", type=real(0, lo_open=True), help="diverged when |coordinate| "
                   "exceeds this (default: 1000 x the domain's extent)")
    add_engine_options(p)


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """`trajviz.run`'s keywords, as the run options give them."""
    return dict(steps=args.steps, starts=args.starts if args.starts is not None else args.start,
                scheduler=args.scheduler, device=args.device, dtype=args.dtype,
                seed=args.seed, bound=args.bound)


def main(args: argparse.Namespace) -> int:
    if args.out:
        check_writable(args.out)
    surface = noisy_surface(args.surface, args.noise, batch_size=args.batch_size,
                            seed=args.seed)
    result = run(surface, args.optimizers, **run_options(args))
    outcomes = summarize(result, surface, args.tol)
    header = ["optimizer", "start", "final loss", "dist to min", f"reached (tol {args.tol:g})",
              "diverged"]
    rows = [[o.label, f"({o.start[0]:g}, {o.start[1]:g})", f"{o.final_loss:.4g}",
             f"{o.distance:.4g}", "-" if o.reached_at < 0 else f"step {o.reached_at}",
             "-" if o.diverged_at < 0 else f"at step {o.diverged_at}"] for o in outcomes]
    print(f"{surface.spec}, {result.steps} steps, {result.meta['dtype']} on "
          f"{result.meta['device']}")
    print(format_table(header, rows))
    if args.out:
        result.save(args.out)
        print(f"wrote {args.out}")
    return 0
