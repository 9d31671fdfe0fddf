"""The main job as a user waits for it: `trajviz animate --surface rosenbrock`, whole process.

Runs, in turn (A B A B ...), fresh processes of ``python -c "import torch"`` and of the
README's main job (writing into a temporary folder), prints each one's median with min-max
and the ratio pair by pair; then, in one process, where the main job's time goes, and
how long that process takes to exit after its work:

    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TRAJVIZ = [sys.executable, "-m", "trajviz", "animate", "--surface", "rosenbrock"]
IMPORT_TORCH = [sys.executable, "-c", "import torch"]


def wall(cmd: list[str], cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def spread(times: list[float], unit: str = "s") -> str:
    return (f"median {np.median(times):.2f} {unit} (min {min(times):.2f}, max "
            f"{max(times):.2f}, {len(times)} runs)")


def parts() -> None:
    """One main job in this process, timed part by part, as `trajviz.cli.console` runs it
    (what is imported before the command frozen for the garbage collector, and what is
    left at its end); prints the parts and, last, the monotonic clock at its end."""
    import gc

    marks = [("start", time.perf_counter())]

    def mark(name: str) -> None:
        marks.append((name, time.perf_counter()))

    import torch  # noqa: F401

    mark("import torch")
    import matplotlib.pyplot  # noqa: F401

    mark("import matplotlib")
    import trajviz
    from trajviz.teaching import teaching, teaching_optimizers

    mark("import trajviz")
    gc.freeze()
    specs = teaching_optimizers("rosenbrock")
    run = trajviz.run("rosenbrock", specs, steps=teaching("rosenbrock").steps,
                      progress=False)
    mark("run (8 optimizers; its first step imports torch._dynamo)")
    anim = trajviz.animate(run, "rosenbrock", frames=200)
    mark("figure")
    with tempfile.TemporaryDirectory() as tmp:
        trajviz.save(anim, Path(tmp) / "rosenbrock.gif", progress=False)
    mark("frames + GIF")
    gc.freeze()
    print(", ".join(f"{name} {b - a:.2f} s"
                    for (_, a), (name, b) in zip(marks, marks[1:], strict=False))
          + f"; total {marks[-1][1] - marks[0][1]:.2f} s")
    print(time.monotonic())


def parts_and_exit() -> None:
    """`parts` in a process of its own, and how long that process takes to exit after."""
    out = subprocess.run([sys.executable, __file__, "--parts"], check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()
    exit_s = time.monotonic() - float(out[-1])
    print(f"where the main job's time goes (one process): {out[-2]}; then the exit "
          f"{exit_s:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--parts", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.parts:
        return parts()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        wall(TRAJVIZ, tmp)  # warm-up: the file cache, compiled bytecode
        torch_times, ours = [], []
        for _ in range(args.runs):
            torch_times.append(wall(IMPORT_TORCH, tmp))
            ours.append(wall(TRAJVIZ, tmp))
    print(f'python -c "import torch": {spread(torch_times)}')
    print(f"trajviz animate --surface rosenbrock: {spread(ours)}")
    ratios = [o / t for o, t in zip(ours, torch_times, strict=True)]
    print(f"main job / import torch (pair by pair): median {np.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    parts_and_exit()


if __name__ == "__main__":
    main()
