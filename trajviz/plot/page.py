"""The ``.html`` writer: one self-contained page that plays a run offline in any browser.

The page is the `RunFigure` itself, split the way its frames are rendered: the static
background (contours, axes, legend, caption) as one embedded PNG, and the moving parts as
data that a small script (``page.js``) draws over it at any step: paths with their trails
and heads, the update bars, the loss curves, the title. Every coordinate is computed here
with the figure's own matplotlib transforms (linear, log, symmetric-log), so the script only
draws pixels it is given, and a frame of the page matches a frame of the GIF. The run's
recorded values travel along for the table under the figure.

Nothing is fetched: the script, the style, the image and the data are inline, and the
page's content security policy forbids any network access.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_hex, to_rgba
from PIL import Image

from .. import __version__
from ..errors import UsageError
from ._blit import BlittedFigure
from .figure import RunFigure, display_name
from .panels import BAR_HEIGHT, SurfacePanel
from .writers import FrameWriter, register

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'")


@register
class HtmlWriter(FrameWriter):
    """A self-contained HTML page: play/pause, a step scrubber, the figure, a table."""

    name = "html"
    extensions = (".html", ".htm")
    description = "a self-contained page with play and a step scrubber, for any browser"
    needs_figure = True

    def write(self, path: Path, frames: Any, *, fps: float, n_frames: int,
              sample: np.ndarray | None = None) -> None:
        raise UsageError("an HTML page is made from a RunFigure or an animation of one, "
                         "not from frames")

    def write_figure(self, path: Path, figure: BlittedFigure, steps: np.ndarray, *,
                     fps: float) -> None:
        if not isinstance(figure, RunFigure):
            raise UsageError(f"an HTML page shows a race (a RunFigure), not a "
                             f"{type(figure).__name__}; save this one as .gif, .mp4 or .png")
        path.write_text(page_html(figure, steps, fps=fps), encoding="utf-8")  # save(): a temp path


def page_html(rf: RunFigure, steps: np.ndarray, *, fps: float = 20) -> str:
    """The page for ``rf``, playing ``steps`` (negative ones: the question card) at
    ``fps``; scrubbing reaches every step."""
    data = page_data(rf, steps, fps=fps)
    script = resources.files(__package__).joinpath("page.js").read_text(encoding="utf-8")
    title = html.escape(rf.title)
    th = rf.theme
    # JSON in a script element: "</" must not close it early.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return _TEMPLATE.format(csp=CSP, title=title, payload=payload, script=script,
                            bg=th.background, fg=th.foreground, muted=th.muted)


def page_data(rf: RunFigure, steps: np.ndarray, *, fps: float = 20) -> dict[str, Any]:
    """Everything the page's script draws, in the figure's pixels (origin top left)."""
    if not isinstance(rf.main, SurfacePanel):
        raise UsageError("an HTML page shows the 2d view; use --view 2d")
    run, data = rf.run, rf.data
    width, height = rf.pixel_size
    scale = rf.fig.dpi / 72  # points -> pixels

    def pixels(ax: Any, xy: np.ndarray) -> np.ndarray:
        flat = np.asarray(xy, dtype=float).reshape(-1, 2)
        out = ax.transData.transform(flat)
        out[:, 1] = height - out[:, 1]
        out[~np.isfinite(flat).all(axis=1)] = np.nan
        return out.reshape(np.shape(xy))

    main = rf.main
    page: dict[str, Any] = {
        "width": width, "height": height, "steps": run.steps, "fps": fps, "scale": scale,
        "play": [int(t) for t in steps if t >= 0],
        "background": _png(rf.background()),
        "title": {"texts": [rf._title(t) for t in range(run.steps + 1)],
                  **_text_style(rf.title_text, height)},
        "n": run.n_traj, "last": run.last_valid.tolist(),
        "diverged_at": run.diverged_at.tolist(),
        "colors": [to_hex(c) for c in data.colors],
        "main": {"clip": _box(main.ax), "xy": _f32(pixels(main.ax, run.positions)),
                 "path_alpha": float(main.paths.get_edgecolor()[0][3]),
                 "path_width": float(main.paths.get_linewidth()[0]) * scale,
                 "trail": main.trail,
                 "trail_width": float(main.trails.get_linewidth()[0]) * scale,
                 "head_radius": float(np.sqrt(main.heads.get_sizes()[0]) / 2) * scale,
                 "start_radius": float(np.sqrt(main.starts.get_sizes()[0]) / 2) * scale,
                 "mark_radius": float(np.sqrt(main.diverged.get_sizes()[0]) / 2) * scale},
        "optimizers": [{"name": name, "legend": legend, "row": int(k)}
                       for name, legend, k in zip(data.names, data.legend, data.first,
                                                  strict=True)],
        "updates": _f32(run.updates[data.first]),
        "loss": _f32(run.loss[data.first]),
        "theme": {"fg": rf.theme.foreground, "bg": rf.theme.background,
                  "positive": rf.theme.positive, "negative": rf.theme.negative},
        "meta": {"surface": display_name(rf.surface),
                 "torch": run.meta.get("torch_version"), "trajviz": __version__},
        "question": getattr(rf, "question", None),
    }
    if rf.update_panels:
        page["bars"] = [_bars(panel, data, run, pixels) for panel in rf.update_panels]
    if rf.loss is not None:
        ax = rf.loss.ax
        xy = np.stack([np.broadcast_to(rf.loss.steps, rf.loss.y.shape), rf.loss.y], axis=-1)
        page["loss_panel"] = {"clip": _box(ax), "xy": _f32(pixels(ax, xy)),
                              "alpha": float(rf.loss.lines.get_edgecolor()[0][3]),
                              "width": float(rf.loss.lines.get_linewidth()[0]) * scale}
    return page


def _bars(panel: Any, data: Any, run: Any, pixels: Any) -> dict[str, Any]:
    """Bar ends, rows and the sign markers of one update panel, in pixels."""
    rows = np.arange(data.n_opt, dtype=float)
    move = run.updates[data.first, :, panel.axis].astype(float)
    move = np.where(np.isfinite(move), move, 0.0)
    ends = pixels(panel.ax, np.stack([move, np.broadcast_to(rows[:, None], move.shape)], -1))
    half = BAR_HEIGHT / 2
    top = pixels(panel.ax, np.column_stack([np.zeros_like(rows), rows - half]))[:, 1]
    bottom = pixels(panel.ax, np.column_stack([np.zeros_like(rows), rows + half]))[:, 1]
    zero = pixels(panel.ax, np.array([[0.0, 0.0]]))[0, 0]
    push = np.sign(np.nan_to_num(-run.grads[data.first, :, panel.axis].astype(float)))
    return {"clip": _box(panel.ax), "x": _f32(ends[..., 0]), "zero": float(zero),
            "top": top.tolist(), "bottom": bottom.tolist(), "push": _i8(push),
            "marker": float(np.sqrt(panel.plus.get_sizes()[0]) / 2) * panel.ax.figure.dpi / 72}


def _box(ax: Any) -> list[float]:
    """An axes' ``[left, top, width, height]`` in pixels from the top left."""
    x0, y0, x1, y1 = ax.bbox.extents
    return [x0, ax.figure.bbox.height - y1, x1 - x0, y1 - y0]


def _text_style(text: Any, height: float) -> dict[str, Any]:
    """Where and how ``text`` is drawn: its left end and middle, in pixels from the top
    left (a title starts at the same place at every step)."""
    x0, y0, x1, y1 = text.get_window_extent().extents
    return {"x": x0, "y": height - (y0 + y1) / 2,
            "size": text.get_fontsize() * text.figure.dpi / 72,
            "weight": str(text.get_fontweight()), "color": to_hex(to_rgba(text.get_color()))}


def _png(rgb: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _f32(a: np.ndarray) -> str:
    """Little-endian float32, base64: compact, and NaN survives."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _i8(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.int8).tobytes()).decode("ascii")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - trajviz</title>
<style>
  body {{ margin: 0; background: {bg}; color: {fg};
         font: 14px/1.4 "DejaVu Sans", system-ui, sans-serif; }}
  main {{ max-width: max-content; margin: 12px auto; padding: 0 12px; }}
  .stage {{ position: relative; }}
  canvas {{ display: block; max-width: 100%; height: auto; }}
  .question {{ position: absolute; inset: 0; display: flex; align-items: center;
              justify-content: center; }}
  .question[hidden] {{ display: none; }}
  .question div {{ max-width: 60%; padding: 24px 32px; border: 1.5px solid {fg};
                  border-radius: 14px; background: {bg}; opacity: 0.95; font-size: 22px;
                  font-weight: bold; text-align: center; }}
  .controls {{ display: flex; gap: 12px; align-items: center; margin: 8px 0; }}
  .controls input {{ flex: 1; }}
  button {{ font: inherit; min-width: 6em; }}
  table {{ border-collapse: collapse; font-size: 13px; margin-top: 6px; }}
  th, td {{ padding: 2px 10px; text-align: right; }}
  th:first-child, td:first-child {{ text-align: left; }}
  .swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px;
            border-radius: 2px; }}
  .about {{ color: {muted}; font-size: 12px; }}
</style>
</head>
<body>
<main>
  <div class="stage">
    <canvas id="tv-canvas"></canvas>
    <div class="question" id="tv-question" hidden><div></div></div>
  </div>
  <div class="controls">
    <button id="tv-play" type="button">Play</button>
    <input id="tv-scrub" type="range" min="0" value="0" aria-label="step">
    <output id="tv-step"></output>
  </div>
  <table id="tv-table">
    <thead><tr><th>optimizer</th><th>update Δx</th><th>update Δy</th><th>loss</th></tr></thead>
    <tbody></tbody>
  </table>
  <p class="about" id="tv-about"></p>
</main>
<script type="application/json" id="trajviz-data">{payload}</script>
<script>
{script}
</script>
</body>
</html>
"""
