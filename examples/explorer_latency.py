"""How fast the explorer answers a change, and where the time goes.

    python examples/explorer_latency.py [--steps 500] [--repeats 8] [--backend image]

Builds ``trajviz.explore()`` with the eight seed optimizers, then moves one optimizer's
learning rate to fresh values (each a cache miss: that optimizer alone re-runs), scrubs the
step slider (no re-run: blitting), and shortens the run (a slice of the cache). Prints the
median time per change split into engine, drawing and the rest. The same figures appear
in `02_explorer.ipynb`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics

import numpy as np
import torch

import trajviz
from trajviz.widgets import Timing

SMALL = os.environ.get("TRAJVIZ_SMALL") == "1"


def median_ms(timings: list[Timing], field: str) -> float:
    return 1e3 * statistics.median(getattr(t, field) for t in timings)


def line(name: str, timings: list[Timing]) -> str:
    total, engine, draw = (median_ms(timings, f) for f in ("total_s", "engine_s", "draw_s"))
    return (f"{name:<34} median {total:6.1f} ms  (engine {engine:5.1f}, draw {draw:5.1f}, "
            f"other {total - engine - draw:5.1f})  over {len(timings)} changes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100 if SMALL else 500)
    parser.add_argument("--repeats", type=int, default=3 if SMALL else 8)
    parser.add_argument("--backend", default="image", choices=("image", "ipympl"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="unused; accepted so every example script takes it")
    args = parser.parse_args()

    ui = trajviz.explore("rosenbrock", steps=args.steps, backend=args.backend,
                         device=args.device)
    if args.backend == "ipympl":
        # As in a browser, whose front end turns this off: without one, ipympl also writes
        # every picture as a full PNG for the notebook file.
        ui.view.widget.syncing_data_url = False
    c = ui.controls
    c["target"].value = "adam"
    mark = len(ui.timings)
    for lr in np.geomspace(0.011, 0.19, args.repeats):
        c["lr"].value = float(lr)
    lr_changes = ui.timings[mark:]
    mark = len(ui.timings)
    for t in np.linspace(0, args.steps, args.repeats + 1)[1:].round().astype(int):
        c["step"].value = int(t) - 1
    scrubs = ui.timings[mark:]
    mark = len(ui.timings)
    for k in range(args.repeats):
        c["steps"].value = args.steps - 5 * (k + 1)
    slices = ui.timings[mark:]
    c["steps"].value = args.steps + 20
    longer = ui.timings[-1:]
    if not all(t.rerun == 1 for t in lr_changes) or any(t.rerun for t in scrubs + slices):
        raise SystemExit("the explorer re-ran more than the change touched")

    w, h = ui.view.figure.canvas.get_width_height()
    print(f"explorer: 8 optimizers x {args.steps} steps on rosenbrock, {args.backend} view "
          f"{w}x{h} px, device {ui.run.meta['device']}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"{torch.get_num_threads()} torch threads")
    print(f"{'first build (8 optimizers run)':<34} {1e3 * ui.timings[0].total_s:6.1f} ms  "
          f"(engine {1e3 * ui.timings[0].engine_s:5.1f})")
    print(line("one learning rate (1 re-run)", lr_changes))
    print(line("step scrubber (blit)", scrubs))
    print(line("fewer steps (cache slice)", slices))
    print(line("more steps (all 8 re-run)", longer))


if __name__ == "__main__":
    main()
