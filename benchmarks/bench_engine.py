"""trajviz's batched engine against one optimizer per trajectory in a plain loop.

The plain loop is how existing visualisation scripts run optimizers: one torch.optim
optimizer per trajectory, zero_grad / loss / backward / step. It is timed on a sample of
trajectories and scaled to N; both must agree on the sampled trajectories.

    python benchmarks/bench_engine.py [--steps 500] [--sizes 4096 65536] [--device auto]

It prints the median and spread of the batched runs (and the first run of the process on
its own: it also pays for the memory the process has not touched yet), and the floor: what
writing the recorded history alone costs at this machine's measured copy bandwidth.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import surfaces
import trajviz
from trajviz import resolve_device

SPEC = "adam:lr=0.01"


def plain_loop(surface, start: np.ndarray, steps: int, device: torch.device) -> np.ndarray:
    p = torch.tensor(start, dtype=torch.float32, device=device, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        surface(p).backward()
        opt.step()
    return p.detach().cpu().numpy()


def spread(times: list[float]) -> str:
    return (f"median {np.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}, "
            f"max/min {max(times) / min(times):.2f}, {len(times)} runs)")


def copy_bandwidth(device: torch.device) -> float:
    """Bytes per second this machine copies between two large, already touched buffers."""
    src = torch.ones(64 << 20, device=device)  # 256 MB of float32
    dst = torch.empty_like(src)
    rates = []
    for _ in range(5):
        _sync(device)
        t = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        rates.append(2 * src.nbytes / (time.perf_counter() - t))  # read + write
    return float(np.median(rates))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--sample", type=int, default=32, help="trajectories timed in the loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=7, help="timed batched runs per size")
    args = parser.parse_args()
    device = resolve_device(args.device)
    surface = surfaces.get("rosenbrock")
    rng = np.random.default_rng(0)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"Adam on Rosenbrock, {args.steps} steps, float32, {device}{gpu}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    sample = rng.uniform([-2, -1], [2, 3], size=(args.sample, 2))
    plain_loop(surface, sample[0], 10, device)  # warm-up
    per_traj_times, reference = [], []
    for s in sample:
        t0 = time.perf_counter()
        reference.append(plain_loop(surface, s, args.steps, device))
        per_traj_times.append(time.perf_counter() - t0)
    per_traj = float(np.median(per_traj_times))
    print(f"plain loop: median {per_traj * 1e3:.2f} ms per trajectory (min "
          f"{min(per_traj_times) * 1e3:.2f}, max {max(per_traj_times) * 1e3:.2f}; "
          f"{args.sample} timed)")
    bandwidth = copy_bandwidth(device)

    for n in args.sizes:
        starts = rng.uniform([-2, -1], [2, 3], size=(n, 2))
        starts[: args.sample] = sample
        times = []
        for _ in range(args.repeat + 1):  # the first run is reported on its own
            _sync(device)
            t0 = time.perf_counter()
            run = trajviz.run(surface, SPEC, steps=args.steps, starts=starts, device=device,
                              progress=False)
            _sync(device)
            times.append(time.perf_counter() - t0)
            np.testing.assert_allclose(run.final_positions[: args.sample], reference,
                                       rtol=1e-5, atol=1e-5)
            del run
        first, times = times[0], times[1:]
        history = n * (args.steps + 1) * 2 * 4 * 3 + n * (args.steps + 1) * 4  # written
        floor = history / (bandwidth / 2)
        print(f"N={n}: batched {spread(times)}, full history recorded; first run in this "
              f"process {first:.3f} s; results agree with the plain loop on {args.sample} "
              f"trajectories")
        print(f"  floor: the history ({history / 1e6:.0f} MB: positions, gradients, updates, "
              f"loss) written once at this machine's copy bandwidth ({bandwidth / 1e9:.1f} "
              f"GB/s) = {floor:.3f} s")
        ratios = [per_traj * n / t for t in times]
        print(f"engine speedup at N={n}: median {per_traj * n / float(np.median(times)):.0f}x "
              f"(min {min(ratios):.0f}x, max {max(ratios):.0f}x) against the plain loop's "
              f"{per_traj * n:.0f} s (scaled)")


if __name__ == "__main__":
    main()
