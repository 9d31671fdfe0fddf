"""What both explorers show: the side panel beside the figure, the play row under it, the
status line's messages, and the GIF export."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..errors import UsageError
from ..plot import RunFigure
from ._view import FigureView

CONTROL_WIDTH = "330px"


def error_html(*messages: str) -> str:
    """``messages``, one a line, as the status line shows an error."""
    text = "<br>".join(html.escape(m) for m in messages)
    return f"<span class='tv-error' style='color:#b00020'>{text}</span>"


def playback_controls(steps: int, *, interval: int, description: str) -> dict[str, Any]:
    """A play button and the step slider, at step ``steps`` of ``steps``, linked in the
    kernel (a front-end link echoes every value back and can overwrite a later one)."""
    play = widgets.Play(interval=interval, min=0, max=steps, value=steps, step=1,
                        description="play", disabled=not steps)
    step = widgets.IntSlider(value=steps, min=0, max=steps, description=description,
                             continuous_update=True, disabled=not steps,
                             layout=widgets.Layout(width="520px"))
    widgets.link((play, "value"), (step, "value"))
    widgets.link((play, "max"), (step, "max"))
    return {"play": play, "step": step}


def export_controls(filename: str, **text_options: Any) -> dict[str, Any]:
    """The GIF file name (``filename`` to begin with) and the export button."""
    return {"gif_path": widgets.Text(value=filename, description="GIF file",
                                     layout=widgets.Layout(width=CONTROL_WIDTH), **text_options),
            "export": widgets.Button(description="Export GIF", icon="film")}


def tag_controls(controls: dict[str, widgets.Widget]) -> None:
    """Gives each control the CSS class ``tv-NAME`` (``gif_path``: ``tv-gif-path``)."""
    for name, widget in controls.items():
        widget.add_class(f"tv-{name.replace('_', '-')}")


def panel_layout(controls: dict[str, Any], side: list[widgets.Widget], view: FigureView,
                 below: list[widgets.Widget]) -> list[widgets.Widget]:
    """The side panel (``side``, then the export) beside the figure, the play row, then
    ``below``: an explorer's children."""
    w = widgets
    panel = w.VBox([*side, w.HBox([controls["export"]]), controls["gif_path"]],
                   layout=w.Layout(width="350px", min_width="350px"))
    return [w.HBox([panel, view.widget], layout=w.Layout(flex_flow="row wrap")),
            w.HBox([controls["play"], controls["step"]]), *below]


def write_gif(view: FigureView, figure: RunFigure, path: str | os.PathLike[str] | None,
             controls: dict[str, Any], **save_options: Any) -> Path | None:
    """Writes ``figure``'s animation (`FigureView.export`) to ``path`` (by default the
    ``gif_path`` control's) and says so in the ``status`` control; returns the path, or
    ``None`` after showing why it failed."""
    target = Path(path if path is not None else controls["gif_path"].value).resolve()
    try:
        written = view.export(figure, target, **save_options)
    except UsageError as e:
        controls["status"].value = error_html(str(e))
        return None
    controls["status"].value = f"wrote <code>{html.escape(str(written))}</code>"
    return written
