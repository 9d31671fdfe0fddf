"""trajviz's batched engine against one optimizer per trajectory in a plain loop.

The plain loop is how existing visualisation scripts run optimizers: one torch.optim
optimizer per trajectory, zero_grad / loss / backward / step. It is timed on a sample of
trajectories and scaled to N; both must agree on the sampled trajectories.

    python benchmarks/bench_engine.py [--steps 500] [--sizes 4096 65536] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import surfaces
import trajviz
from trajviz.resolve import resolve_device

SPEC = "adam:lr=0.01"


def plain_loop(surface, start: np.ndarray, steps: int, device: torch.device) -> np.ndarray:
    p = torch.tensor(start, dtype=torch.float32, device=device, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        surface(p).backward()
        opt.step()
    return p.detach().cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--sample", type=int, default=32, help="trajectories timed in the loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="batched runs; the best counts")
    args = parser.parse_args()
    device = resolve_device(args.device)
    surface = surfaces.get("rosenbrock")
    rng = np.random.default_rng(0)
    print(f"Adam on Rosenbrock, {args.steps} steps, float32, {device}, "
          f"{torch.get_num_threads()} threads")

    sample = rng.uniform([-2, -1], [2, 3], size=(args.sample, 2))
    plain_loop(surface, sample[0], 10, device)  # warm-up
    t0 = time.perf_counter()
    reference = np.stack([plain_loop(surface, s, args.steps, device) for s in sample])
    per_traj = (time.perf_counter() - t0) / args.sample
    print(f"plain loop: {per_traj * 1e3:.2f} ms per trajectory ({args.sample} timed)")

    for n in args.sizes:
        starts = rng.uniform([-2, -1], [2, 3], size=(n, 2))
        starts[: args.sample] = sample
        trajviz.run(surface, SPEC, steps=5, starts=starts, device=device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(args.repeat):  # best of a few: the first run also pays page faults
            t0 = time.perf_counter()
            run = trajviz.run(surface, SPEC, steps=args.steps, starts=starts, device=device,
                              progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        batched = min(times)
        np.testing.assert_allclose(run.final_positions[: args.sample], reference,
                                   rtol=1e-5, atol=1e-5)
        print(f"N={n}: batched {batched:.2f} s (best of {', '.join(f'{t:.2f}' for t in times)};"
              f" full history recorded), plain loop "
              f"{per_traj * n:.0f} s (scaled); results agree on {args.sample} trajectories")
        print(f"engine speedup at N={n}: {per_traj * n / batched:.0f}x")


if __name__ == "__main__":
    main()
