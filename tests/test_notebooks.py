"""The example notebooks and scripts run headless, in small mode (``TRAJVIZ_SMALL=1``).

Each notebook runs top to bottom in a real ipykernel (nbclient); a cell that raises fails
the test with the cell and its traceback. The notebooks in git carry no outputs.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
# MNIST for 03_mnist_landscape: $TRAJVIZ_DATA, else the shared folder beside the checkout.
DATA = os.environ.get("TRAJVIZ_DATA") or str(REPO.parent / "shared" / "data")
NOTEBOOKS = sorted(EXAMPLES.glob("[0-9][0-9]_*.ipynb"))
# the output each notebook must show: (mime type, at least this many)
EXPECTED = {
    "01_gradient_descent": ("image/png", 8),
    "02_explorer": ("application/vnd.jupyter.widget-view+json", 2),
    "03_mnist_landscape": ("image/png", 2),
}
# script -> (the files it must write into --out, a line it must print)
SCRIPTS = {
    "gradient_descent.py": (["ravine.png", "adaptive.gif", "schedules.png", "saddle.gif"],
                            "trajviz matches the hand-written loop"),
    "explorer_latency.py": ([], "one learning rate (1 re-run)"),
    "mnist_landscape.py": (["landscape.png", "accuracy.txt"], "held-out accuracy"),
}


def small_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "TRAJVIZ_SMALL": "1", "TRAJVIZ_DATA": DATA, "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(tmp_path / "mpl")}


def test_every_notebook_and_script_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(EXPECTED)
    for name in SCRIPTS:
        assert (EXAMPLES / name).is_file(), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    for key, value in small_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND")  # the kernel picks its own (inline), as in Jupyter
    before = sorted(EXAMPLES.iterdir())
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, when one raises
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    mime, least = EXPECTED[path.stem]
    shown = [o for o in outputs if mime in o.get("data", {})]
    assert len(shown) >= least, f"{path.name}: {len(shown)} outputs of {mime}"
    assert sorted(EXAMPLES.iterdir()) == before, "the notebook wrote into examples/"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS), ids=sorted(SCRIPTS))
def test_script_runs(script, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--out", str(out)],
                          env=small_env(tmp_path), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files, line = SCRIPTS[script]
    for name in files:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert line in proc.stdout
