"""The explorer in a real browser: learning-rate change to new pixels, in JupyterLab.

    python benchmarks/bench_explorer_browser.py [--backend image|ipympl|both] [--changes 8]
        [--notches 8]

Starts JupyterLab and headless Debian Chromium with the browser test's machinery
(``tests/_browser.py``), opens a fresh notebook that builds ``trajviz.explore()`` (the eight
seed optimizers, 500 steps on Rosenbrock, Adam chosen for editing, the prefetch on as by
default) once per backend, and changes Adam's learning rate in two modes, as a user does:

- typed (cold): ``--changes`` new values, each a click on the slider's readout, the value
  typed, Enter. Every value is new and off the slider's notches, where the prefetch runs,
  so every change re-runs Adam (the status must say "re-ran 1 of"): the explorer's cold
  path.
- notch: ``--notches`` moves of the slider by one notch, each the left arrow key on the
  focused slider handle (noUiSlider's keyboard step; ipywidgets 8 reports it at once, as a
  release). While idle the explorer has run Adam up to three notches below and above in
  the background, so a move finds its run in the cache and only draws ("re-ran 0 of": a hit).
  A move that comes before that run is done re-runs Adam (a miss); the report counts both.

What is timed, in the page's own clock (``performance.now()``): from the key's (Enter's, or
the arrow's) ``keydown`` event to the frame that shows the *final* picture for the new
value. A script
injected before JupyterLab loads records every write into the plot: for the image view, each
new ``src`` of its ``<img>``, once ``img.decode()`` has finished; for ipympl, each
``drawImage`` into the view's ``<canvas>``; either counts at the first animation frame after
it. After a change the benchmark waits until the explorer's status line and the kernel probe
(below) report it and no write has come for ``--quiet`` ms; the change's latency is the
*last* write's frame, so an early stale or partial picture could not shorten it. One warm-up
change per backend and mode is made first and not counted; every other change is reported
(median, min and max; nothing is best-of-N). Between moves the benchmark waits only for the
explorer to be quiet (as in the typed mode), never for the background runs: a notch move
that finds no prefetched run counts as a miss.

Where the time goes, in the order a change passes (all medians, ms):
``send`` keydown to the update leaving the page's WebSocket; ``relay in`` to the kernel's
"busy" status (kernel messages carry the kernel's send time; same machine, same clock);
``kernel`` to the kernel sending the picture; ``relay out`` to that message arriving in the
page; ``handle`` to the picture being written into the plot (JupyterLab, the widget's view,
for ipympl also the PNG's decoding); ``decode`` to the JPEG being decoded (image view);
``frame`` to the next animation frame. Inside the kernel, a probe cell wraps the explorer's
refresh and its parts (wall and the kernel thread's CPU time): the engine re-run, the rest
of the run cache, the figure's update and the drawing and pushing of the picture.

Prints per backend and mode ``median X ms (min A, max B) over N changes`` (for notch moves
also how many were hits, and the hits' and misses' own medians) and the split; then, in
this process, one re-run of Adam with `trajviz.run` against a plain ``torch.optim`` loop of
the same run, the floor of any change that re-runs the optimizer. Run under
the CPU lock so other work does not disturb the timings:
    flock /tmp/trajviz-cpu.lock python benchmarks/bench_explorer_browser.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _browser import (  # noqa: E402
    BUSY_CELLS,
    CHROMIUM,
    headless_chromium,
    jupyter_lab,
    open_and_run_all,
)

POLL_MS = 25  # the harness polls on a timer, not every frame: it draws no frames itself
NOTCH_KEY = "ArrowLeft"  # one notch down: from the typed values' top, towards the usual rates

# Runs before JupyterLab's own scripts: wraps WebSocket and the 2-D canvas context so that,
# while armed, every message in or out and every write into the plot is timestamped.
PROBE = r"""
(() => {
  const tv = window.__tv = {armed: false, t0: null, sends: [], msgs: [], writes: [],
                            target: null, observer: null};
  const now = () => performance.now();
  // a write: when it began (src set, drawImage), when its pixels were ready, its frame
  const painted = (t, ready) => requestAnimationFrame(() => tv.writes.push([t, ready, now()]));
  // [msg_type, the kernel's send time (epoch ms), execution_state] of a kernel message in
  // the JSON or the binary v1 WebSocket protocol (offsets: channel, header, parent header,
  // metadata, content)
  const text = new TextDecoder();
  const describe = (d) => {
    try {
      let header, content;
      if (typeof d === 'string') {
        ({header, content} = JSON.parse(d));
      } else {
        const v = new DataView(d), at = (i) => Number(v.getBigUint64(8 * (i + 1), true));
        const part = (i) => JSON.parse(text.decode(new Uint8Array(d, at(i), at(i + 1) - at(i))));
        header = part(1);
        content = header.msg_type === 'status' ? part(4) : {};
      }
      return [header.msg_type, Date.parse(header.date), content.execution_state ?? null];
    } catch (err) {
      return [null, null, null];
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (!tv.armed) return;
        const d = e.data, at = now();
        const size = typeof d === 'string' ? d.length : (d.byteLength ?? d.size);
        tv.msgs.push([at, size, ...describe(d)]);
      });
    }
    send(data) {
      if (tv.armed) tv.sends.push(now());
      return super.send(data);
    }
  };
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    if (tv.armed && tv.target && tv.target.contains(this.canvas)) painted(now(), now());
    return drawImage.apply(this, args);
  };
  document.addEventListener('keydown', (e) => {
    if (tv.armed && e.key === tv.key && tv.t0 === null) tv.t0 = e.timeStamp;
  }, true);
  tv.arm = (target, key) => {
    Object.assign(tv, {armed: true, t0: null, sends: [], msgs: [], writes: [], target, key});
    tv.observer = new MutationObserver((records) => {
      for (const r of records) {
        const img = r.target;
        if (img.tagName !== 'IMG') continue;
        const t = now();
        const done = () => painted(t, now());
        img.decode().then(done, done);
      }
    });
    tv.observer.observe(target, {subtree: true, attributes: true, attributeFilter: ['src']});
  };
  tv.lastWrite = () => (tv.writes.length ? tv.writes[tv.writes.length - 1][2] : null);
  tv.disarm = () => {
    tv.observer.disconnect();
    tv.armed = false;
    return {t0: tv.t0, sends: tv.sends, msgs: tv.msgs, writes: tv.writes,
            origin: performance.timeOrigin};
  };
})();
"""


@dataclass(frozen=True)
class Change:
    """One learning-rate change: where its time went (ms), in the order it passes."""

    mode: str  # "typed" or "notch"
    lr: str  # the readout after the change
    rerun: int  # optimizers the explorer re-ran (notch: 0 is a hit)
    total_ms: float  # keydown to the frame showing the final picture
    send_ms: float  # keydown to the update leaving the page
    in_ms: float  # to the kernel starting on it (its "busy" status): the server's relay
    kernel_ms: float  # to the kernel sending the picture
    out_ms: float  # to the picture's message arriving in the page: the server's relay
    handle_ms: float  # to the picture being written (JupyterLab and the widget's view)
    decode_ms: float  # to its pixels being ready (the image decoded)
    frame_ms: float  # to the next animation frame
    writes: int  # writes into the plot (1: no double push)
    messages: int  # WebSocket messages received
    kbytes_in: float
    refresh_ms: float  # the kernel probe: the explorer's refresh, wall time
    refresh_cpu_ms: float  # the kernel thread's CPU time in it
    engine_ms: float  # re-running the optimizer
    engine_cpu_ms: float
    cache_ms: float  # the rest of the run cache (validating the optimizers, joining runs)
    figure_ms: float  # restyling the figure's artists (set_run, set_step)
    draw_ms: float  # painting and encoding or sending the picture
    status_line: str


# The notebook's first cell: times the parts of each refresh in the kernel (wall and the
# kernel thread's CPU time) and shows them, as JSON, in a widget the benchmark reads.
KERNEL_PROBE = """\
import functools, importlib, json, threading, time
import ipywidgets
import trajviz
from trajviz.plot import RunFigure

_cache = importlib.import_module("trajviz.widgets._cache")
_view = importlib.import_module("trajviz.widgets._view")
_explore = importlib.import_module("trajviz.widgets.explore")
_prefetch = importlib.import_module("trajviz.widgets._prefetch")
probe = ipywidgets.HTML(layout={"visibility": "hidden"})
probe.add_class("tv-bench-probe")
_parts, _seq, _active = {}, [0], set()

def _timed(owner, name, label, publish=False):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        # counted by the outer call, or the prefetch's background run: not a change's time
        # (a change itself may run on the main thread or, with ipykernel 7, a subshell's)
        if label in _active or threading.current_thread().name == _prefetch.THREAD_NAME:
            return inner(*args, **kwargs)
        _active.add(label)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            _active.discard(label)
            wall, cpu = _parts.get(label, (0.0, 0.0))
            _parts[label] = (wall + 1e3 * (time.perf_counter() - t0),
                             cpu + 1e3 * (time.thread_time() - c0))
            if publish:
                _seq[0] += 1
                probe.value = json.dumps({"n": _seq[0], **_parts})
                _parts.clear()
    setattr(owner, name, wrapper)

_timed(_cache, "engine_run", "engine")
_timed(_cache.RunCache, "get", "cache")
_timed(RunFigure, "set_run", "figure")
_timed(RunFigure, "set_step", "figure")
_timed(_view.FigureView, "redraw", "redraw")
_timed(_explore.Explorer, "_refresh", "refresh", publish=True)
probe
"""


def notebook(backends: list[str], steps: int) -> dict:
    """A notebook with the kernel probe and one explorer per backend (Adam to edit)."""
    def cell(source: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                "source": source}

    cells = [cell(KERNEL_PROBE)]
    for b in backends:
        cells.append(cell(f"ui = trajviz.explore('rosenbrock', steps={steps}, backend={b!r})\n"
                          "ui.controls['target'].value = 'adam'\nui"))
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
                                                        "display_name": "Python 3"}},
            "nbformat": 4, "nbformat_minor": 5}


def run_all(page, url: str, count: int) -> None:
    open_and_run_all(page, url)
    page.wait_for_function(f"() => document.querySelectorAll('.tv-explorer .tv-lr').length"
                           f" >= {count}")
    page.wait_for_function(f"() => !({BUSY_CELLS})()")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()


def change(page, explorer, plot, mode: str, quiet_ms: int, value: str = "") -> Change:
    """Changes Adam's learning rate as a user does and times the final picture: ``typed``
    types ``value`` into the readout and presses Enter (the change must re-run Adam);
    ``notch`` presses `NOTCH_KEY` on the focused slider handle (a hit re-runs nothing)."""
    probe = page.locator(".tv-bench-probe")
    timing, old_probe = explorer.locator(".tv-timing"), probe.text_content()
    if mode == "typed":
        explorer.locator(".tv-lr .widget-readout").click()
        page.keyboard.press("Control+A")
        page.keyboard.type(value)
        key = "Enter"
    else:
        explorer.locator(".tv-lr .noUi-handle").focus()
        key = NOTCH_KEY
    page.evaluate("([el, key]) => window.__tv.arm(el, key)", [plot.element_handle(), key])
    page.keyboard.press(key)
    # the probe publishes after the refresh, whose status line came before it
    page.wait_for_function("([el, old]) => el.textContent !== old",
                           arg=[probe.element_handle(), old_probe], polling=POLL_MS)
    page.wait_for_function(f"""() => {{ const tv = window.__tv, last = tv.lastWrite();
        return last !== null && performance.now() - last > {quiet_ms}; }}""", polling=POLL_MS)
    rec = page.evaluate("() => window.__tv.disarm()")
    line = timing.inner_text()
    rerun = re.search(r" lr: re-ran (\d+) of ", line)
    if rerun is None or int(rerun[1]) > 1 or (mode == "typed" and rerun[1] != "1"):
        raise RuntimeError(f"unexpected status after a {mode} change: {line!r}")
    k = json.loads(probe.text_content())
    engine = k.get("engine", (0.0, 0.0))  # a hit runs no engine
    t0, (start, ready, frame) = rec["t0"], rec["writes"][-1]
    sent = rec["sends"][0]
    # kernel messages carry the kernel's send time (epoch ms): on the page's clock
    kernel_clock = [(at, size, kind, when - rec["origin"] if when else None, state)
                    for at, size, kind, when, state in rec["msgs"]]
    picture = max(kernel_clock, key=lambda m: m[1])  # the largest message
    busy = next((m[3] for m in kernel_clock if m[4] == "busy" and m[3] is not None), None)
    if busy is None or picture[3] is None:  # no kernel times: all of it counts as "kernel"
        busy = sent
        picture = (*picture[:3], picture[0], picture[4])
    lr = explorer.locator(".tv-lr .widget-readout").inner_text()
    return Change(mode, lr, int(rerun[1]), frame - t0, sent - t0, busy - sent,
                  picture[3] - busy, picture[0] - picture[3], start - picture[0],
                  ready - start, frame - ready, len(rec["writes"]), len(rec["msgs"]),
                  sum(m[1] for m in rec["msgs"]) / 1e3, *k["refresh"], *engine,
                  k["cache"][0] - engine[0], k["figure"][0], k["redraw"][0], line)


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.1f} ms (min {min(values):.1f}, "
            f"max {max(values):.1f})")


def report(backend: str, mode: str, changes: list[Change]) -> None:
    def med(field: str) -> float:
        return statistics.median(getattr(c, field) for c in changes)

    totals = [c.total_ms for c in changes]
    if mode == "typed":
        print(f"{backend:<7} typed value (cold: every change re-runs Adam) -> pixels: "
              f"{spread(totals)} over {len(changes)} changes")
    else:
        hits = [c.total_ms for c in changes if c.rerun == 0]
        misses = [c.total_ms for c in changes if c.rerun]
        split = "".join(f"; {name} {spread(ts)}" for name, ts in (("hits", hits),
                                                                  ("misses", misses))
                        if ts and misses)
        print(f"{backend:<7} one notch ({NOTCH_KEY} on the handle) -> pixels: {spread(totals)} "
              f"over {len(changes)} moves, {len(hits)} of {len(changes)} hits (re-ran 0)"
              f"{split}")
    print(f"{'':<7} page (medians, ms): send {med('send_ms'):.1f}, relay in "
          f"{med('in_ms'):.1f}, kernel {med('kernel_ms'):.1f}, relay out {med('out_ms'):.1f}, "
          f"handle {med('handle_ms'):.1f}, decode "
          f"{f'{d:.1f}' if (d := med('decode_ms')) else '(in handle)'}, frame "
          f"{med('frame_ms'):.1f}; {med('messages'):.0f} messages, {med('kbytes_in'):.0f} kB "
          f"in, {'/'.join(str(w) for w in sorted({c.writes for c in changes}))} write(s) "
          "into the plot per change")
    print(f"{'':<7} kernel (medians, ms): refresh {med('refresh_ms'):.1f} (CPU "
          f"{med('refresh_cpu_ms'):.1f}): engine {med('engine_ms'):.1f} (CPU "
          f"{med('engine_cpu_ms'):.1f}), run cache {med('cache_ms'):.1f}, figure update "
          f"{med('figure_ms'):.1f}, draw and push {med('draw_ms'):.1f}")


def lr_values(n: int) -> list[str]:
    """``n + 1`` distinct learning rates from 0.0106 up (the first is the warm-up), three
    significant figures as the explorer keys them, each midway between two notches of the
    slider (steps of 0.05 in log10): the prefetch runs values on the notches only, so none
    of these is ever among its runs."""
    return [f"{10 ** (-1.975 + 0.15 * k):.3g}" for k in range(n + 1)]


def floor(steps: int, lr: float, repeats: int = 9) -> None:
    """What one re-run of Adam costs outside the browser, in this process: `trajviz.run` and
    a plain ``torch.optim`` loop of the same run (zero_grad, loss, backward, step), in turn.
    The plain loop is the floor of a change that re-runs the optimizer."""
    import time

    import torch

    import surfaces
    import trajviz

    surface = surfaces.get("rosenbrock")

    def plain() -> None:
        p = torch.tensor([surface.start], dtype=torch.float32, requires_grad=True)
        opt = torch.optim.Adam([p], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            surface(p).sum().backward()
            opt.step()

    def engine() -> None:
        trajviz.run(surface, f"adam:lr={lr}", steps=steps)

    times: dict[str, list[float]] = {"engine": [], "plain": []}
    for _ in range(repeats + 1):  # the first pair warms up
        for name, fn in (("engine", engine), ("plain", plain)):
            t = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t))
    eng, pl = times["engine"][1:], times["plain"][1:]
    print(f"one re-run of Adam ({steps} steps) outside the browser: trajviz.run {spread(eng)}; "
          f"a plain torch.optim loop (the floor) {spread(pl)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="both", choices=("image", "ipympl", "both"))
    parser.add_argument("--changes", type=int, default=8, help="typed (cold) changes")
    parser.add_argument("--notches", type=int, default=8, help="one-notch moves (0: none)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--quiet", type=int, default=400,
                        help="ms without a new write that ends a change")
    parser.add_argument("--json", help="also write every change's record here")
    args = parser.parse_args()
    if args.changes < 1 or args.notches < 0:
        parser.error("--changes must be at least 1 and --notches at least 0")
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"no Chromium at {CHROMIUM}: run 'bash .ci/browser.sh'")
    backends = ["image", "ipympl"] if args.backend == "both" else [args.backend]
    results: dict[tuple[str, str], list[Change]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as tmp, \
            jupyter_lab(Path(tmp)) as server, \
            headless_chromium(viewport=(1600, 1100)) as page:
        (Path(tmp) / "bench.ipynb").write_text(json.dumps(notebook(backends, args.steps)))
        page.add_init_script(PROBE)
        run_all(page, server.lab_url("bench.ipynb"), len(backends))
        for i, backend in enumerate(backends):
            explorer = page.locator(".tv-explorer").nth(i)
            plot = explorer.locator(".tv-plot")
            plot.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            values = lr_values(args.changes)
            change(page, explorer, plot, "typed", args.quiet, values[0])  # warm-up
            results[backend, "typed"] = [change(page, explorer, plot, "typed", args.quiet, v)
                                         for v in values[1:]]
            if args.notches:
                change(page, explorer, plot, "notch", args.quiet)  # warm-up, not counted
                results[backend, "notch"] = [change(page, explorer, plot, "notch", args.quiet)
                                             for _ in range(args.notches)]
    print(f"explorer in JupyterLab {_version('jupyterlab')} / headless Chromium: 8 optimizers "
          f"x {args.steps} steps on rosenbrock, Adam's learning rate typed into the readout "
          f"or moved by one notch; {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), load average "
          f"{os.getloadavg()[0]:.2f}")
    for (backend, mode), changes in results.items():
        report(backend, mode, changes)
    floor(args.steps, float(lr_values(args.changes)[-1]))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {f"{b} {m}": [c.__dict__ for c in cs] for (b, m), cs in results.items()},
            indent=1))


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
