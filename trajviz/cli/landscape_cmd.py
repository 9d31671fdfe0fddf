"""``trajviz landscape``: train a small net with each optimizer, slice its loss landscape,
evaluate the grid, print the outcomes, draw the paths on the slice."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .._io import check_writable
from .._resolve import resolve_device
from ..errors import UsageError
from ..summary import format_table
from ._common import (
    OPTIMIZERS_HELP,
    add_command,
    dpi,
    integer,
    keyword_defaults,
    memory_mb,
    parse_numbers,
    path,
    real,
    seed_type,
)

EXAMPLES = """\
  trajviz landscape                          # the seeds' lesson: writes mnist-landscape.gif
  trajviz landscape --data-dir ../shared/data --optimizers sgd,momentum,adam --grid 41
  trajviz landscape --directions random --out random.png        # a random plane misses ~all
  trajviz landscape --directions pca-each --out each.gif        # one plane per optimizer
  trajviz landscape --directions hessian --out hessian.png      # top curvature directions
  trajviz landscape --view 3d --out landscape3d.gif
  trajviz landscape --view 1d --out line.png                    # init -> final, 1-D
  trajviz landscape --batch-size 8000 --optimizers sgd:lr=0.1   # batch gradient descent
  trajviz landscape --dataset fashionmnist --download --save-grid grid.npz
  torchrun --nproc_per_node=2 -m trajviz landscape --grid 61 --save-grid grid.npz
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..landscape import (
        DATASETS,
        MODELS,
        SEED_SETTINGS,
        PlaneConfig,
        TrainConfig,
        compute_landscape,
        load_dataset,
    )
    from ..landscape.directions import BIAS_MODES, DIRECTIONS
    from ..landscape.evaluator import METHODS
    from ..landscape.grid import MAX_GRID
    from ..landscape.plot import VIEWS, save_landscape
    from ..landscape.train import RECORDS
    from ..plot.animate import MAX_FPS

    train, plane = keyword_defaults(TrainConfig), keyword_defaults(PlaneConfig)
    pipeline, output = keyword_defaults(compute_landscape), keyword_defaults(save_landscape)
    p = add_command(sub, "landscape", "Train a small net with each optimizer and draw the "
                    "real training paths on a slice of its loss landscape.", EXAMPLES)
    g = p.add_argument_group("data and model")
    g.add_argument("--dataset", default=keyword_defaults(load_dataset)["name"],
                   choices=sorted(DATASETS), help="the images to classify")
    g.add_argument("--data-dir", help="torchvision root holding MNIST/raw/... (default: "
                   "$TRAJVIZ_DATA or ~/.cache/trajviz/data)")
    g.add_argument("--download", action="store_true",
                   help="fetch the dataset with torchvision's downloader if it is missing")
    g.add_argument("--model", default="mlp", help=f"one of {', '.join(MODELS)}")
    g = p.add_argument_group("training")
    g.add_argument("--optimizers", default=",".join(SEED_SETTINGS),
                   help=OPTIMIZERS_HELP + "; sgd, momentum and nesterov named without lr "
                   "train at the seed tutorial's lr 0.1, the others at torch's defaults")
    g.add_argument("--iterations", type=integer(1), default=train["iterations"],
                   help="optimizer steps")
    g.add_argument("--batch-size", type=integer(1), default=train["batch_size"], help="the whole "
                   "training set is batch gradient descent, 1 is stochastic gradient descent")
    g.add_argument("--record-every", type=integer(1), default=train["record_every"],
                   help="record the weights every this many steps (default: iterations / "
                   f"{RECORDS})")
    g.add_argument("--seed", type=seed_type, default=train["seed"], help="seeds the initial "
                   "weights, the batch order and the split of a test-only folder")
    g = p.add_argument_group("plane and grid")
    g.add_argument("--directions", default=plane["directions"], choices=DIRECTIONS,
                   help="pca: of all paths jointly; pca-each: each optimizer's own path, one "
                   "plane each; random: filter-normalized; hessian: the loss's top two "
                   "Hessian eigenvectors at the centre")
    g.add_argument("--bias", default=plane["bias"], choices=BIAS_MODES,
                   help="biases in random filter-normalized directions")
    g.add_argument("--centre", default=plane["centre"],
                   help="best, init, mean or an optimizer label")
    g.add_argument("--direction-seed", type=seed_type, default=plane["seed"],
                   help="seeds the random directions and the Hessian's start vector")
    g.add_argument("--grid", type=integer(2, MAX_GRID), default=plane["size"],
                   help="grid points per side")
    g.add_argument("--extent", help="amin,amax,bmin,bmax (default: around the paths for "
                   "PCA and Hessian planes, [-1,1] for random directions)")
    g.add_argument("--grid-samples", type=integer(1), help="evaluate the grid and the real loss "
                   "along the paths on the first N training images (default: all)")
    g.add_argument("--method", default=pipeline["method"], choices=METHODS,
                   help="grid evaluation")
    g.add_argument("--memory-mb", type=memory_mb, default=pipeline["memory_mb"],
                   help="working-memory budget of the grid evaluation")
    g.add_argument("--save-grid", type=path, help="write (or reuse, when nothing changed) "
                   "the grid .npz (pca-each: one file per optimizer, "
                   "<name>-<k>-<optimizer>.npz); finished chunks are checkpointed in "
                   "<file>.chunks so a rerun resumes")
    g.add_argument("--chunk-points", type=integer(1), help="grid points per chunk: the unit of "
                   "checkpoints and of each torchrun rank's share (default: from --memory-mb)")
    g.add_argument("--device", default=pipeline["device"], help="auto, cpu or cuda")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=path, help="a .gif, .mp4, .png (the last frame) or a "
                   "folder of frames; the 1-D view: .png, .svg or .pdf (default: "
                   "DATASET-landscape.gif here)")
    g.add_argument("--view", default=output["view"], choices=VIEWS,
                   help="the slice from above, in 3-D, or the 1-D line from init to final")
    g.add_argument("--frames", type=integer(1), help="animation frames (default: every record)")
    g.add_argument("--fps", type=real(0, MAX_FPS, lo_open=True), default=output["fps"],
                   help="frames per second")
    g.add_argument("--dpi", type=dpi, default=output["dpi"], help="pixels per inch")
    g.add_argument("--theme", default=output["theme"], choices=["light", "dark"],
                   help="colour theme")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: on a terminal)")
    p.set_defaults(func=main)


def parse_extent(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    from ..landscape.grid import check_extent

    values = parse_numbers(text, 4, "--extent amin,amax,bmin,bmax", "-1,1,-1,1")
    try:
        return check_extent(tuple(values))
    except UsageError as e:
        raise UsageError(f"--extent {text!r}: {str(e).removeprefix('extent: ')}") from None


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
    from ..landscape import PlaneConfig, TrainConfig, build_model, compute_landscape
    from ..landscape.data import load_dataset
    from ..landscape.plot import check_output

    # every option is checked before any data, training or grid work
    out = Path(args.out or f"{args.dataset}-landscape.gif")
    check_output(out, args.view, fps=args.fps, frames=args.frames)
    for target in (out, args.save_grid):
        if target and Path(target).suffix:
            check_writable(target)
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"cannot write frames to {str(out)!r}: folder is not empty")
    resolve_device(args.device)  # (the numbers were checked while the options were parsed)
    train_config = TrainConfig(iterations=args.iterations, batch_size=args.batch_size,
                               record_every=args.record_every, seed=args.seed)
    plane = PlaneConfig(directions=args.directions, bias=args.bias, centre=args.centre,
                        seed=args.direction_seed, size=args.grid,
                        extent=parse_extent(args.extent), samples=args.grid_samples)
    from ..teaching import net_optimizers

    specs = net_optimizers(args.optimizers)
    if not specs:
        raise UsageError("--optimizers names no optimizer")
    plane.check_centre([s.label for s in specs])
    model = build_model(args.model, seed=args.seed)
    data = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download,
                        seed=args.seed)
    if not quiet:
        print(f"data: {data.meta['dataset']} from {data.meta['root']}: {data.meta['split']}")
    started = time.perf_counter()
    land = compute_landscape(model, data, optimizers=specs, train_config=train_config,
                             plane=plane, device=args.device, method=args.method,
                             memory_mb=args.memory_mb, cache=args.save_grid,
                             meta={"model": args.model, "model_seed": args.seed},
                             chunk=args.chunk_points,
                             progress=args.progress if not quiet else False)
    if quiet:
        return 0
    _report(land, args, time.perf_counter() - started)
    from ..landscape.plot import save_landscape

    save_landscape(land, out, view=args.view, theme=args.theme, fps=args.fps,
                   frames=args.frames, dpi=args.dpi, progress=args.progress)
    print(f"wrote {out}")
    return 0


def _report(land, args: argparse.Namespace, seconds: float) -> None:  # noqa: ANN001
    from ..landscape.pipeline import plane_files

    print(format_table(*land.table()))
    g = land.grid
    if g.meta.get("tutorial_settings"):
        print("tutorial: the seed tutorial's published held-out accuracy, same net, batch "
              "size, iterations and learning rates, trained on MNIST's 60,000 training "
              "images and tested on its 10,000 test images")
    kind = g.meta["directions"]
    if kind == "pca":
        e1, e2 = g.meta["explained"]
        print(f"PCA plane: PC1 {100 * e1:.1f}%, PC2 {100 * e2:.1f}% of the paths' variance")
    elif kind == "pca-each":
        print("one PCA plane per optimizer: " + ", ".join(
            f"{grid.labels[0]} {100 * sum(grid.meta['explained']):.1f}%"
            for grid in land.grids) + " of its path's variance")
    elif kind == "hessian":
        l1, l2 = g.meta["plane"]["eigenvalues"]
        print(f"Hessian plane: top eigenvalues {l1:.4g} and {l2:.4g} at the centre")
    else:
        print("random filter-normalized plane: it captures almost none of a training path")
    losses = [x for grid in land.grids for x in (grid.loss.min(), grid.loss.max())]
    print(f"centre: {g.meta['centre'] if kind != 'pca-each' else 'each final weights'}; "
          f"grid {args.grid}x{args.grid} on {g.meta['grid_samples']} images, loss "
          f"{min(losses):.4g} .. {max(losses):.4g}"
          + (" (reused from the cache)" if land.reused else "")
          + (f" ({land.world} processes)" if land.world > 1 else "")
          + f"; {seconds:.1f} s")
    if land.reused_points:
        print(f"resumed: reused {land.reused_points} grid points from the checkpoints in "
              f"{args.save_grid}.chunks")
    if args.save_grid and not land.reused:
        files = plane_files(args.save_grid, [grid.labels[0] for grid in land.grids])
        print("wrote " + ", ".join(str(f) for f in files))
