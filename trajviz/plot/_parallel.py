"""Frames rendered by forked helper processes as well as by this one.

Drawing a frame is single-threaded Python and Agg, so an animation of hundreds of frames
leaves every other core idle. After the static background is drawn, `parallel_frames` forks
helpers that inherit the figure as it is; every process claims the next frame nobody has
claimed yet (the caller, who also encodes every frame, claims only when the frame it needs
next is still free), a helper renders into one of a few shared-memory slots and says which
through a pipe, and the caller yields frames strictly in order. A helper that fails or dies
only costs its frames, which the caller then renders itself; the caller kills and reaps
every helper when it stops, however it stops.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import multiprocessing
import os
import signal
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

SLOTS = 4  # frames a helper may render ahead of the caller
MIN_FRAMES = 24  # fewer are not worth a fork
_MESSAGE = struct.Struct("ii")  # (frame index, slot)

Render = Callable[[int], np.ndarray]  # step -> a uint8 frame (a view, valid until the next)


def helper_count(frames: int) -> int:
    """Helpers worth forking for ``frames`` frames: one per further CPU this process may
    use (at most 3), none without ``os.fork`` or for a short animation."""
    if not hasattr(os, "fork") or frames < MIN_FRAMES:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min((cpus or 1) - 1, 3))


@dataclass
class _Helper:
    pid: int
    ready: int  # read end: (frame, slot) messages
    free: int  # write end: slots handed back
    slots: mmap.mmap
    alive: bool = True


def parallel_frames(render: Render, steps: Sequence[int], shape: tuple[int, int, int],
                    helpers: int) -> Iterator[np.ndarray]:
    """Yields ``render(t)`` for every ``t`` in ``steps``, in order, each a view valid until
    the next is yielded, rendered by this process and ``helpers`` forked ones."""
    n = len(steps)
    size = int(np.prod(shape))
    claim = multiprocessing.get_context("fork").Value("l", 0)  # next frame nobody claimed
    owner = mmap.mmap(-1, max(n, 1))  # 0: this process, k: helper k
    procs: list[_Helper] = []
    try:
        for k in range(1, helpers + 1):
            procs.append(_fork_helper(k, render, steps, shape, claim, owner, procs))
        for i, t in enumerate(steps):
            with claim.get_lock():
                mine = claim.value == i
                if mine:
                    claim.value = i + 1
            frame = None if mine else _receive(procs[owner[i] - 1], i, shape, size)
            if frame is None:  # claimed here, or its helper failed
                yield render(int(t))
                continue
            frame, helper, slot = frame
            yield frame
            os.write(helper.free, bytes([slot]))
    finally:
        for h in procs:
            _stop(h)


def _receive(h: _Helper, i: int, shape: tuple[int, int, int], size: int
             ) -> tuple[np.ndarray, _Helper, int] | None:
    """Frame ``i`` from helper ``h`` (its messages come in frame order), or ``None`` if
    the helper failed before sending it."""
    while h.alive:
        data = _read_exactly(h.ready, _MESSAGE.size)
        if data is None:
            h.alive = False
            log.debug("rendering helper %d stopped early; rendering its frames here", h.pid)
            break
        frame, slot = _MESSAGE.unpack(data)
        if frame == i:
            view = np.frombuffer(h.slots, np.uint8, size, slot * size).reshape(shape)
            return view, h, slot
        os.write(h.free, bytes([slot]))  # an older frame nobody waits for any more
    return None


def _fork_helper(k: int, render: Render, steps: Sequence[int], shape: tuple[int, int, int],
                 claim: object, owner: mmap.mmap, earlier: list[_Helper]) -> _Helper:
    size = int(np.prod(shape))
    slots = mmap.mmap(-1, SLOTS * size)  # shared with the child
    ready_r, ready_w = os.pipe()
    free_r, free_w = os.pipe()
    os.write(free_w, bytes(range(SLOTS)))
    with warnings.catch_warnings():
        # Python 3.12+ warns that a forked child of a threaded process (torch's thread pool)
        # may deadlock on a lock another thread held; the child only draws with matplotlib.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the helper: never returns
        code = 1
        try:
            for fd in (ready_r, free_w, *(f for h in earlier for f in (h.ready, h.free))):
                os.close(fd)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            _serve(k, render, steps, shape, claim, owner, slots, ready_w, free_r)
            code = 0
        finally:
            os._exit(code)  # no cleanup of the caller's (atomic files, handlers) runs here
    os.close(ready_w)
    os.close(free_r)
    return _Helper(pid, ready_r, free_w, slots)


def _serve(k: int, render: Render, steps: Sequence[int], shape: tuple[int, int, int],
           claim: object, owner: mmap.mmap, slots: mmap.mmap, ready: int, free: int) -> None:
    out = np.frombuffer(slots, np.uint8).reshape(SLOTS, *shape)
    while True:
        data = _read_exactly(free, 1)  # wait for a slot before claiming a frame
        if data is None:
            return
        with claim.get_lock():
            i = claim.value
            if i >= len(steps):
                return
            claim.value = i + 1
            owner[i] = k
        slot = data[0]
        out[slot] = render(int(steps[i]))
        os.write(ready, _MESSAGE.pack(i, slot))


def _read_exactly(fd: int, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _stop(h: _Helper) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(h.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(h.pid, 0)
    for fd in (h.ready, h.free):
        with contextlib.suppress(OSError):
            os.close(fd)
