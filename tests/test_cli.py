"""The CLI: happy paths, and one table of bad input (message, exit 2, no traceback, no file)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from trajviz.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_summary_and_writes_npz(capsys, tmp_path):
    out_file = tmp_path / "run.npz"
    code, out, _ = run_cli(capsys, "run", "--surface", "booth", "--optimizers",
                           "sgd:lr=0.01,adam:lr=0.5", "--steps", "300", "--out", str(out_file))
    assert code == 0
    assert "sgd(lr=0.01)" in out and "adam(lr=0.5)" in out and "reached" in out
    with np.load(out_file, allow_pickle=False) as data:
        assert data["positions"].shape == (2, 301, 2)
        assert json.loads(str(data["meta"]))["surface"] == "booth"


def test_run_several_starts_and_a_scheduler(capsys):
    code, out, _ = run_cli(capsys, "run", "--surface", "himmelblau", "--optimizers", "momentum",
                           "--starts", "0,0;1,1", "--scheduler", "steplr:step_size=50,gamma=0.5",
                           "--dtype", "float64")
    assert code == 0 and "(0, 0)" in out and "(1, 1)" in out


@pytest.mark.parametrize("what", ["surfaces", "optimizers", "schedulers"])
def test_list(capsys, what):
    code, out, _ = run_cli(capsys, "list", what)
    assert code == 0
    assert {"surfaces": "rosenbrock", "optimizers": "nesterov", "schedulers": "steplr"}[what] in out


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--surface", "rosenbrok"], "did you mean 'rosenbrock'"),
    (["run", "--optimizers", "adma"], "did you mean"),
    (["run", "--optimizers", "adam:lr=-1"], "Invalid learning rate: -1"),
    (["run", "--optimizers", "adam:lr="], "missing value after 'lr='"),
    (["run", "--optimizers", "adam:betas=(0.9"], "unclosed bracket"),
    (["run", "--optimizers", "sparseadam"], "cannot optimize a 2-parameter point"),
    (["run", "--scheduler", "steplr:gamma=0.5"], "step_size"),
    (["run", "--surface", "quadratic:kappa=0"], "kappa > 0"),
    (["run", "--device", "tpu"], "valid devices: auto, cpu, cuda"),
    (["run", "--steps", "0"], "argument --steps: must be at least 1"),
    (["run", "--noise", "-1"], "argument --noise: must be at least 0"),
    (["run", "--out", "/nonexistent-dir/run.npz"], "does not exist"),
], ids=["surface-typo", "optimizer-typo", "bad-lr", "no-value", "unclosed", "unsuitable",
        "scheduler-arg", "surface-param", "device", "steps", "noise", "unwritable-out"])
def test_bad_input_is_a_clean_error(capsys, tmp_path, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_out_fails_before_any_work(capsys, monkeypatch):
    import trajviz.cli.run_cmd as run_cmd

    monkeypatch.setattr(run_cmd, "run", lambda *a, **k: pytest.fail("ran before checking --out"))
    code, _, err = run_cli(capsys, "run", "--out", "/nonexistent-dir/run.npz")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["list", "--help"]])
def test_help_has_examples(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "trajviz" in out


@pytest.mark.parametrize("command", ["run", "animate", "plot", "lesson", "basins", "sweep",
                                     "landscape"])
def test_help_shows_examples_and_only_defaults_worth_telling(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert f"examples:\n  trajviz {command}" in out
    assert "(default: None)" not in out and "(default: False)" not in out
    options: list[str] = []  # each option's entry: its line and the indented ones after
    for line in out.split("\n")[out.split("\n").index("options:"):]:
        if line.startswith("  -"):
            options.append(line)
        elif line.startswith("   ") and options:
            options[-1] += line
    assert len(options) > 3 and not [o for o in options if o.count("default") > 1]


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "trajviz", "list", "surfaces"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "himmelblau" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "trajviz", "run", "--surface", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "valid surfaces" in bad.stderr
