"""``trajviz basins`` and ``trajviz sweep`` from the command line."""

from __future__ import annotations

import numpy as np
import pytest

from trajviz.cli import main
from trajviz.maps import BasinMap, SweepMap


def test_basins_command_writes_figure_and_npz(tmp_path, capsys) -> None:
    out = tmp_path / "basins.png"
    rc = main(["basins", "--surface", "himmelblau", "--optimizers", "sgd:lr=0.01,adam:lr=0.05",
               "--grid", "20x12", "--steps", "60", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert out.stat().st_size > 10_000
    m = BasinMap.load(tmp_path / "basins.npz")
    assert m.final.shape == (2, 12, 20, 2) and m.labels == ["sgd(lr=0.01)", "adam(lr=0.05)"]
    text = capsys.readouterr().out
    assert "sgd(lr=0.01)" in text and "wrote" in text
    for s in m.summary():  # the table reports the library's summary
        row = next(line.split() for line in text.splitlines() if line.startswith(s.label))
        assert row[1] == f"{s.converged:.1%}" and row[-2] == f"{s.diverged:.1%}"
        assert row[-1] == ("-" if s.median_steps is None else str(s.median_steps))


def test_sweep_command_issue_syntax(tmp_path, capsys) -> None:
    out = tmp_path / "sweep.png"
    rc = main(["sweep", "--surface", "rosenbrock", "--optimizer", "adam",
               "--param", "lr=1e-4:1:log:6", "--param", "betas[0]=0.5:0.999:4",
               "--steps", "30", "--out", str(out), "--npz", str(tmp_path / "r.npz"),
               "--no-progress"])
    assert rc == 0 and out.exists()
    s = SweepMap.load(tmp_path / "r.npz")
    assert s.shape == (4, 6) and [a.label for a in s.axes] == ["lr", "betas[0]"]
    np.testing.assert_allclose((s.axes[0].values[0], s.axes[0].values[-1]), (1e-4, 1.0))
    assert "lowest final loss" in capsys.readouterr().out


BAD = [
    (["sweep", "--param", "lr=1:1e-4:log:8"], "reversed range"),
    (["sweep", "--param", "lr=1e-4:1:log:0"], "empty range"),
    (["sweep", "--optimizer", "adam", "--param", "momentum=0:0.9:4"],
     "does not take 'momentum'"),
    (["sweep", "--param", "lr=0.1,0.2", "--start", "1"], "expected a point"),
    (["basins", "--grid", "0"], "positive integers"),
    (["basins", "--grid", "12", "--domain", "1,0,0,1"], "x0 < x1"),
    (["basins", "--grid", "12", "--optimizers", "nosuch"], "unknown optimizer"),
    (["basins", "--grid", "12", "--scheduler", "reducelronplateau"], "step-based scheduler"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[b[1] for b in BAD])
def test_bad_input_exits_2_without_files(tmp_path, capsys, argv: list[str], message: str
                                         ) -> None:
    out = tmp_path / "m.png"
    assert main([*argv, "--steps", "3", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_figure_suffix_fails_before_running(tmp_path, capsys) -> None:
    assert main(["basins", "--out", str(tmp_path / "m.bmpx"), "--no-progress"]) == 2
    assert "suffix must be one of" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
