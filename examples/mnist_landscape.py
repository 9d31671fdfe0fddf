"""The job of `03_mnist_landscape.ipynb` as a script: the seed tutorial's eight optimizers
training its 784-100-10 net on MNIST, on a PCA plane of their paths.

    python examples/mnist_landscape.py --data-dir ../shared/data --out /tmp/landscape

writes grid.npz (reused on the next run when nothing changed), landscape.png (the last
frame), landscape.gif, line.png (the 1-D view) and accuracy.txt (the accuracy table beside
the tutorial's published numbers). ``TRAJVIZ_SMALL=1`` makes it quick (100 iterations, an
11 x 11 grid on 1000 images).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import trajviz
from trajviz.landscape import (
    PlaneConfig,
    TrainConfig,
    build_model,
    compute_landscape,
    load_dataset,
)
from trajviz.landscape.plot import save_landscape
from trajviz.summary import format_table, save_table

SMALL = os.environ.get("TRAJVIZ_SMALL") == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="torchvision root holding MNIST/raw (default: "
                        "$TRAJVIZ_DATA or ~/.cache/trajviz/data)")
    parser.add_argument("--out", type=Path, default=Path("mnist_landscape"),
                        help="folder for the outputs (created)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_dataset("mnist", data_dir=args.data_dir)
    print(f"data: {data.meta['split']}")
    land = compute_landscape(
        build_model("mlp"), data, device=args.device, cache=args.out / "grid.npz",
        train_config=TrainConfig(iterations=100, record_every=10) if SMALL else TrainConfig(),
        plane=PlaneConfig(directions="pca", size=11 if SMALL else 41,
                          samples=1000 if SMALL else None),
        meta={"model": "mlp"})

    print(format_table(*land.table()))
    save_table(*land.table(), args.out / "accuracy.txt")

    dpi = 50 if SMALL else 100
    save_landscape(land, args.out / "landscape.png", dpi=dpi)
    save_landscape(land, args.out / "landscape.gif", dpi=dpi, fps=8)
    save_landscape(land, args.out / "line.png", view="1d", dpi=dpi)
    print(f"\noutputs in {args.out}{' (grid reused)' if land.reused else ''}")


if __name__ == "__main__":
    try:
        main()
    except trajviz.UsageError as e:  # missing data, bad option: a message, not a traceback
        sys.exit(f"{Path(__file__).name}: error: {e}")
