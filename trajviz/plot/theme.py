"""Colours and type for trajviz figures: a light and a dark theme, colour-blind safe.

Optimizer colours follow Okabe and Ito's palette (distinguishable with every common form of
colour blindness); the surface is drawn in muted greys/blues so that the paths stand out.
Themes apply through `matplotlib.rc_context`, never by changing global style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
from matplotlib.colors import Colormap, LinearSegmentedColormap

from ..errors import UsageError


@dataclass(frozen=True)
class Theme:
    """Everything a figure needs to know about colour.

    Attributes:
        name: the theme's name, as ``--theme`` takes it.
        background: figure and axes face colour.
        foreground: text, spines, ticks.
        muted: secondary lines (grid, cursor).
        surface: colours of the contour map, low to high.
        palette: one colour per optimizer, cycled.
        positive, negative: update-bar colours by sign.
    """

    name: str
    background: str
    foreground: str
    muted: str
    surface: tuple[str, ...]
    palette: tuple[str, ...]
    positive: str = "#0072B2"
    negative: str = "#D55E00"
    rc: dict[str, Any] = field(default_factory=dict)

    @property
    def cmap(self) -> Colormap:
        return LinearSegmentedColormap.from_list(f"trajviz-{self.name}", list(self.surface))

    def color(self, i: int) -> str:
        return self.palette[i % len(self.palette)]

    def rc_params(self) -> dict[str, Any]:
        """Matplotlib settings for `matplotlib.rc_context` while a figure is built."""
        return {
            "figure.facecolor": self.background,
            "axes.facecolor": self.background,
            "savefig.facecolor": self.background,
            "axes.edgecolor": self.foreground,
            "axes.labelcolor": self.foreground,
            "xtick.color": self.foreground,
            "ytick.color": self.foreground,
            "text.color": self.foreground,
            "legend.facecolor": self.background,
            "legend.edgecolor": self.muted,
            "font.size": 9.5,
            "axes.titlesize": 10.5,
            "axes.labelsize": 9.5,
            "legend.fontsize": 8.5,
            "xtick.labelsize": 8.5,
            "ytick.labelsize": 8.5,
            "axes.spines.top": False,
            "axes.spines.right": False,
            **self.rc,
        }


# Okabe & Ito (2008), in an order where neighbours contrast; yellow last (weak on white).
_OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
              "#F0E442")

THEMES: dict[str, Theme] = {
    "light": Theme(
        name="light",
        background="#FFFFFF",
        foreground="#222222",
        muted="#9A9A9A",
        surface=("#FBFBF7", "#EBEDEF", "#D7DCE2", "#BEC7D1", "#A3AFBE"),
        palette=_OKABE_ITO,
    ),
    "dark": Theme(
        name="dark",
        background="#16181D",
        foreground="#E8E8E8",
        muted="#6B6F78",
        surface=("#1B1E25", "#262B35", "#343C4B", "#465166", "#5E6B85"),
        palette=("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#F0E442", "#0072B2", "#FFFFFF",
                 "#D55E00"),
        positive="#56B4E9",
        negative="#E69F00",
    ),
}


def get_theme(name: str | Theme) -> Theme:
    """A theme by name (``light`` or ``dark``), or the theme itself."""
    if isinstance(name, Theme):
        return name
    try:
        return THEMES[name]
    except KeyError:
        raise UsageError(f"unknown theme {name!r}; valid themes: {', '.join(THEMES)}") from None


def rc_context(theme: Theme):  # noqa: ANN201 (a context manager)
    return mpl.rc_context(theme.rc_params())
