"""Flow animation speed: 32 x 32 starts x 8 optimizers x 300 steps to a GIF.

Times the whole command a user runs, ``trajviz animate --flow 32`` on Rosenbrock with the
eight seed optimizers for 300 steps (200 frames), as a fresh process each time (Python and
torch start-up included), several times; prints the median and the spread. Then times the
parts once in this process: the batched engine run (8,192 trajectories), building the
figure, and rendering and encoding the frames.

Run under the CPU lock so other work does not disturb the timings:
    flock /tmp/trajviz-cpu.lock python benchmarks/bench_flow.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
from PIL import Image

TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5, help="whole-command runs")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="bench_flow_"))
    gif = out / "flow.gif"
    cmd = [sys.executable, "-m", "trajviz", "animate", "--surface", "rosenbrock", "--flow",
           str(args.grid), "--steps", str(args.steps), "--out", str(gif), "--no-progress"]
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    with Image.open(gif) as im:
        frames, (w, h) = im.n_frames, im.size

    import trajviz
    from trajviz.plot.flow import animate_flow, flow_starts
    from trajviz.teaching import teaching_optimizers

    t0 = time.perf_counter()
    run = trajviz.run("rosenbrock", teaching_optimizers("rosenbrock"), steps=args.steps,
                      starts=flow_starts("rosenbrock", args.grid), progress=False)
    t1 = time.perf_counter()
    anim = animate_flow(run, "rosenbrock", frames=200)
    t2 = time.perf_counter()
    trajviz.save(anim, out / "parts.gif", progress=False)
    t3 = time.perf_counter()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, matplotlib {matplotlib.__version__}, "
          f"pillow {Image.__version__}")
    print(f"flow: rosenbrock, {args.grid} x {args.grid} starts x 8 optimizers = "
          f"{run.n_traj} runs x {args.steps} steps, {frames} frames, {w}x{h}, GIF "
          f"{gif.stat().st_size / 1e6:.1f} MB")
    print(f"whole command ({args.repeats} runs, each a fresh process): "
          + ", ".join(f"{t:.1f}" for t in times) + " s")
    print(f"parts (in process): engine {t1 - t0:.2f} s, figure {t2 - t1:.2f} s, "
          f"frames + GIF {t3 - t2:.2f} s ({1000 * (t3 - t2) / frames:.0f} ms/frame)")
    print(f"flow to GIF: median {statistics.median(times):.1f} s (min {min(times):.1f}, "
          f"max {max(times):.1f}); target under {TARGET_S:.0f} s")


if __name__ == "__main__":
    main()
