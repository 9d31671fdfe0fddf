"""A write ended by SIGTERM or SIGHUP cleans up as one ended by Ctrl-C does: no ``.part``
file or folder is left, and the command exits 128 + the signal's number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from trajviz._io import atomic_dir, atomic_path
from trajviz.errors import Terminated


def test_a_signal_inside_an_atomic_write_raises_cleans_up_and_restores_the_handler(tmp_path):
    for write in (atomic_path, atomic_dir):
        with pytest.raises(Terminated, match="SIGTERM"):
            with write(tmp_path / "out.gif") as tmp:
                assert tmp.exists()
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the signal arrives first
        assert list(tmp_path.iterdir()) == []
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_handler_someone_installed_is_left_alone(tmp_path):
    seen = []
    old = signal.signal(signal.SIGHUP, lambda *a: seen.append(a[0]))
    try:
        with atomic_path(tmp_path / "x.npz") as tmp:
            os.kill(os.getpid(), signal.SIGHUP)
            tmp.write_bytes(b"done")
        assert seen == [signal.SIGHUP] and (tmp_path / "x.npz").read_bytes() == b"done"
    finally:
        signal.signal(signal.SIGHUP, old)


@pytest.mark.slow
@pytest.mark.parametrize("out, sig", [("a.gif", signal.SIGTERM), ("a.mp4", signal.SIGTERM),
                                      ("frames", signal.SIGTERM), ("a.gif", signal.SIGHUP)],
                         ids=["gif-term", "mp4-term", "frames-term", "gif-hup"])
def test_a_signal_during_an_animation_write_leaves_nothing(tmp_path, out, sig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "trajviz", "animate", "--surface", "quadratic", "--steps", "400",
         "--frames", "400", "--size", "4x3", "--dpi", "50", "--out", out],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(".part" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig
    assert err == f"trajviz animate: terminated by {signal.Signals(sig).name}\n"
    assert list(tmp_path.iterdir()) == []
