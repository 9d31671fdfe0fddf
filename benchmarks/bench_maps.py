"""Basin map of Adam on Himmelblau (256 x 256 starts, 500 steps), end to end with the figure,
against the plain loop that runs one trajectory at a time (timed on a sample and scaled).
Also times a 64 x 64 sweep's settings per second against the same plain loop.

Run: ``flock /tmp/trajviz-cpu.lock python benchmarks/bench_maps.py [--grid 256 --steps 500]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

import surfaces
from trajviz.maps import basins, plot_basins, save_figure, sweep

OPT = "adam:lr=0.05"


def plain_loop_seconds(starts: np.ndarray, steps: int, lr: float = 0.05,
                       betas: tuple[float, float] = (0.9, 0.999)) -> float:
    """The loop a user writes: one parameter, one optimizer, one trajectory at a time."""
    fn = surfaces.get("himmelblau").fn
    t0 = time.perf_counter()
    for x0 in starts:
        p = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
        opt = torch.optim.Adam([p], lr=lr, betas=betas)
        for _ in range(steps):
            opt.zero_grad()
            fn(p).backward()
            opt.step()
    return (time.perf_counter() - t0) / len(starts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--sample", type=int, default=24, help="starts timed in the plain loop")
    ap.add_argument("--sweep", type=int, default=24, help="sweep side (0 to skip)")
    args = ap.parse_args()
    n = args.grid**2
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")

    basins("himmelblau", OPT, grid=8, steps=5, progress=False)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        m = basins("himmelblau", OPT, grid=args.grid, steps=args.steps, progress=False)
        t1 = time.perf_counter()
        save_figure(plot_basins(m), os.path.join(tmp, "basins.png"))
        t2 = time.perf_counter()
    wall = t2 - t0
    rng = np.random.default_rng(0)
    sample = rng.uniform(-5, 5, size=(args.sample, 2))
    per_traj = plain_loop_seconds(sample, args.steps)
    plain = per_traj * n
    frac = m.fractions(0)
    print(f"basins map: {args.grid}x{args.grid} = {n} runs x {args.steps} steps of {OPT}: "
          f"runs {t1 - t0:.2f} s + figure {t2 - t1:.2f} s")
    print(f"  converged {frac['converged']:.1%}, diverged {frac['diverged']:.1%}")
    print(f"plain one-at-a-time loop: {per_traj * 1e3:.1f} ms per trajectory "
          f"(sample of {args.sample}), {plain:.0f} s for {n} (scaled)")
    print(f"basins wall time: {wall:.2f} s")
    print(f"basins speedup: {plain / wall:.0f}x")

    if args.sweep:
        k = args.sweep
        t0 = time.perf_counter()
        s = sweep("himmelblau", "adam", [f"lr=1e-3:0.5:log:{k}", f"betas[0]=0.5:0.99:{k}"],
                  steps=args.steps, start=(-0.5, 0.0), progress=False)
        ts = time.perf_counter() - t0
        per_setting = plain_loop_seconds(sample[:8], args.steps)
        print(f"sweep: {s.final_loss.size} settings x {args.steps} steps (param groups): "
              f"{ts:.2f} s, {ts / s.final_loss.size * 1e3:.1f} ms per setting; plain loop "
              f"{per_setting * 1e3:.1f} ms per setting")
        print(f"sweep speedup: {per_setting * s.final_loss.size / ts:.1f}x")


if __name__ == "__main__":
    main()
