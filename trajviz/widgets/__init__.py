"""Notebook explorers: `explore` (sliders over live runs on an analytic surface, its model an
`ExplorerState`) and `explore_landscape` (a saved MNIST loss-landscape grid and its training
paths)."""

from ._state import ExplorerState
from .explore import Explorer, Timing, explore
from .explore_landscape import LandscapeExplorer, explore_landscape

__all__ = ["Explorer", "ExplorerState", "LandscapeExplorer", "Timing", "explore",
           "explore_landscape"]
