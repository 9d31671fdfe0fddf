"""A small CNN with BatchNorm on FashionMNIST, end to end through `trajviz.loss_landscape`.

Trains the net briefly, then evaluates its loss on a filter-normalized random plane
through the trained weights (BatchNorm statistics kept fixed, its parameters left out of
the directions) and draws the contours. Runs unchanged under torchrun, which shares the grid:

    python examples/fashion_cnn.py --data-dir ~/data --download --out fashion.png
    torchrun --nproc_per_node=2 examples/fashion_cnn.py --data-dir ~/data --out fashion.png

``TRAJVIZ_SMALL=1`` makes everything small (the tests use it; MNIST stands in for
FashionMNIST where only MNIST is on disk: ``--dataset mnist``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn
from torch.nn import functional as F

import trajviz
from trajviz.landscape import load_dataset
from trajviz.landscape.distributed import context

SMALL = os.environ.get("TRAJVIZ_SMALL") == "1"


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--download", action="store_true")
    ap.add_argument("--dataset", default="fashionmnist")
    ap.add_argument("--steps", type=int, default=30 if SMALL else 300)
    ap.add_argument("--grid", type=int, default=7 if SMALL else 31)
    ap.add_argument("--samples", type=int, default=300 if SMALL else 5000)
    ap.add_argument("--out", default="fashion_cnn.png")
    ap.add_argument("--save-grid", help="also write the grid .npz")
    args = ap.parse_args()

    data = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download)
    torch.manual_seed(0)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(args.steps):
        idx = torch.randint(len(data.train_x), (100,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(data.train_x[idx]), data.train_y[idx]).backward()
        opt.step()
    model.eval()  # stays in eval mode: BatchNorm uses its running statistics

    grid = trajviz.loss_landscape(model, F.cross_entropy, (data.test_x, data.test_y),
                                  directions="random", grid=args.grid, samples=args.samples,
                                  batchnorm="exclude", save=args.save_grid)
    if not context().main:
        return
    fig = Figure(figsize=(6, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cs = ax.contourf(grid.alpha, grid.beta, grid.loss, levels=30, cmap="viridis")
    fig.colorbar(cs, label="held-out loss")
    ax.plot(0, 0, "w*", markersize=12)
    ax.set_xlabel("random direction 1 (filter-normalized)")
    ax.set_ylabel("random direction 2")
    ax.set_title(f"CNN + BatchNorm on {args.dataset}: loss around the trained weights")
    fig.savefig(args.out)
    centre = grid.loss[args.grid // 2, args.grid // 2]
    print(f"loss at the trained weights {centre:.4f}, grid {grid.loss.min():.4f} .. "
          f"{grid.loss.max():.4f}; wrote {args.out}")


if __name__ == "__main__":
    try:
        main()
    except trajviz.UsageError as e:  # missing data, bad option: a message, not a traceback
        sys.exit(f"{Path(__file__).name}: error: {e}")
