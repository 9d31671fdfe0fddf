"""Render speed: trajviz's blitted GIF writer against plain ``FuncAnimation.save``.

Renders the default eight-optimizer Rosenbrock animation (200 frames, 800x600, GIF) twice:
with `trajviz.save` (static background drawn once and restored per frame, one shared
palette) and with matplotlib's ``FuncAnimation.save(writer=PillowWriter)`` on the same
figure and frames (a full redraw and a palette quantisation per frame). Checks that the two
GIFs decode to the same frames within a small tolerance, then prints the speedup.

trajviz is timed twice: as `save` renders by default (forked helper processes render
frames too, one per further CPU) and with every frame rendered in this process. The three
run in turn, ``--repeats`` times; each prints its median with min-max.

    python benchmarks/bench_render.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from PIL import Image

import trajviz
from trajviz import RunFigure
from trajviz.teaching import teaching, teaching_optimizers


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.array(im.convert("RGB"), dtype=np.int16))
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, in turn")
    args = parser.parse_args()

    surface = "rosenbrock"
    run = trajviz.run(surface, teaching_optimizers(surface), steps=teaching(surface).steps,
                      progress=False)
    out = Path(tempfile.mkdtemp(prefix="bench_render_"))
    fast, alone, slow = out / "trajviz.gif", out / "alone.gif", out / "funcanimation.gif"

    def trajviz_save() -> None:
        rf = RunFigure(run, surface, size=(8, 6), dpi=100)
        trajviz.save(rf, fast, frames=args.frames, fps=20, progress=False)

    def trajviz_alone() -> None:
        rf = RunFigure(run, surface, size=(8, 6), dpi=100)
        trajviz.save(rf, alone, frames=args.frames, fps=20, progress=False, helpers=0)

    def plain_save() -> None:
        rf = RunFigure(run, surface, size=(8, 6), dpi=100)
        steps = [int(t) for t in rf.frame_steps(args.frames)]
        anim = FuncAnimation(rf.fig, rf.set_step, frames=steps, blit=False,
                             cache_frame_data=False)
        anim.save(slow, writer=PillowWriter(fps=20))

    variants = (("trajviz", trajviz_save), ("trajviz, one process", trajviz_alone),
                ("FuncAnimation+PillowWriter", plain_save))
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(args.repeats):
        for name, fn in variants:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)

    a, b = decode(fast), decode(slow)
    assert np.array_equal(a, decode(alone)), "helper processes changed the frames"
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.abs(a - b)
    per_frame = diff.reshape(len(a), -1).mean(axis=1)
    assert per_frame.max() < 2.0, f"frames differ: mean abs diff up to {per_frame.max():.2f}"
    assert np.percentile(diff, 99.9) <= 48, np.percentile(diff, 99.9)

    n, (h, w) = len(a), a.shape[1:3]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, matplotlib {matplotlib.__version__}, "
          f"pillow {Image.__version__}")
    print(f"animation: rosenbrock, 8 optimizers, {n} frames, {w}x{h}, GIF (figure "
          f"construction included in each; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f})")
    for name, ts in times.items():
        t = float(np.median(ts))
        print(f"  {name:28s} median {t:6.2f} s (min {min(ts):.2f}, max {max(ts):.2f}; "
              f"{1000 * t / n:5.1f} ms/frame)")
    print(f"  same frames: mean abs pixel difference {diff.mean():.3f} (max per frame "
          f"{per_frame.max():.3f}) of 255")
    print(f"  sizes: trajviz {fast.stat().st_size / 1e6:.2f} MB, "
          f"FuncAnimation {slow.stat().st_size / 1e6:.2f} MB")
    ratios = [p / t for p, t in zip(times["FuncAnimation+PillowWriter"], times["trajviz"],
                                    strict=True)]
    print(f"render speedup (median of pairs): {np.median(ratios):.1f}x (min {min(ratios):.1f}, "
          f"max {max(ratios):.1f})")


if __name__ == "__main__":
    main()
