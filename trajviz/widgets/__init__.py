"""Notebook explorers: `explore` (sliders over live runs on an analytic surface) and
`explore_landscape` (a saved MNIST loss-landscape grid and its training paths)."""

from .explore import Explorer, Timing, explore
from .explore_landscape import LandscapeExplorer, explore_landscape

__all__ = ["Explorer", "LandscapeExplorer", "Timing", "explore", "explore_landscape"]
