"""Grid evaluation: trajviz against the loss-landscapes library's loop.

The reference re-implements what ``loss_landscapes.random_plane`` does for each grid point:
move the live parameters in place to the next point (serpentine order, one direction step
at a time), run one forward pass over all the images, and take one ``.item()``. trajviz
evaluates the same grid with `PlaneEvaluator` (the affine first-layer algebra, batched
points, cache-sized blocks). Both must agree; the script prints the speedup.

    python benchmarks/bench_landscape.py --data-dir ../shared/data
    python benchmarks/bench_landscape.py --data-dir ../shared/data --nproc 2

``--nproc N`` instead times a 61 x 61 grid (`trajviz.loss_landscape`) in one process and
under ``torchrun --nproc_per_node=N`` (gloo on the CPU, NCCL on GPUs), checks that the two
grids are identical, and prints the scaling.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from trajviz.landscape import (
    Grid,
    PlaneEvaluator,
    build_model,
    evaluate_grid,
    load_dataset,
    loss_landscape,
    random_plane,
)
from trajviz.landscape.distributed import context
from trajviz.resolve import resolve_device


def loss_landscapes_loop(model: nn.Module, plane, alpha: np.ndarray, beta: np.ndarray,
                         x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """loss-landscapes' loop: live parameters moved in place, one forward and one ``.item()``
    per point. Returns ``loss[i, j]`` at ``(alpha[j], beta[i])``.

    (loss-landscapes itself steps before evaluating on every column, which shifts its odd
    columns by one point; here every column evaluates the exact grid points, with the same
    work per point.)
    """
    params = list(model.parameters())
    sizes = [p.numel() for p in params]

    def split(v: torch.Tensor) -> list[torch.Tensor]:
        return [t.view_as(p) for t, p in zip(torch.split(v, sizes), params, strict=True)]

    step_a = split((alpha[1] - alpha[0]) * plane.d1.to(x.device))
    step_b = split((beta[1] - beta[0]) * plane.d2.to(x.device))
    start = split(plane.point(float(alpha[0]), float(beta[0])).to(x.device))
    loss_fn = nn.CrossEntropyLoss()
    g_a, g_b = len(alpha), len(beta)
    out = np.empty((g_a, g_b))
    with torch.no_grad():
        for p, s in zip(params, start, strict=True):
            p.copy_(s)
        for i in range(g_a):
            order = range(g_b) if i % 2 == 0 else range(g_b - 1, -1, -1)
            for n, j in enumerate(order):
                if n:
                    for p, d in zip(params, step_b, strict=True):
                        p.add_(d) if i % 2 == 0 else p.sub_(d)
                out[i, j] = loss_fn(model(x), y).item()
            for p, d in zip(params, step_a, strict=True):
                p.add_(d)
    return out.T


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--grid", type=int, default=41)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nproc", type=int, help="time 1 process against torchrun with N")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # one timed grid, saved here
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.nproc:
        return scaling(args)

    dev = resolve_device(args.device)
    d = load_dataset("mnist", data_dir=args.data_dir)
    x = torch.cat([d.train_x, d.test_x])[:args.images].to(dev)
    y = torch.cat([d.train_y, d.test_y])[:args.images].to(dev)
    model = build_model("mlp", seed=0)
    plane = random_plane(model, parameters_to_vector(model.parameters()).detach(), seed=0)
    alpha = beta = np.linspace(-1.0, 1.0, args.grid)
    print(f"MLP 784-100-10, {args.grid}x{args.grid} grid, {len(x)} MNIST images, {dev}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    evaluator = PlaneEvaluator(model, plane, x, y, device=dev)
    evaluate_grid(evaluator, alpha[:3], beta[:3], progress=False)  # warm-up
    fast = []
    for _ in range(args.repeats):
        sync()
        t = time.perf_counter()
        loss, _ = evaluate_grid(evaluator, alpha, beta, progress=False)
        sync()
        fast.append(time.perf_counter() - t)
    ours = loss.reshape(args.grid, args.grid)

    live = build_model("mlp", seed=0).to(dev)
    sync()
    t = time.perf_counter()
    ref = loss_landscapes_loop(live, plane, alpha, beta, x, y)
    sync()
    slow = time.perf_counter() - t

    diff = float(np.abs(ours - ref).max())
    print(f"loss-landscapes loop: {slow:.2f} s ({1e3 * slow / ours.size:.2f} ms per point)")
    print(f"trajviz ({evaluator.method}): {min(fast):.3f} s (best of {args.repeats}; "
          f"{1e3 * min(fast) / ours.size:.3f} ms per point)")
    print(f"max |difference|: {diff:.2e} (the loop's in-place steps accumulate rounding)")
    if not diff <= 1e-4:
        raise SystemExit(f"values differ by {diff:.3g}")
    print(f"landscape speedup: {slow / min(fast):.1f}x")


def _data(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    d = load_dataset("mnist", data_dir=args.data_dir)
    x = torch.cat([d.train_x, d.test_x])[:args.images]
    return x, torch.cat([d.train_y, d.test_y])[:args.images]


def worker(args: argparse.Namespace) -> None:
    """One grid with `loss_landscape` (under torchrun: this rank's share); rank 0 reports."""
    x, y = _data(args)
    model = build_model("mlp", seed=0)
    t = time.perf_counter()
    grid = loss_landscape(model, nn.functional.cross_entropy, (x, y), grid=args.grid,
                          device=args.device, progress=False)
    elapsed = time.perf_counter() - t
    if context().main:
        grid.save(args.worker)
        print(f"grid_seconds={elapsed:.4f}")


def scaling(args: argparse.Namespace) -> None:
    grid = 61 if args.grid == 41 else args.grid
    print(f"MLP 784-100-10, {grid}x{grid} grid, {args.images} MNIST images, "
          f"{resolve_device(args.device)}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    base = [__file__, "--data-dir", args.data_dir, "--grid", str(grid), "--images",
            str(args.images), "--device", args.device]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, args.nproc):
            out = os.path.join(tmp, f"grid{n}.npz")
            cmd = [sys.executable, *base, "--worker", out] if n == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={n}", *base, "--worker", out]
            t = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if r.returncode:
                raise SystemExit(f"{n} process(es) failed:\n{r.stderr[-2000:]}")
            seconds = float(r.stdout.split("grid_seconds=")[1].split()[0])
            results[n] = (seconds, wall, Grid.load(out))
            threads = "torch default threads" if n == 1 else "1 thread each (torchrun)"
            print(f"{n} process(es), {threads}: grid {seconds:.2f} s "
                  f"(whole command {wall:.1f} s with Python and torchrun start-up)")
    same = np.array_equal(results[1][2].loss, results[args.nproc][2].loss)
    print(f"identical grids: {same}")
    if not same:
        raise SystemExit("the grids differ")
    print(f"landscape scaling 1 -> {args.nproc} processes: "
          f"{results[1][0] / results[args.nproc][0]:.2f}x")


if __name__ == "__main__":
    main()
