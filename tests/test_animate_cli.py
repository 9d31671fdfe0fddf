"""``trajviz animate`` and ``trajviz plot`` from the command line."""

import numpy as np
import pytest
from PIL import Image

from trajviz.cli import main

QUICK = ["--steps", "20", "--frames", "6", "--size", "4x3", "--dpi", "50"]


@pytest.mark.slow
def test_main_job_writes_the_surface_gif_in_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--surface", "rosenbrock"]) == 0
    assert capsys.readouterr().out.strip() == "wrote rosenbrock.gif"
    with Image.open(tmp_path / "rosenbrock.gif") as im:
        assert im.size == (800, 600) and im.n_frames == 200
    assert [p.name for p in tmp_path.iterdir()] == ["rosenbrock.gif"]


@pytest.mark.parametrize("flags, out", [
    ([], "quadratic.gif"),
    (["--theme", "dark", "--arrows", "--out", "q.png"], "q.png"),
    (["--view", "3d", "--no-updates", "--out", "q3d.gif"], "q3d.gif"),
    (["--no-loss", "--optimizers", "sgd,adam:lr=0.2", "--out", "frames"], "frames"),
    (["--scheduler", "steplr:step_size=5,gamma=0.5", "--start", "1,0.5", "--out", "s.gif"],
     "s.gif"),
], ids=["default-out", "dark-arrows-png", "3d", "folder", "scheduler"])
def test_animate_options(flags, out, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--surface", "quadratic", *QUICK, *flags]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    path = tmp_path / out
    if path.is_dir():
        assert len(list(path.iterdir())) == 6
    else:
        with Image.open(path) as im:
            assert im.size == (200, 150)
            assert getattr(im, "n_frames", 1) == (1 if out.endswith(".png") else 6)


def test_animate_and_plot_a_saved_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--surface", "himmelblau", "--optimizers", "adam:lr=0.1,sgd:lr=0.01",
                 "--steps", "30", "--out", "h.npz"]) == 0
    assert main(["animate", "--from", "h.npz", "--frames", "5", "--size", "4x3", "--dpi",
                 "50"]) == 0
    assert main(["plot", "--from", "h.npz", "--out", "h.svg"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["wrote h.gif", "wrote h.svg"]
    with Image.open(tmp_path / "h.gif") as im:
        assert im.n_frames == 5


def test_plot_writes_the_surface_png(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--surface", "booth", "--steps", "30", "--size", "4x3",
                 "--dpi", "50"]) == 0
    assert capsys.readouterr().out.strip() == "wrote booth.png"
    assert np.array(Image.open(tmp_path / "booth.png")).shape[:2] == (150, 200)


@pytest.mark.parametrize("argv, message", [
    (["animate", "--out", "x.avi"], "unknown extension '.avi'; supported: .gif"),
    (["plot", "--out", "x.gif"], "a plot is saved as .png, .svg, .pdf"),
    (["animate", "--out", "missing/x.gif"], "folder 'missing' does not exist"),
    (["animate", "--from", "nope.npz"], "cannot read run file 'nope.npz'"),
    (["animate", "--surface", "rosenbrok"], "did you mean 'rosenbrock'"),
    (["animate", "--frames", "0"], "argument --frames: must be at least 1"),
], ids=["extension", "plot-format", "folder", "from", "surface", "frames"])
def test_bad_input_exits_2_with_a_message_and_no_file(argv, message, tmp_path, monkeypatch,
                                                      capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_choice_is_an_argparse_error_in_one_line(capsys):
    assert main(["animate", "--theme", "neon"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'neon'" in err and err.count("\n") == 1
