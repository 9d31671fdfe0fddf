"""``race.html`` in headless Debian Chromium with the network disabled: it loads, scrubbing
changes the pixels, playing advances the step, and the update bars are drawn where the run's
recorded updates put them. Needs playwright and Chromium (``bash .ci/browser.sh``)."""

import base64
import io
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

try:
    import playwright  # noqa: F401
except ImportError:
    if os.environ.get("TRAJVIZ_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("needs the 'browser' extra: pip install -e .[browser]", allow_module_level=True)

from _browser import CHROMIUM, headless_chromium

import trajviz
from trajviz.cli import main
from trajviz.teaching import teaching, teaching_optimizers

pytestmark = pytest.mark.browser

STEP = 40  # the step whose bars are checked
PIXELS = """([x, y]) => Array.from(document.getElementById('tv-canvas').getContext('2d')
                                   .getImageData(x, y, 1, 1).data.slice(0, 3))"""


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    """The README's race as a page, written by the CLI, and the same run and figure here."""
    folder = tmp_path_factory.mktemp("page")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["animate", "--surface", "rosenbrock", "--out", "race.html"]) == 0
    finally:
        os.chdir(cwd)
    run = trajviz.run("rosenbrock", teaching_optimizers("rosenbrock"),
                      steps=teaching("rosenbrock").steps, progress=False)
    return folder / "race.html", trajviz.RunFigure(run, "rosenbrock")


@pytest.fixture(scope="module")
def page(race):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run 'bash .ci/browser.sh'")
    path, _ = race
    with headless_chromium(viewport=(1000, 950)) as page:
        requests, errors = [], []
        page.context.set_offline(True)
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        wait_until(page, "document.body.dataset.ready === 'true'")
        yield page
        assert not errors, errors
        fetched = [u for u in requests if not u.startswith("data:")]
        assert fetched == [path.as_uri()], fetched  # the page itself, nothing else


def wait_until(page, condition: str, timeout: float = 20.0) -> None:
    """Polls a JavaScript condition (``wait_for_function`` evaluates strings, which the
    page's content security policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({condition})"):
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        page.wait_for_timeout(50)


def canvas_pixels(page) -> bytes:
    return page.locator("#tv-canvas").screenshot()


def test_page_loads_offline_at_step_zero(page, race):
    _, rf = race
    assert page.locator("#tv-step").inner_text() == f"step 0 / {rf.run.steps}"
    assert page.evaluate("trajviz.step") == 0
    assert page.locator("#tv-table tbody tr").count() == 8
    box = page.locator("#tv-canvas").bounding_box()
    assert (round(box["width"]), round(box["height"])) == rf.pixel_size


def test_scrubbing_changes_the_pixels(page):
    before = canvas_pixels(page)
    page.locator("#tv-scrub").fill("150")
    assert page.evaluate("trajviz.step") == 150
    assert page.locator("#tv-step").inner_text().startswith("step 150 /")
    assert canvas_pixels(page) != before
    page.locator("#tv-scrub").fill("0")
    assert canvas_pixels(page) == before  # back where it was, pixel for pixel


def test_playing_advances_the_step(page):
    page.locator("#tv-scrub").fill("0")
    page.locator("#tv-play").click()
    wait_until(page, "trajviz.step > 10")
    assert page.locator("#tv-play").inner_text() == "Pause"
    page.locator("#tv-play").click()
    stopped = page.evaluate("trajviz.step")
    page.wait_for_timeout(300)
    assert page.evaluate("trajviz.step") == stopped and not page.evaluate("trajviz.playing")


def test_update_bars_match_the_recorded_updates(page, race):
    """At a chosen step, each bar's colour runs from the zero line to where matplotlib puts the
    run's recorded update, and stops there; the table prints the recorded values."""
    _, rf = race
    run = rf.run
    page.locator("#tv-scrub").fill(str(STEP))
    height = rf.pixel_size[1]
    colours = {True: rf.theme.positive, False: rf.theme.negative}
    checked = 0
    for panel in rf.update_panels:
        ax = panel.ax
        zero = ax.transData.transform([[0.0, 0.0]])[0, 0]
        for k in range(run.n_traj):
            update = float(run.updates[k, STEP, panel.axis])
            end, row = ax.transData.transform([[update, k]])[0]
            y = round(height - row)
            inside, outside = (zero + end) / 2, end + 4 * np.sign(end - zero)
            if abs(end - zero) < 8:
                continue  # too short to sample inside
            want = np.array([int(colours[update >= 0][i:i + 2], 16) for i in (1, 3, 5)])
            got_in = np.array(page.evaluate(PIXELS, [round(inside), y]))
            got_out = np.array(page.evaluate(PIXELS, [round(outside), y]))
            assert np.abs(got_in - want).max() <= 2, (panel.axis, k, got_in, want)
            assert np.abs(got_out - want).max() > 40, (panel.axis, k, got_out)
            checked += 1
    assert checked >= 12, checked
    cells = page.locator("#tv-table tbody tr").all()
    for k, row in enumerate(cells):
        dx, dy = (float(c) for c in row.locator("td").all_inner_texts()[1:3])
        np.testing.assert_allclose([dx, dy], run.updates[k, STEP], rtol=1e-3)


def test_a_frame_of_the_page_is_a_frame_of_the_figure(page, race):
    """The canvas at a step looks like the figure's own frame there (antialiasing aside)."""
    _, rf = race
    page.locator("#tv-scrub").fill(str(STEP))
    png = page.evaluate("() => document.getElementById('tv-canvas').toDataURL('image/png')")
    shown = np.array(Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1])))
                     .convert("RGB"), dtype=int)
    frame = rf.render(STEP).astype(int)
    diff = np.abs(shown - frame)
    assert diff.mean() < 2.0, diff.mean()
    assert (diff.max(axis=-1) > 64).mean() < 0.01  # under 1% of pixels differ visibly


def test_the_lesson_page_holds_its_question_until_play(page, tmp_path):
    result = trajviz.lessons.get("saddle").run()
    path = result.save(tmp_path / "saddle.html", size=(6, 4.5), dpi=60)
    lesson = page.context.new_page()
    try:
        lesson.goto(path.as_uri())
        wait_until(lesson, "document.body.dataset.ready === 'true'")
        question = lesson.locator("#tv-question")
        assert question.is_visible()
        assert re.search("which optimizers get out", question.inner_text())
        lesson.locator("#tv-play").click()
        assert not question.is_visible()
        wait_until(lesson, "trajviz.step > 0")
    finally:
        lesson.close()
