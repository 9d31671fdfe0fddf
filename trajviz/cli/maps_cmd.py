"""``trajviz basins`` and ``trajviz sweep``: convergence maps from many exact runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._io import check_writable
from ..errors import UsageError
from ..maps import basins, parse_param, plot_basins, plot_sweep, save_figure, sweep
from ..plot.still import figure_format
from ..summary import format_table
from ._common import (
    OPTIMIZERS_HELP,
    SCHEDULER_HELP,
    SURFACE_HELP,
    add_command,
    add_engine_options,
    integer,
    memory_mb,
    option,
    parse_numbers,
    path,
    point,
    real,
)

BASINS_EXAMPLES = """\
  trajviz basins --surface himmelblau --optimizer momentum --grid 256 --steps 500 \\
      --out basins.png
  trajviz basins --surface himmelblau --optimizers 'sgd:lr=0.01,momentum:lr=0.01,adam:lr=0.05' \\
      --out basins.png            # side by side; per-start results in basins.npz
  trajviz basins --surface six_hump_camel --optimizers adam:lr=0.02 --grid 400x240 \\
      --scheduler steplr:step_size=100,gamma=0.5 --out camel.png
"""

SWEEP_EXAMPLES = """\
  trajviz sweep --surface rosenbrock --optimizer adam --param lr=1e-4:1:log:64 \\
      --param 'betas[0]=0.5:0.999:64' --steps 500 --out sweep.png
  trajviz sweep --surface quadratic:kappa=50 --optimizer sgd --param lr=1e-3:0.2:log:64 \\
      --out stability.png         # diverges above lr = 2/50, as theory says
  trajviz sweep --surface himmelblau --optimizer sgd --param lr=1e-3:0.05:log:48 \\
      --param momentum=0,0.5,0.9,0.99 --start 0,0 --out momentum.png

  --param NAME=LO:HI[:log|:lin]:N   N values from LO to HI inclusive
  --param NAME[I]=LO:HI:N           entry I of a tuple hyperparameter (Adam's betas)
  --param NAME=V1,V2,...            a list of Python literals
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "basins", "Map which minimum each start of a grid converges to, "
                    "and how fast, for one or more optimizers side by side.", BASINS_EXAMPLES)
    p.add_argument("--surface", default="himmelblau", help=SURFACE_HELP)
    p.add_argument("--optimizers", "--optimizer", default="sgd:lr=0.01,momentum:lr=0.01,"
                   "adam:lr=0.05", help=OPTIMIZERS_HELP)
    p.add_argument("--grid", type=grid_size, default=(256, 256),
                   help="starts per side: N or NXxNY")
    p.add_argument("--domain", type=domain,
                   help="x0,x1,y0,y1 (default: the surface's plotting domain)")
    _add_map_options(p)
    p.set_defaults(func=main_basins)

    p = add_command(sub, "sweep", "Map final loss and steps to converge over one or two "
                    "swept hyperparameters (every combination, one start).", SWEEP_EXAMPLES)
    p.add_argument("--surface", default="rosenbrock", help=SURFACE_HELP)
    p.add_argument("--optimizer", "--optimizers", dest="optimizer", default="adam",
                   help="one optimizer spec NAME[:key=value,...]; swept values override it")
    p.add_argument("--param", action="append", required=True,
                   metavar="SPEC", help="a swept hyperparameter (once or twice); see below")
    p.add_argument("--start", type=point,
                   help="start point 'x,y' (default: the surface's teaching start)")
    _add_map_options(p)
    p.set_defaults(func=main_sweep)


def _add_map_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=integer(1), default=500)
    p.add_argument("--tol", type=real(0, lo_open=True), help="converged = stays within this "
                   "distance of a known minimum (default: 1/1000 of the domain's diagonal)")
    p.add_argument("--scheduler", help=SCHEDULER_HELP + "; step-based only")
    p.add_argument("--bound", type=real(0, lo_open=True), help="diverged when |coordinate| "
                   "exceeds this (default: 1000 x the domain's extent)")
    p.add_argument("--memory-mb", type=memory_mb, default=512.0,
                   help="memory budget per chunk of runs; larger maps run in chunks")
    p.add_argument("--out", required=True, type=path,
                   help="figure file (.png, .pdf, .svg, ...)")
    p.add_argument("--npz", type=path,
                   help="per-run results (default: the figure's path with .npz)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_engine_options(p)


def _parse_grid(text: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise UsageError(f"expected a grid size N or NXxNY of positive integers such as 256 "
                         f"or 320x240, got {text!r}")
    return (parts[0], parts[-1])


def _parse_domain(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    x0, x1, y0, y1 = parse_numbers(text, 4, "a domain x0,x1,y0,y1", "-5,5,-5,5")
    return (x0, x1), (y0, y1)


grid_size = option(_parse_grid, "grid")
domain = option(_parse_domain, "domain")


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    out = check_writable(args.out)
    figure_format(out)
    npz = check_writable(args.npz if args.npz else out.with_suffix(".npz"))
    if npz.suffix != ".npz":
        raise UsageError(f"--npz must end in .npz, got {str(npz)!r}")
    if npz.resolve() == out.resolve():
        raise UsageError("--out and --npz name the same file")
    return out, npz


def _common(args: argparse.Namespace) -> dict:
    return dict(steps=args.steps, tol=args.tol, scheduler=args.scheduler, device=args.device,
                dtype=args.dtype, seed=args.seed, bound=args.bound, memory_mb=args.memory_mb,
                progress=False if args.no_progress else None)


def main_basins(args: argparse.Namespace) -> int:
    out, npz = _outputs(args)
    result = basins(args.surface, args.optimizers, grid=args.grid, domain=args.domain,
                    **_common(args))
    fig = plot_basins(result)
    save_figure(fig, out)
    result.save(npz)
    rows = [[s.label, f"{s.converged:.1%}", " ".join(f"{f:.0%}" for f in s.per_minimum) or "-",
             f"{s.not_converged:.1%}", f"{s.diverged:.1%}",
             "-" if s.median_steps is None else str(s.median_steps)]
            for s in result.summary()]
    print(f"{result.meta['surface']}: {result.xs.size} x {result.ys.size} starts, "
          f"{result.steps} steps, tol {result.tol:.3g}, {result.meta['dtype']} on "
          f"{result.meta['device']}")
    print(format_table(["optimizer", "converged", "per minimum", "not converged", "diverged",
                        "median steps"], rows))
    print(f"wrote {out} and {npz}")
    return 0


def main_sweep(args: argparse.Namespace) -> int:
    out, npz = _outputs(args)
    axes = [parse_param(p) for p in args.param]
    result = sweep(args.surface, args.optimizer, axes, start=args.start, **_common(args))
    fig = plot_sweep(result)
    save_figure(fig, out)
    result.save(npz)
    summary = result.summary()
    print(f"{result.label} on {result.meta['surface']}: {summary.runs} runs of "
          f"{result.steps} steps from ({result.start[0]:g}, {result.start[1]:g}); "
          f"{summary.diverged:.1%} diverged, {summary.converged:.1%} converged "
          f"(tol {result.tol:.3g})")
    if summary.best is not None:
        best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
                         for k, v in summary.best.items())
        print(f"lowest final loss {summary.best_loss:.4g} at {best}")
    print(f"wrote {out} and {npz}")
    return 0
