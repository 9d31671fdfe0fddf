"""Convergence maps: basins of attraction and hyperparameter sweeps from many exact runs.

Example:
    >>> from trajviz.maps import basins, plot_basins
    >>> m = basins("himmelblau", "sgd:lr=0.01,adam:lr=0.1", grid=64, steps=300)
    >>> fig = plot_basins(m)
"""

from ._outcomes import Outcomes
from .basins import BasinMap, BasinSummary, basins
from .params import ParamAxis, parse_param
from .plot import plot_basins, plot_sweep, save_figure
from .sweep import SweepMap, SweepSummary, sweep

__all__ = [
    "BasinMap",
    "BasinSummary",
    "Outcomes",
    "ParamAxis",
    "SweepMap",
    "SweepSummary",
    "basins",
    "parse_param",
    "plot_basins",
    "plot_sweep",
    "save_figure",
    "sweep",
]
