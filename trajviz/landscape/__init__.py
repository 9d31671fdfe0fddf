"""Loss landscapes of small image classifiers: real training paths on planes of weights.

`load_dataset` reads one of `DATASETS`, `build_model` builds one of `MODELS` from a seed,
`compute_landscape` trains every optimizer from it (by default the tutorial's
`SEED_SETTINGS`), makes the plane and evaluates its `Grid`; `loss_landscape` is the grid of
any model, data and loss. The helpers behind them stay in their modules
(``trajviz.landscape.grid``, ``.directions``, ``.data``, ...).

Example:
    >>> from trajviz.landscape import load_dataset, build_model, compute_landscape
    >>> data = load_dataset("mnist", data_dir="data")  # doctest: +SKIP
    >>> land = compute_landscape(build_model("mlp"), data, optimizers="sgd:lr=0.1,adam")
    ... # doctest: +SKIP
    >>> land.grid.save("grid.npz")  # doctest: +SKIP
"""

from .api import loss_landscape
from .data import DATASETS, Dataset, load_dataset
from .directions import Plane, Projection, pca_plane, project, random_plane
from .evaluator import PlaneEvaluator
from .grid import Grid, evaluate_grid
from .hessian import hessian_plane
from .models import MODELS, build_model
from .paths import paths_run
from .pipeline import Landscape, PlaneConfig, compute_landscape
from .surface import plane_surface
from .train import SEED_SETTINGS, TrainConfig, Training, Trajectory, train

__all__ = [
    "DATASETS",
    "Dataset",
    "Grid",
    "Landscape",
    "MODELS",
    "Plane",
    "PlaneConfig",
    "PlaneEvaluator",
    "Projection",
    "SEED_SETTINGS",
    "TrainConfig",
    "Training",
    "Trajectory",
    "build_model",
    "compute_landscape",
    "evaluate_grid",
    "hessian_plane",
    "load_dataset",
    "loss_landscape",
    "paths_run",
    "pca_plane",
    "plane_surface",
    "project",
    "random_plane",
    "train",
]
