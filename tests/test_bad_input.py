"""Every command and every kind of option, given bad input: one line on stderr naming what
is wrong, exit 2 for bad input, exit 1 for a failure in the user's own code or of the
operating system, never a traceback, and no file left behind."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import trajviz
from trajviz.cli import main

USER = "custom_objects"  # tests/custom_objects.py, imported by path as a user's code is

# (argv, exit code, part of the message). Each row fails before any real work.
BAD = [
    # list
    (["list", "everything"], 2, "argument what: invalid choice: 'everything'"),
    # run: every option type (integer, number, seed, point, points, specs, choice, path)
    (["run", "--steps", "2.5"], 2, "argument --steps: must be at least 1 (an integer), got '2.5'"),
    (["run", "--steps", "-3"], 2, "argument --steps: must be at least 1"),
    (["run", "--steps", "1000000000"], 2, "needs"),
    (["run", "--tol", "nan"], 2, "argument --tol: must be greater than 0 (a finite number)"),
    (["run", "--noise", "inf"], 2, "argument --noise: must be at least 0 (a finite number)"),
    (["run", "--batch-size", "0"], 2, "argument --batch-size: must be at least 1"),
    (["run", "--bound", "-1"], 2, "argument --bound: must be greater than 0"),
    (["run", "--seed", "-1"], 2, "argument --seed: must be from 0 to 9223372036854775807"),
    (["run", "--seed", "99999999999999999999999"], 2, "argument --seed: must be from 0"),
    (["run", "--start", "1,2,3"], 2, "argument --start: expected a point 'x,y' of 2 finite"),
    (["run", "--start", "nan,1"], 2, "argument --start: expected a point"),
    (["run", "--starts", ";"], 2, "argument --starts: expected points"),
    (["run", "--surface", 'rosenbrock:b="x"'], 2, "b must be a finite number, got 'x'"),
    (["run", "--surface", "rosenbrock:b=1e999"], 2, "b must be a finite number, got inf"),
    (["run", "--surface", "nowhere:f"], 2, "cannot import surface 'nowhere:f'"),
    (["run", "--optimizers", "adam:lr=fast"], 2, "lr must be a number, got 'fast'"),
    (["run", "--optimizers", "adam:lr=nan"], 2, "lr must be a number, got 'nan'"),
    (["run", "--optimizers", "adam:betas=0.9"], 2, "betas must be a tuple of 2 numbers"),
    (["run", "--optimizers", "adam:lrr=0.1"], 2, "Adam does not take 'lrr' (did you mean 'lr'?)"),
    (["run", "--optimizers", "lbfgs:history_size=0"], 2, "IndexError"),
    (["run", "--scheduler", "steplr:step_size=0"], 2, "ZeroDivisionError"),
    (["run", "--scheduler", "steplr:step_size=1,gamma=x"], 2, "gamma must be a number"),
    (["run", "--dtype", "float16"], 2, "argument --dtype: invalid choice: 'float16'"),
    (["run", "--device", "tpu"], 2, "valid devices: auto, cpu, cuda"),
    (["run", "--out", "/nonexistent-dir/run.npz"], 2, "folder '/nonexistent-dir' does not exist"),
    (["run", "--out", ""], 2, "argument --out: empty path"),
    # negative coordinates as the help writes them: the value reaches its parser
    (["run", "--start", "-1.5,nan"], 2, "argument --start: expected a point 'x,y'"),
    (["run", "--start", "-.5,2,3"], 2, "argument --start: expected a point 'x,y'"),
    (["run", "--starts", "-1,0;1,nan"], 2, "argument --starts: expected a point 'x,y'"),
    # surfaces whose parameters leave no domain, or no finite value to draw
    (["run", "--surface", "plateau:width=0"], 2, "plateau needs width > 0, got 0"),
    (["plot", "--surface", "plateau:width=1e308"], 2,
     "surface 'plateau:width=1e+308,tilt=0.01' has domain ((-inf, inf), (-inf, inf))"),
    (["animate", "--surface", "rosenbrock:a=1e200", "--view", "3d", "--frames", "2",
      "--optimizers", "sgd"], 2, "has no finite value on its domain (its values overflow)"),
    (["run", "--no-such-option"], 2, "unrecognized arguments: --no-such-option"),
    # animate and plot: frame rate, frames, size, dpi, title, formats, run files
    (["animate", "--fps", "inf", "--out", "a.mp4"], 2, "argument --fps: must be greater than 0"),
    (["animate", "--fps", "0"], 2, "argument --fps: must be greater than 0 and at most 1000"),
    (["animate", "--frames", "0"], 2, "argument --frames: must be at least 1"),
    (["animate", "--size", "nanx6"], 2, "argument --size: expected WxH in inches"),
    (["animate", "--size", "8"], 2, "argument --size: expected WxH in inches"),
    (["animate", "--dpi", "0"], 2, "argument --dpi: must be at least 1"),
    (["animate", "--size", "8x6", "--dpi", "1"], 2, "argument --dpi: must be at least 10"),
    (["animate", "--size", "1e-300x6"], 2, "1e-298 x 600 pixels (size 1e-300x6 in at 100 dpi); "
     "at least 32 and at most 65535 pixels a side"),
    (["plot", "--size", "0.1x0.1", "--dpi", "10"], 2, "at least 32 and at most 65535 pixels"),
    (["animate", "--title", "x" * 501], 2, "argument --title: the title 'xxx"),
    (["animate", "--title", "$" + "{" * 500 + "x" + "}" * 500 + "$"], 2,
     "is 1003 characters long; at most 500"),
    (["plot", "--title", "$" + "{" * 40 + "x" + "}" * 40 + "$"], 2,
     "nests braces or \\left 40 deep; at most 12"),
    (["animate", "--out", ""], 2, "argument --out: empty path"),
    (["animate", "--from", ""], 2, "argument --from: empty path"),
    (["plot", "--out", ""], 2, "argument --out: empty path"),
    (["plot", "--from", ""], 2, "argument --from: empty path"),
    (["animate", "--size", "100x100", "--dpi", "1000"], 2, "at most 65535 pixels a side"),
    (["animate", "--size", "60x60", "--dpi", "1000"], 2, "needs"),
    (["plot", "--title", r"$\frac$ budget"], 2, "argument --title: the title"),
    (["animate", "--out", "x.avi"], 2, "unknown extension '.avi'"),
    (["animate", "--view", "4d"], 2, "argument --view: invalid choice: '4d'"),
    (["animate", "--from", "missing.npz"], 2, "cannot read run file 'missing.npz'"),
    (["animate", "--out", "folder.gif"], 2, "cannot write 'folder.gif': it is a folder"),
    (["plot", "--out", "x.gif"], 2, "a plot is saved as .png, .svg, .pdf"),
    # lesson
    (["lesson", "ravine", "--fps", "inf"], 2, "argument --fps: must be greater than 0"),
    (["lesson", "ravine", "--question-seconds", "nan"], 2,
     "argument --question-seconds: must be from 0 to 60"),
    (["lesson", "ravine", "--size", "8xinf"], 2, "argument --size: expected WxH"),
    (["lesson", "ravine", "--size", "90x90", "--dpi", "1000"], 2, "at most 65535 pixels"),
    (["lesson", "nosuch"], 2, "valid lessons"),
    (["lesson", "saddle", "--question-seconds", "10", "--fps", "1000"], 2,
     "--question-seconds 10 at --fps 1000 holds the question for 10000 frames; at most 1200"),
    (["lesson", "saddle", "--out", ""], 2, "argument --out: empty path"),
    (["lesson", "saddle", "--dpi", "5"], 2, "argument --dpi: must be at least 10"),
    (["lesson", "saddle", "--size", "0.2x3"], 2, "would be 20 x 300 pixels"),
    # basins and sweep: grids, domains, budgets, swept ranges
    (["basins", "--grid", "1000000", "--out", "b.png"], 2, "basin map of 1000000 x 1000000"),
    (["basins", "--grid", "0x4", "--out", "b.png"], 2, "argument --grid: expected a grid size"),
    (["basins", "--memory-mb", "nan", "--out", "b.png"], 2, "argument --memory-mb: must be"),
    (["basins", "--memory-mb", "1e15", "--out", "b.png"], 2, "argument --memory-mb: a budget"),
    (["basins", "--domain", "0,1,nan,2", "--out", "b.png"], 2, "argument --domain: expected"),
    (["basins", "--tol", "-1", "--out", "b.png"], 2, "argument --tol: must be greater than 0"),
    (["basins", "--domain", "-5,5,-5,nan", "--out", "b.png"], 2,
     "argument --domain: expected a domain x0,x1,y0,y1"),
    (["basins", "--out", ""], 2, "argument --out: empty path"),
    (["basins", "--out", "b.png", "--npz", ""], 2, "argument --npz: empty path"),
    (["sweep", "--param", "lr=0.1,0.2", "--out", "s.png", "--npz", ""], 2,
     "argument --npz: empty path"),
    (["sweep", "--param", "lr=0.1,0.2", "--start", "-1,nan", "--out", "s.png"], 2,
     "argument --start: expected a point"),
    (["sweep", "--param", "lr=1e-4:1:log:100000000000", "--out", "s.png"], 2, "needs"),
    (["sweep", "--param", "lr=0.1,0.2", "--start", "1,2,3", "--out", "s.png"], 2,
     "argument --start: expected a point"),
    (["sweep", "--param", "lr=1:nan:4", "--out", "s.png"], 2, "must be finite"),
    # landscape: its generic option types fail while parsing, before any data is read
    (["landscape", "--seed", "-1"], 2, "argument --seed: must be from 0"),
    (["landscape", "--out", ""], 2, "argument --out: empty path"),
    (["landscape", "--save-grid", ""], 2, "argument --save-grid: empty path"),
    (["landscape", "--dpi", "1"], 2, "argument --dpi: must be at least 10"),
    (["landscape", "--direction-seed", "1.5"], 2, "argument --direction-seed: must be from 0"),
    (["landscape", "--memory-mb", "inf"], 2, "argument --memory-mb: must be greater than 0"),
    (["landscape", "--iterations", "0"], 2, "argument --iterations: must be at least 1"),
    (["landscape", "--batch-size", "x"], 2, "argument --batch-size: must be at least 1"),
    (["landscape", "--grid", "1"], 2, "argument --grid: must be from 2 to 4096"),
    (["landscape", "--grid-samples", "0"], 2, "argument --grid-samples: must be at least 1"),
    (["landscape", "--chunk-points", "-5"], 2, "argument --chunk-points: must be at least 1"),
    (["landscape", "--frames", "0"], 2, "argument --frames: must be at least 1"),
    (["landscape", "--fps", "0"], 2, "argument --fps: must be greater than 0"),
    (["landscape", "--dpi", "0"], 2, "argument --dpi: must be at least 1"),
    (["landscape", "--extent", "0,1,inf,2", "--data-dir", "."], 2, "--extent amin,amax,bmin"),
    (["landscape", "--extent", "-1,1,-1,nan", "--data-dir", "."], 2,
     "expected --extent amin,amax,bmin,bmax of 4 finite numbers"),
    # the user's own code: its failures are its own (exit 1); a misfit is bad input (exit 2)
    (["run", "--surface", f"{USER}:raising_surface"], 1,
     f"error in your surface '{USER}:raising_surface': ZeroDivisionError: my surface "
     "divides by zero"),
    (["run", "--surface", f"{USER}:batch_sum_surface"], 2, "one loss per point, shape (3,)"),
    (["run", "--optimizers", f"{USER}:RaisingOptimizer:lr=0.1"], 1,
     f"error in your optimizer '{USER}:RaisingOptimizer': RuntimeError: my optimizer is broken"),
    (["run", "--scheduler", f"{USER}:RaisingScheduler:step_size=1", "--steps", "5"], 1,
     f"error in your scheduler '{USER}:RaisingScheduler': ArithmeticError"),
    (["run", "--scheduler", f"{USER}:NotAScheduler"], 2,
     "is not a torch.optim.lr_scheduler.LRScheduler subclass"),
    (["basins", "--surface", f"{USER}:raising_surface", "--out", "b.png"], 1,
     "error in your surface"),
    (["animate", "--surface", f"{USER}:raising_surface"], 1, "error in your surface"),
    # the operating system
    (["plot", "--out", "/proc/trajviz-test.png"], 1, "cannot write '/proc/trajviz-test.png'"),
]


@pytest.mark.parametrize("argv, code, message", BAD, ids=[" ".join(r[0])[:60] for r in BAD])
def test_bad_input_is_one_line_and_an_exit_code(argv, code, message, tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.gif").mkdir()
    before = sorted(tmp_path.rglob("*"))
    assert main([*argv, "--steps", "3"] if _takes_steps(argv) else argv) == code
    out, err = capsys.readouterr()
    assert message in err
    assert err.startswith("trajviz") and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""
    assert sorted(tmp_path.rglob("*")) == before


def _takes_steps(argv: list[str]) -> bool:
    return argv[0] in ("run", "animate", "plot", "basins", "sweep") and "--steps" not in argv


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES], ids=["disk-full", "denied"])
def test_a_failed_write_is_one_line_exit_1_and_leaves_nothing(err, tmp_path, monkeypatch,
                                                              capsys):
    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(np, "savez", fail)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--steps", "3", "--optimizers", "sgd", "--out", "r.npz"]) == 1
    err_text = capsys.readouterr().err
    assert err_text == f"trajviz run: error: cannot write 'r.npz': {os.strerror(err)}\n"
    assert list(tmp_path.iterdir()) == []


def test_traceback_flag_and_variable_show_the_whole_traceback(monkeypatch, capsys):
    argv = ["run", "--steps", "3", "--surface", f"{USER}:raising_surface"]
    assert main([*argv, "--traceback"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err
    assert err.splitlines()[-1].startswith("trajviz run: error in your surface")
    monkeypatch.setenv("TRAJVIZ_TRACEBACK", "1")
    assert main(argv) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_an_internal_error_is_one_line_that_says_so(monkeypatch, capsys):
    import trajviz.cli.run_cmd as run_cmd

    monkeypatch.setattr(run_cmd, "summarize", lambda *a: {}["no such key"])
    assert main(["run", "--steps", "3", "--optimizers", "sgd"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "--traceback" in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["animate", "--help"],
                                  ["basins", "--help"], ["sweep", "--help"]])
def test_help_says_an_import_path_runs_that_modules_code(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    if argv != ["--help"]:
        assert "package.module:" in out and "runs its code" in out


@pytest.mark.parametrize("argv, shown", [
    (["run", "--starts", "-1,0;1,0;0,1"], "(-1, 0)"),  # as in 'trajviz run --help'
    (["run", "--start", "-1.5,2"], "(-1.5, 2)"),
    (["run", "--start", "-.5,2"], "(-0.5, 2)"),
    (["basins", "--grid", "2", "--domain", "-5,5,-5,5", "--out", "b.png"], "wrote b.png"),
    (["basins", "--grid", "2", "--dom", "-5,5,-5,5", "--out", "b.png"], "wrote b.png"),
    (["sweep", "--param", "lr=0.1,0.2", "--start", "-1,1", "--out", "s.png"], "from (-1, 1)"),
], ids=["starts", "start", "start-dot", "domain", "domain-abbreviated", "sweep-start"])
def test_negative_coordinates_work_as_the_help_writes_them(argv, shown, tmp_path, monkeypatch,
                                                           capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--steps", "3", "--optimizers" if argv[0] != "sweep" else "--optimizer",
                 "sgd:lr=0.01"]) == 0
    assert shown in capsys.readouterr().out


def test_coordinates_are_joined_only_where_they_are_values():
    from trajviz.cli import join_coordinates

    assert join_coordinates(["run", "--start", "-1,2", "--steps", "-3"]) == [
        "run", "--start=-1,2", "--steps", "-3"]
    assert join_coordinates(["x", "--starts", "-.5,0;1,1", "--extent", "-1,1,-1,1"]) == [
        "x", "--starts=-.5,0;1,1", "--extent=-1,1,-1,1"]
    assert join_coordinates(["run", "--start", "--steps", "3"]) == [
        "run", "--start", "--steps", "3"]
    assert join_coordinates(["run", "--", "--start", "-1,2"]) == [
        "run", "--", "--start", "-1,2"]
    assert join_coordinates(["run", "--start"]) == ["run", "--start"]
    assert join_coordinates(["basins", "--dom", "-5,5,-5,5", "--s", "-1"]) == [
        "basins", "--dom=-5,5,-5,5", "--s", "-1"]


def test_any_exception_in_an_option_parser_is_one_line_exit_2(monkeypatch, capsys):
    from trajviz import checks

    def broken(text, what, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(checks, "check_text", broken)
    assert main(["plot", "--title", "x"]) == 2
    err = capsys.readouterr().err
    assert err == ("trajviz plot: error: argument --title: cannot read 'x': RecursionError: "
                   "maximum recursion depth exceeded (see 'trajviz plot --help')\n")


def test_an_option_type_outside_the_helpers_is_one_line_too():
    from trajviz.cli import ParseError, Parser

    parser = Parser(prog="p")
    parser.add_argument("--n", type=lambda text: 1 / 0)
    with pytest.raises(ParseError, match="argument --n: invalid value '1': ZeroDivisionError"):
        parser.parse_args(["--n", "1"])


def test_mathtext_that_exhausts_the_stack_is_bad_text(monkeypatch, capsys):
    from trajviz import checks

    monkeypatch.setattr(checks, "MAX_TEXT_NESTING", 10**6)  # let the parser recurse
    title = "$" + "{" * 200 + "x" + "}" * 200 + "$"
    assert main(["plot", "--title", title]) == 2
    err = capsys.readouterr().err
    assert "is not valid matplotlib text: RecursionError" in err and err.count("\n") == 1


def _saved_run(path, label=None, **meta):
    """A run file whose meta has ``meta`` and, if given, this optimizer label."""
    from trajviz.run import ARRAYS, Run

    run = trajviz.run("booth", "sgd:lr=0.01", steps=3, progress=False)
    if label is not None:
        meta["optimizers"] = [{**d, "label": label} for d in run.meta["optimizers"]]
    Run(**{a: getattr(run, a) for a in ARRAYS}, meta={**run.meta, **meta}).save(path)


@pytest.mark.parametrize("label", [r"$\frac$", "$" + "{" * 300 + "x" + "}" * 300 + "$"],
                         ids=["invalid", "deep"])
def test_a_run_files_optimizer_label_is_checked_before_it_is_drawn(label, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _saved_run("r.npz", label=label)
    for out in ("a.gif", "a.html"):
        assert main(["animate", "--from", "r.npz", "--frames", "2", "--out", out]) == 2
        err = capsys.readouterr().err
        assert "not a valid trajviz run file: 'r.npz': meta 'optimizers'[0] label" in err
        assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.npz"]


@pytest.mark.parametrize("surface", ["quadratic:kappa=1e308", "rosenbrock:a=1e20,b=1e20"])
def test_a_run_file_on_an_extreme_built_in_surface_draws(surface, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    _saved_run("r.npz", surface=surface)
    assert main(["animate", "--from", "r.npz", "--frames", "2", "--size", "4x3", "--dpi",
                 "40", "--out", "a.gif"]) == 0
    assert (tmp_path / "a.gif").exists()
