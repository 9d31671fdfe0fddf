"""Grid evaluation: trajviz against the real loss-landscapes library and its loop.

Three measurements of the MLP 784-100-10 on 10,000 MNIST images, 41 x 41 points:

1. The real ``loss_landscapes.random_plane`` (PyPI ``loss-landscapes``, the ``bench`` extra;
   filter normalization, ``deepcopy_model=True``) against the whole
   ``trajviz.loss_landscape`` call (random filter-normalized plane, same grid size), run in
   turn (A B A B ...); prints each one's median with min-max and the ratio pair by pair.
   The two use their own random directions, so the values are checked at the centre.
2. The same grid with trajviz's `PlaneEvaluator` and with a re-implementation of
   loss-landscapes' loop on the *same* plane (move the live parameters in place, one
   forward pass and one ``.item()`` per point); the values must agree.
3. The compute floor: the grid's floating-point work at this machine's measured
   matrix-multiply rate.

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
from importlib.metadata import version

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from trajviz import resolve_device
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


def spread(times: list[float], unit: str = "s", digits: int = 3) -> str:
    return (f"median {np.median(times):.{digits}f} {unit} (min {min(times):.{digits}f}, "
            f"max {max(times):.{digits}f}, {len(times)} runs)")


def matmul_rate(dev: torch.device) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s) on a large product."""
    a = torch.randn(4096, 1024, device=dev)
    b = torch.randn(1024, 1024, device=dev)
    a @ b
    rates = []
    for _ in range(5):
        _sync(dev)
        t = time.perf_counter()
        a @ b
        _sync(dev)
        rates.append(2 * 4096 * 1024 * 1024 / (time.perf_counter() - t))
    return float(np.median(rates))


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def peer_and_whole_call(model: nn.Module, x: torch.Tensor, y: torch.Tensor, grid: int,
                        dev: torch.device, repeats: int) -> None:
    """The real library against the whole trajviz call, in turn."""
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        print("loss-landscapes is not installed (pip install -e '.[bench]'): skipping the "
              "comparison with the real library")
        return
    metric = loss_landscapes.metrics.Loss(nn.functional.cross_entropy, x, y)
    loss_landscape(model, nn.functional.cross_entropy, (x[:64], y[:64]), grid=3,
                   device=dev, progress=False)  # warm-up
    peer, ours = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        values = loss_landscapes.random_plane(model, metric, distance=1, steps=grid,
                                              normalization="filter", deepcopy_model=True)
        _sync(dev)
        peer.append(time.perf_counter() - t)
        t = time.perf_counter()
        g = loss_landscape(model, nn.functional.cross_entropy, (x, y), grid=grid, device=dev,
                           progress=False)
        _sync(dev)
        ours.append(time.perf_counter() - t)
    assert values.shape == g.loss.shape == (grid, grid)
    centre_peer = loss_landscapes.point(model, metric)
    centre_ours = float(g.loss[grid // 2, grid // 2])
    print(f"loss-landscapes {version('loss-landscapes')} random_plane: "
          f"{spread(peer, digits=2)}")
    print(f"trajviz.loss_landscape (whole call): {spread(ours)}")
    print(f"loss at the centre: loss-landscapes {centre_peer:.6f}, trajviz {centre_ours:.6f}")
    if not abs(centre_peer - centre_ours) <= 1e-5 * max(1.0, abs(centre_peer)):
        raise SystemExit("the two disagree at the centre")
    ratios = [p / o for p, o in zip(peer, ours, strict=True)]
    print(f"speedup over the real library (pair by pair): median {np.median(ratios):.1f}x "
          f"(min {min(ratios):.1f}, max {max(ratios):.1f})")
    print(f"landscape speedup vs loss-landscapes: {np.median(peer) / np.median(ours):.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--grid", type=int, default=41)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peer-repeats", type=int, default=3, help="runs of the real library")
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
    gpu = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    print(f"MLP 784-100-10, {args.grid}x{args.grid} grid, {len(x)} MNIST images, {dev}{gpu}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    if args.peer_repeats:
        peer_and_whole_call(model.to(dev), x, y, args.grid, dev, args.peer_repeats)
        model = model.cpu()

    evaluator = PlaneEvaluator(model, plane, x, y, device=dev)
    evaluate_grid(evaluator, alpha[:3], beta[:3], progress=False)  # warm-up
    fast = []
    for _ in range(args.repeats):
        _sync(dev)
        t = time.perf_counter()
        loss, _ = evaluate_grid(evaluator, alpha, beta, progress=False)
        _sync(dev)
        fast.append(time.perf_counter() - t)
    ours = loss.reshape(args.grid, args.grid)

    live = build_model("mlp", seed=0).to(dev)
    _sync(dev)
    t = time.perf_counter()
    ref = loss_landscapes_loop(live, plane, alpha, beta, x, y)
    _sync(dev)
    slow = time.perf_counter() - t

    diff = float(np.abs(ours - ref).max())
    points = ours.size
    print(f"loss-landscapes' loop (re-implemented, same plane): {slow:.2f} s "
          f"({1e3 * slow / points:.2f} ms per point)")
    print(f"trajviz grid ({evaluator.method}): {spread(fast)}, "
          f"{1e3 * float(np.median(fast)) / points:.3f} ms per point")
    print(f"max |difference|: {diff:.2e} (the loop's in-place steps accumulate rounding)")
    if not diff <= 1e-4:
        raise SystemExit(f"values differ by {diff:.3g}")
    print(f"speedup vs the re-implemented loop: {slow / float(np.median(fast)):.1f}x")

    rate = matmul_rate(dev)
    n = len(x)
    heads = 3 * 2 * n * 784 * 100  # the first layer's three products, once
    per_point = 2 * n * 100 * 10 + 2 * 2 * n * 100  # the 100 -> 10 layer, combining heads
    flops = heads + points * per_point
    print(f"compute floor: {flops / 1e9:.1f} GFLOP at {rate / 1e9:.0f} GFLOP/s (measured "
          f"float32 matmul) = {flops / rate:.3f} s; trajviz's grid is "
          f"{float(np.median(fast)) / (flops / rate):.1f}x the floor "
          f"(the peer does {points * 2 * n * (784 * 100 + 100 * 10) / 1e9:.0f} GFLOP)")


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
