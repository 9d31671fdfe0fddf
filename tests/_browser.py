"""Harness for the real-browser test: a JupyterLab server and a headless Debian Chromium.

Both are context managers that always shut down what they started, even when the body
fails: the server through its REST API and then its process group, the browser through
Playwright. Nothing here touches the user's Jupyter or Chromium profiles.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHROMIUM = os.environ.get("TRAJVIZ_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 180_000
BUSY_CELLS = """() => [...document.querySelectorAll('.jp-InputPrompt')]
                      .some(e => e.textContent.includes('*'))"""
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run")


@dataclass(frozen=True)
class Server:
    """A running JupyterLab: where it listens and its token."""

    url: str
    token: str
    root: Path
    log_path: Path
    pid: int

    def lab_url(self, path: str) -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, *, env: dict[str, str] | None = None,
                timeout: float = 90.0) -> Iterator[Server]:
    """Serves ``root`` with JupyterLab on a free localhost port with a random token.

    Jupyter's config, data-side runtime, workspaces and IPython profile live in a fresh
    temporary folder; the installed lab extensions (ipywidgets, ipympl) are still found.
    """
    home = Path(tempfile.mkdtemp(prefix="trajviz-lab-"))
    port, token = free_port(), secrets.token_hex(16)
    server_env = {**os.environ, **(env or {}),
                  "JUPYTER_CONFIG_DIR": str(home / "config"),
                  "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                  "IPYTHONDIR": str(home / "ipython"),
                  "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
                  "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    # User settings: no news or update pop-ups over the notebook.
    apputils = home / "settings" / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log_path = home / "server.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           *(["--allow-root"] if os.geteuid() == 0 else [])]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=server_env,
                                cwd=root, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, root, log_path, proc.pid)
    try:
        _wait_ready(server, proc, timeout)
        log.info("JupyterLab at %s (log %s)", server.url, log_path)
        yield server
    finally:
        _shutdown(server, proc)
        shutil.rmtree(home, ignore_errors=True)


def _wait_ready(server: Server, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n"
                               f"{server.log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            server.api("status")
            return
        time.sleep(0.3)
    raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n"
                       f"{server.log_path.read_text()[-3000:]}")


def _shutdown(server: Server, proc: subprocess.Popen) -> None:
    """Asks the server to stop (it shuts its kernels down), then ends its process group."""
    if proc.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            server.api("shutdown", method="POST")
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    log.info("jupyter lab stopped (exit %s)", proc.returncode)


@contextlib.contextmanager
def headless_chromium(*, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[object]:
    """A Playwright page in headless Debian Chromium with a fresh user-data dir."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="trajviz-chromium-"))
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True,
                args=list(CHROMIUM_ARGS),
                viewport={"width": viewport[0], "height": viewport[1]})
            try:
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_and_run_all(page: object, url: str) -> None:
    """Opens a notebook in JupyterLab (``page`` a Playwright page) once its kernel is idle
    and runs all its cells from the menu, as a user does."""
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator(".jp-NotebookPanel").wait_for()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
