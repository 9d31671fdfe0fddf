"""``trajviz landscape``: train a small net with each optimizer, slice its loss landscape,
evaluate the grid, print the outcomes, draw the paths on the slice."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._io import check_writable
from ..errors import UsageError
from ..resolve import resolve_device
from ._common import OPTIMIZERS_HELP, add_command, format_table

EXAMPLES = """\
  trajviz landscape --data-dir ../shared/data                   # seed settings, PCA plane
  trajviz landscape --model mlp --optimizers sgd:lr=0.1,momentum:lr=0.1,adam \\
      --directions pca --grid 41 --out landscape.gif
  trajviz landscape --directions random --out random.png        # a random plane misses ~all
  trajviz landscape --view 3d --out landscape3d.gif
  trajviz landscape --view 1d --out line.png                    # init -> final, 1-D
  trajviz landscape --batch-size 8000 --optimizers sgd:lr=0.1   # batch gradient descent
  trajviz landscape --dataset fashionmnist --download --save-grid grid.npz
  torchrun --nproc_per_node=2 -m trajviz landscape --grid 61 --save-grid grid.npz
"""
VIEWS = ("2d", "3d", "1d")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..landscape import DATASETS, MODELS, SEED_SETTINGS
    from ..landscape.directions import BIAS_MODES, DIRECTIONS
    from ..landscape.evaluator import DEFAULT_MEMORY_MB, METHODS

    p = add_command(sub, "landscape", "Train a small net with each optimizer and draw the "
                    "real training paths on a slice of its loss landscape.", EXAMPLES)
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    g.add_argument("--data-dir", help="torchvision root holding MNIST/raw/... (default: "
                   "$TRAJVIZ_DATA or ~/.cache/trajviz/data)")
    g.add_argument("--download", action="store_true",
                   help="fetch the dataset with torchvision's downloader if it is missing")
    g.add_argument("--model", default="mlp", help=f"one of {', '.join(MODELS)}")
    g = p.add_argument_group("training")
    g.add_argument("--optimizers", default=",".join(SEED_SETTINGS), help=OPTIMIZERS_HELP)
    g.add_argument("--iterations", type=int, default=500)
    g.add_argument("--batch-size", type=int, default=100, help="the whole training set is "
                   "batch gradient descent, 1 is stochastic gradient descent")
    g.add_argument("--record-every", type=int, help="record the weights every this many "
                   "steps (default: iterations / 50)")
    g.add_argument("--seed", type=int, default=0, help="seeds the initial weights, the batch "
                   "order and the split of a test-only folder")
    g = p.add_argument_group("plane and grid")
    g.add_argument("--directions", default="pca", choices=DIRECTIONS)
    g.add_argument("--bias", default="zero", choices=BIAS_MODES,
                   help="biases in random filter-normalized directions")
    g.add_argument("--centre", default="best", help="best, init, mean or an optimizer label")
    g.add_argument("--direction-seed", type=int, default=0)
    g.add_argument("--grid", type=int, default=41, help="grid points per side")
    g.add_argument("--extent", help="amin,amax,bmin,bmax (default: around the paths for "
                   "PCA, [-1,1] for random directions)")
    g.add_argument("--grid-samples", type=int, help="evaluate the grid on the first N "
                   "training images (default: all)")
    g.add_argument("--method", default="auto", choices=METHODS, help="grid evaluation")
    g.add_argument("--memory-mb", type=float, default=DEFAULT_MEMORY_MB,
                   help="working-memory budget of the grid evaluation")
    g.add_argument("--save-grid", help="write (or reuse, when nothing changed) the grid .npz; "
                   "finished chunks are checkpointed in <file>.chunks so a rerun resumes")
    g.add_argument("--chunk-points", type=int, help="grid points per chunk: the unit of "
                   "checkpoints and of each torchrun rank's share (default: from --memory-mb)")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g = p.add_argument_group("output")
    g.add_argument("--out", help=".gif, .mp4, .png or a folder of frames")
    g.add_argument("--view", default="2d", choices=VIEWS)
    g.add_argument("--frames", type=int, help="animation frames (default: every record)")
    g.add_argument("--fps", type=int, default=8)
    g.add_argument("--theme", default="light", choices=["light", "dark"])
    p.set_defaults(func=main)


def parse_extent(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise UsageError(f"--extent must be 'amin,amax,bmin,bmax', got {text!r}")
    return values  # type: ignore[return-value]


def main(args: argparse.Namespace) -> int:
    """Under torchrun, every rank runs this; only rank 0 prints and writes, and an error
    names the rank it happened on."""
    from ..landscape.distributed import context

    ctx = context()
    try:
        return _main(args, quiet=not ctx.main)
    except UsageError as e:
        if ctx.active:
            raise UsageError(f"rank {ctx.rank} of {ctx.world}: {e}") from None
        raise


def _main(args: argparse.Namespace, *, quiet: bool) -> int:
    from ..landscape import (
        PlaneConfig,
        TrainConfig,
        build_model,
        compute_landscape,
        load_dataset,
    )

    for path in (args.out, args.save_grid):
        if path and Path(path).suffix:
            check_writable(path)
    resolve_device(args.device)
    if args.chunk_points is not None and args.chunk_points < 1:
        raise UsageError(f"--chunk-points must be at least 1, got {args.chunk_points}")
    model = build_model(args.model, seed=args.seed)
    train_config = TrainConfig(iterations=args.iterations, batch_size=args.batch_size,
                               record_every=args.record_every or max(1, args.iterations // 50),
                               seed=args.seed)
    plane = PlaneConfig(directions=args.directions, bias=args.bias, centre=args.centre,
                        seed=args.direction_seed, size=args.grid,
                        extent=parse_extent(args.extent), samples=args.grid_samples)
    data = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download,
                        seed=args.seed)
    if not quiet:
        print(f"{data.meta['dataset']}: {data.meta['split']}")
    started = time.perf_counter()
    land = compute_landscape(model, data, optimizers=args.optimizers, train_config=train_config,
                             plane=plane, device=args.device, method=args.method,
                             memory_mb=args.memory_mb, cache=args.save_grid,
                             meta={"model": args.model, "model_seed": args.seed},
                             chunk=args.chunk_points,
                             progress=None if not quiet else False)
    if quiet:
        return 0
    g = land.grid
    header, rows = land.training.table()
    header += ["plane misses (steps)", "(net)"]
    for row, a, b in zip(rows, g.meta["missed_steps"], g.meta["missed_net"], strict=True):
        row += [f"{100 * a:.1f}%", f"{100 * b:.1f}%"]
    print(format_table(header, rows))
    if g.meta["explained"]:
        e1, e2 = g.meta["explained"]
        print(f"PCA plane: PC1 {100 * e1:.1f}%, PC2 {100 * e2:.1f}% of the paths' variance")
    else:
        print("random filter-normalized plane: it captures almost none of a training path")
    print(f"centre: {g.meta['centre']}; grid {args.grid}x{args.grid} on "
          f"{g.meta['grid_samples']} images, loss {g.loss.min():.4g} .. {g.loss.max():.4g}"
          + (" (reused from the cache)" if land.reused else "")
          + (f" ({land.world} processes)" if land.world > 1 else "")
          + f"; {time.perf_counter() - started:.1f} s")
    if land.reused_points:
        print(f"resumed: reused {land.reused_points} of {args.grid ** 2} grid points from the "
              f"checkpoints in {args.save_grid}.chunks")
    if args.save_grid and not land.reused:
        print(f"wrote {args.save_grid}")
    if args.out:
        _draw(land, args)
        print(f"wrote {args.out}")
    return 0


def _draw(land, args: argparse.Namespace) -> None:  # noqa: ANN001 (Landscape, lazily imported)
    from ..landscape.plot import landscape_figure, line_figure
    from ..plot import save

    if args.view == "1d":
        save(line_figure(land, theme=args.theme), args.out)
        return
    rf = landscape_figure(land, view=args.view, theme=args.theme)
    if Path(args.out).suffix.lower() == ".png":
        rf.set_step(rf.run.steps)
        save(rf.fig, args.out)
        return
    save(rf, args.out, fps=args.fps, frames=args.frames)
