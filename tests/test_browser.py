"""`02_explorer.ipynb` in a real browser: JupyterLab on localhost, headless Debian Chromium.

The notebook runs top to bottom in JupyterLab (small mode); the test then checks that the
explorer's widgets rendered, drags the learning-rate slider and waits for the plot's pixels
to change. Screenshots go to ``$TRAJVIZ_ARTIFACTS/trajviz-browser/`` (default: the system
temp folder) and their paths are printed to the terminal, pass or fail. Needs the
``test`` and ``browser`` extras (ipympl; jupyterlab, playwright) and Chromium (``bash
.ci/browser.sh``); the README gives the one command that installs and runs the browser tests.
"""

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Skipped only without the 'browser' extra, and never where TRAJVIZ_REQUIRE_BROWSER=1 (CI).
try:
    import jupyterlab  # noqa: F401
    import playwright  # noqa: F401
except ImportError:
    if os.environ.get("TRAJVIZ_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("needs the 'browser' extra: see the README's real-browser test command",
                allow_module_level=True)

from _browser import (  # noqa: E402
    BUSY_CELLS,
    CHROMIUM,
    headless_chromium,
    jupyter_lab,
    open_and_run_all,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "02_explorer.ipynb"
SHOTS = Path(os.environ.get("TRAJVIZ_ARTIFACTS", tempfile.gettempdir())) / "trajviz-browser"


def test_explorer_notebook_in_jupyterlab(tmp_path, capsys):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run 'bash .ci/browser.sh' "
                    "(or set TRAJVIZ_CHROMIUM)")
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)  # JupyterLab autosaves: never the repo's copy
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    before = harness_pids("trajviz-lab-") | harness_pids("trajviz-chromium-")

    def shoot(page, name: str) -> None:
        path = SHOTS / name
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    try:
        with jupyter_lab(root, env={"TRAJVIZ_SMALL": "1"}) as server, \
                headless_chromium(viewport=(1600, 1100)) as page:
            try:
                run_and_drag(page, server.lab_url(NOTEBOOK.name), shoot)
            except BaseException:
                shoot(page, "failure.png")
                raise
    finally:
        with capsys.disabled():
            for path in shots:
                print(f"\nbrowser screenshot: {path}")
    left = (harness_pids("trajviz-lab-") | harness_pids("trajviz-chromium-")) - before
    assert not left, f"server, kernel or browser processes left running: {sorted(left)}"


def run_and_drag(page, url: str, shoot) -> None:
    open_and_run_all(page, url)

    explorer = page.locator(".tv-explorer").first
    explorer.locator(".tv-lr .noUi-handle").wait_for()
    page.wait_for_function(f"() => !({BUSY_CELLS})()")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()

    # Widgets rendered: the controls, the plot, no traceback anywhere.
    assert explorer.locator(".widget-slider").count() == 9  # 8 controls and the step
    assert explorer.locator(".tv-surface select").input_value() == "rosenbrock"
    assert page.locator(".tv-explorer").count() == 2  # rosenbrock and himmelblau
    errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    assert not [e for e in errors if "Traceback" in e or "Error" in e], errors
    plot = explorer.locator(".tv-plot")
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let the last image land
    before, timing = plot.screenshot(), explorer.locator(".tv-timing").inner_text()
    readout = explorer.locator(".tv-lr .widget-readout").inner_text()
    shoot(page, "explorer-before.png")

    # Drag the learning-rate handle to the right; the slider reports on release.
    handle = explorer.locator(".tv-lr .noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=8)
    page.mouse.up()

    page.wait_for_function(
        "([el, old]) => el.textContent !== old",
        arg=[explorer.locator(".tv-timing").element_handle(), timing])
    assert explorer.locator(".tv-lr .widget-readout").inner_text() != readout
    assert " lr: re-ran 1 of 8" in explorer.locator(".tv-timing").inner_text()
    for _ in range(100):  # the image arrives after the kernel's message
        after = plot.screenshot()
        if after != before:
            break
        page.wait_for_timeout(100)
    assert after != before, "the plot did not change after the slider moved"
    shoot(page, "explorer-after.png")
    if importlib.util.find_spec("ipympl") is not None:
        click_sets_the_start(page, explorer)
        shoot(page, "explorer-click.png")


def click_sets_the_start(page, explorer) -> None:
    """With ipympl the plot is a live canvas: a click on the surface moves the start."""
    start_x = explorer.locator(".tv-start-x .widget-readout")
    old = start_x.inner_text()
    box = explorer.locator(".tv-plot canvas").last.bounding_box()
    # the surface axes fill roughly the left half of the figure
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.55 * box["height"])
    page.wait_for_function("el => el.textContent.startsWith('click: ')",
                           arg=explorer.locator(".tv-timing").element_handle())
    assert explorer.locator(".tv-timing").inner_text().startswith("click: re-ran 8 of 8")
    assert start_x.inner_text() != old


def harness_pids(prefix: str = "trajviz-chromium-") -> set[int]:
    """Processes whose command line names one of the harness's temporary folders:
    ``trajviz-chromium-`` (Chromium's profile) or ``trajviz-lab-`` (the server's and its
    kernels' runtime folder)."""
    pids = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and prefix in (proc / "cmdline").read_text():
                pids.add(int(proc.name))
        except OSError:
            continue
    return pids


def test_server_and_browser_shut_down_when_the_test_fails(tmp_path):
    before = harness_pids()
    with pytest.raises(RuntimeError, match="boom"):
        with jupyter_lab(tmp_path) as server, headless_chromium() as page:
            page.goto(f"{server.url}/api/status?token={server.token}")
            assert '"started"' in page.content()
            launched = harness_pids() - before
            assert launched
            raise RuntimeError("boom")
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
    assert not (launched & harness_pids())
    with pytest.raises(OSError):
        server.api("status")
