"""Loss landscapes of small image classifiers: real training paths on planes of weights.

Example:
    >>> from trajviz.landscape import load_dataset, build_model, compute_landscape
    >>> data = load_dataset("mnist", data_dir="data")  # doctest: +SKIP
    >>> land = compute_landscape(build_model("mlp"), data, optimizers="sgd:lr=0.1,adam")
    ... # doctest: +SKIP
    >>> land.grid.save("grid.npz")  # doctest: +SKIP
"""

from .api import as_tensors, batchnorm_mask, loss_landscape
from .data import DATASETS, Dataset, load_dataset, read_idx
from .directions import (
    Plane,
    Projection,
    choose_centre,
    filter_normalize,
    line,
    pca_plane,
    project,
    random_plane,
)
from .evaluator import PlaneEvaluator
from .grid import Grid, evaluate_grid, grid_points
from .hessian import hessian_plane
from .models import MODELS, build_model
from .paths import paths_run
from .pipeline import Landscape, PlaneConfig, compute_landscape, model_vector, plane_files
from .surface import plane_surface
from .train import SEED_SETTINGS, TrainConfig, Training, Trajectory, accuracy, train

__all__ = [
    "DATASETS",
    "MODELS",
    "SEED_SETTINGS",
    "Dataset",
    "Grid",
    "Landscape",
    "Plane",
    "PlaneConfig",
    "PlaneEvaluator",
    "Projection",
    "TrainConfig",
    "Training",
    "Trajectory",
    "accuracy",
    "as_tensors",
    "batchnorm_mask",
    "build_model",
    "choose_centre",
    "compute_landscape",
    "evaluate_grid",
    "filter_normalize",
    "grid_points",
    "hessian_plane",
    "line",
    "load_dataset",
    "loss_landscape",
    "model_vector",
    "paths_run",
    "pca_plane",
    "plane_files",
    "plane_surface",
    "project",
    "random_plane",
    "read_idx",
    "train",
]
