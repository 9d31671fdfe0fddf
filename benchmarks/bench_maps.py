"""Basin map of Adam on Himmelblau (256 x 256 starts, 500 steps), end to end with the figure,
against the plain loop that runs one trajectory at a time (timed on a sample and scaled).
Also times a 64 x 64 sweep's settings per second against the same plain loop.

Run: ``python benchmarks/bench_maps.py [--grid 256 --steps 500 --device auto --repeats 3]``
(on a GPU: ``--device cuda --grid 1024``). Times are medians with min-max over the repeats.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

import surfaces
from trajviz import resolve_device
from trajviz.maps import basins, plot_basins, save_figure, sweep

OPT = "adam:lr=0.05"


def plain_loop_seconds(starts: np.ndarray, steps: int, device: torch.device, lr: float = 0.05,
                       betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """The loop a user writes: one parameter, one optimizer, one trajectory at a time."""
    fn = surfaces.get("himmelblau").fn
    t0 = time.perf_counter()
    for x0 in starts:
        p = torch.tensor(x0, dtype=torch.float32, device=device, requires_grad=True)
        opt = torch.optim.Adam([p], lr=lr, betas=betas)
        for _ in range(steps):
            opt.zero_grad()
            fn(p).backward()
            opt.step()
        p.detach().cpu()  # waits for the device
    return (time.perf_counter() - t0) / len(starts)


def spread(times: list[float]) -> str:
    return f"median {np.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--sample", type=int, default=24, help="starts timed in the plain loop")
    ap.add_argument("--sweep", type=int, default=24, help="sweep side (0 to skip)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--repeats", type=int, default=3, help="timed basin maps")
    args = ap.parse_args()
    n = args.grid**2
    dev = resolve_device(args.device)
    gpu = f", {torch.cuda.get_device_name(dev)}" if dev.type == "cuda" else ""
    print(f"torch {torch.__version__}, {dev}{gpu}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")

    basins("himmelblau", OPT, grid=8, steps=5, progress=False, device=dev)  # warm-up
    runs, figures, walls = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            m = basins("himmelblau", OPT, grid=args.grid, steps=args.steps, progress=False,
                       device=dev)
            t1 = time.perf_counter()
            save_figure(plot_basins(m), os.path.join(tmp, "basins.png"))
            t2 = time.perf_counter()
            runs.append(t1 - t0)
            figures.append(t2 - t1)
            walls.append(t2 - t0)
    wall = float(np.median(walls))
    rng = np.random.default_rng(0)
    sample = rng.uniform(-5, 5, size=(args.sample, 2))
    plain_loop_seconds(sample[:1], 5, dev)  # warm-up
    per_traj = plain_loop_seconds(sample, args.steps, dev)
    plain = per_traj * n
    frac = m.fractions(0)
    print(f"basins map: {args.grid}x{args.grid} = {n} runs x {args.steps} steps of {OPT} "
          f"on {dev}: runs {spread(runs)} + figure {spread(figures)}")
    print(f"  converged {frac['converged']:.1%}, diverged {frac['diverged']:.1%}")
    print(f"plain one-at-a-time loop on {dev}: {per_traj * 1e3:.1f} ms per trajectory "
          f"(sample of {args.sample}), {plain:.0f} s for {n} (scaled)")
    print(f"basins wall time: {spread(walls)}")
    print(f"basins speedup: {plain / wall:.0f}x (median)")

    if args.sweep:
        k = args.sweep
        t0 = time.perf_counter()
        s = sweep("himmelblau", "adam", [f"lr=1e-3:0.5:log:{k}", f"betas[0]=0.5:0.99:{k}"],
                  steps=args.steps, start=(-0.5, 0.0), progress=False, device=dev)
        ts = time.perf_counter() - t0
        per_setting = plain_loop_seconds(sample[:8], args.steps, dev)
        print(f"sweep: {s.final_loss.size} settings x {args.steps} steps (param groups): "
              f"{ts:.2f} s, {ts / s.final_loss.size * 1e3:.1f} ms per setting; plain loop "
              f"{per_setting * 1e3:.1f} ms per setting")
        print(f"sweep speedup: {per_setting * s.final_loss.size / ts:.1f}x")


if __name__ == "__main__":
    main()
