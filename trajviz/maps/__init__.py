"""Convergence maps: basins of attraction and hyperparameter sweeps from many exact runs.

Example:
    >>> from trajviz.maps import basins, plot_basins
    >>> m = basins("himmelblau", "sgd:lr=0.01,adam:lr=0.1", grid=64, steps=300)
    >>> fig = plot_basins(m)
"""

from .basins import BasinMap, basins
from .params import ParamAxis, parse_param
from .plot import plot_basins, plot_sweep, save_figure
from .sweep import SweepMap, sweep

__all__ = [
    "BasinMap",
    "ParamAxis",
    "SweepMap",
    "basins",
    "parse_param",
    "plot_basins",
    "plot_sweep",
    "save_figure",
    "sweep",
]
