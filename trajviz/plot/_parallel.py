"""Frames rendered by forked helper processes as well as by this one.

Drawing a frame is single-threaded Python and Agg, so an animation of hundreds of frames
leaves every other core idle. After the static background is drawn, `parallel_frames` forks
helpers that inherit the figure as it is; every process claims the next frame nobody has
claimed yet, a helper renders into one of a few shared-memory slots and says which through
a pipe, and the caller yields frames strictly in order. The caller also encodes every frame,
so it renders only while it would otherwise wait: when the frame it needs next is still
free, or a helper has not finished it yet (then the caller renders a later free frame and
keeps it until its turn). A helper that fails or dies only costs its frames, which the
caller then renders itself; the caller kills and reaps every helper when it stops, however
it stops.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import multiprocessing
import os
import select
import signal
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SLOTS = 4  # frames a helper may render ahead of the caller
AHEAD = 4  # frames the caller may render ahead of its turn while a helper is busy
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
    ahead: dict[int, np.ndarray] = {}  # frames rendered here before their turn (copies)
    try:
        for k in range(1, helpers + 1):
            procs.append(_fork_helper(k, render, steps, shape, claim, owner, procs))
        for i, t in enumerate(steps):
            while i not in ahead and _claimed_by_helper(claim, owner, i):
                h = procs[owner[i] - 1]
                if len(ahead) >= AHEAD or _has_message(h):
                    break
                j = _claim_next(claim, n)
                if j is None:
                    break
                ahead[j] = np.array(render(int(steps[j])))
            if i in ahead:
                yield ahead.pop(i)
                continue
            if owner[i] == 0:  # claimed here just now
                yield render(int(t))
                continue
            got = _receive(procs[owner[i] - 1], i, shape, size)
            if got is None:  # its helper failed
                yield render(int(t))
                continue
            frame, helper, slot = got
            yield frame
            _hand_back(helper, slot)
    finally:
        for h in procs:
            _stop(h)


def _claimed_by_helper(claim: Any, owner: mmap.mmap, i: int) -> bool:
    """Whether a helper has claimed frame ``i``; if nobody has, this process claims it."""
    with claim.get_lock():
        if claim.value == i:
            claim.value = i + 1
            owner[i] = 0
            return False
        return owner[i] != 0


def _claim_next(claim: Any, n: int) -> int | None:
    """Claims the next free frame for this process, or returns ``None`` if none is left."""
    with claim.get_lock():
        j = claim.value
        if j >= n:
            return None
        claim.value = j + 1
        return j


def _hand_back(h: _Helper, slot: int) -> None:
    """Gives ``slot`` back to helper ``h``, unless it has finished (nothing left to claim)."""
    with contextlib.suppress(BrokenPipeError):
        os.write(h.free, bytes([slot]))


def _has_message(h: _Helper) -> bool:
    """Whether helper ``h`` has sent something (a frame, or the end of its pipe)."""
    return not h.alive or bool(select.select([h.ready], [], [], 0)[0])


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
        _hand_back(h, slot)  # an older frame nobody waits for any more
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
