"""The ``.html`` page: what it holds equals what the figure draws, it fetches nothing, and bad
requests get clear errors. Its behaviour in a real browser: ``test_page_browser.py``."""

import json
import re

import numpy as np
import pytest

import trajviz
from trajviz import RunFigure, UsageError
from trajviz.plot.page import HtmlWriter, page_data, page_html

SMALL = dict(size=(4, 3), dpi=50)


@pytest.fixture(scope="module")
def figure():
    run = trajviz.run("rosenbrock", "adam:lr=0.1,momentum:lr=1e-3,sgd:lr=0.05", steps=40,
                      progress=False)
    assert run.diverged_at[2] > 0  # sgd leaves: its cross must be drawn where it left
    return RunFigure(run, "rosenbrock", **SMALL)


def decode(b64: str, dtype=np.float32) -> np.ndarray:
    import base64

    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def test_page_geometry_is_the_figures_geometry(figure):
    """Every bar end, path point and loss point the page draws is where matplotlib draws it."""
    run, data = figure.run, page_data(figure, figure.frame_steps(10))
    height = figure.pixel_size[1]
    steps = run.steps
    for t in (0, 17, steps):
        figure.set_step(t)
        figure.fig.canvas.draw()
        for panel, bars in zip(figure.update_panels, data["bars"], strict=True):
            ends = decode(bars["x"]).reshape(-1, steps)[:, min(t, steps - 1)]
            drawn = [panel.ax.transData.transform(path.vertices)[1, 0]  # the far end
                     for path in panel.bars.get_paths()]
            np.testing.assert_allclose(ends, drawn, atol=0.01)
        assert data["title"]["texts"][t] == figure.title_text.get_text()
        assert data["title"]["x"] == pytest.approx(figure.title_text.get_window_extent().x0)
    xy = decode(data["main"]["xy"]).reshape(run.n_traj, steps + 1, 2)
    expected = figure.main.ax.transData.transform(run.positions[0])
    np.testing.assert_allclose(xy[0, :, 0], expected[:, 0], atol=1e-3)
    np.testing.assert_allclose(xy[0, :, 1], height - expected[:, 1], atol=1e-3)
    assert np.isnan(xy[2, run.diverged_at[2]:]).all()
    np.testing.assert_array_equal(decode(data["updates"]).reshape(run.n_traj, steps, 2),
                                  run.updates.astype(np.float32))
    push = decode(data["bars"][1]["push"], np.int8).reshape(run.n_traj, steps)
    np.testing.assert_array_equal(push, np.sign(np.nan_to_num(-run.grads[..., 1])))


def test_page_is_one_offline_file(figure, tmp_path):
    path = trajviz.save(figure, tmp_path / "race.html", frames=10)
    text = path.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", text)
    assert "http://" not in text and "https://" not in text
    payload = re.search(r'<script type="application/json" id="trajviz-data">(.*?)</script>',
                        text, re.S).group(1)
    data = json.loads(payload)
    assert data["steps"] == figure.run.steps and len(data["play"]) == 10
    assert [p.name for p in tmp_path.iterdir()] == ["race.html"]  # no temporary left


def test_a_hostile_title_stays_text(tmp_path):
    run = trajviz.run("booth", "adam:lr=0.5", steps=5, progress=False)
    evil = '</script><script>alert("x")</script>'
    rf = RunFigure(run, "booth", title=evil, **SMALL)
    text = page_html(rf, rf.frame_steps())
    assert evil not in text and "alert" in text  # escaped, not dropped


@pytest.mark.parametrize("make, match", [
    (lambda run: trajviz.animate(run, "booth", view="3d", **SMALL), "2d view"),
    (lambda run: trajviz.plot(run, "booth", **SMALL), "only be saved as .png"),
], ids=["3d", "static-figure"])
def test_what_a_page_cannot_show_is_a_clear_error(make, match, tmp_path):
    run = trajviz.run("booth", "adam:lr=0.5", steps=5, progress=False)
    with pytest.raises(UsageError, match=match):
        trajviz.save(make(run), tmp_path / "x.html")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="not from frames"):
        HtmlWriter().write(tmp_path / "y.html", iter([]), fps=20, n_frames=0)


@pytest.mark.slow
def test_default_race_page_is_under_2_mb(tmp_path, monkeypatch, capsys):
    from trajviz.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--surface", "rosenbrock", "--out", "race.html"]) == 0
    size = (tmp_path / "race.html").stat().st_size
    assert 50_000 < size <= 2_000_000, size
