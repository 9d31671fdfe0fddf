"""The CLI: happy paths, and one table of bad input (message, exit 2, no traceback, no file)."""

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from trajviz.cli import build_parser, join_coordinates, main

COMMANDS = ["list", "run", "animate", "plot", "lesson", "basins", "sweep", "landscape"]


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


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def examples(text: str) -> list[list[str]]:
    """The command lines of a help's examples, continuation lines joined, comments and any
    launcher before ``trajviz`` (``torchrun ... -m``) left out, as argument lists."""
    block = text.split("examples:\n", 1)[1].replace("\\\n", " ")
    lines = [line.split("#")[0] for line in block.splitlines() if "trajviz " in line]
    return [words[words.index("trajviz") + 1:] for words in map(shlex.split, lines)]


def test_top_level_help_names_every_command(capsys):
    out = help_text(capsys)
    assert all(f"    {command}" in out for command in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_runnable_examples_of_its_command(capsys, command):
    lines = examples(help_text(capsys, command))
    assert len(lines) >= 2 and all(words[0] == command for words in lines)
    for words in lines:  # each parses: its options exist and their values are valid
        args = build_parser().parse_args(join_coordinates(words))
        assert args.command == command and callable(args.func)


def option_entries(text: str) -> dict[str, str]:
    """Each option's help entry (its first line and the indented ones after), by its first
    option string."""
    entries: dict[str, str] = {}
    lines = text.split("\n")
    for line in lines[lines.index("options:"):lines.index("examples:")]:
        if line.startswith("  -"):
            name = line.split()[0].rstrip(",")
            entries[name] = line
        elif line.startswith("   ") and entries:
            entries[name] += line
    return entries


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_default_worth_telling(capsys, command):
    entries = option_entries(help_text(capsys, command))
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = [a for a in sub.choices[command]._actions if a.option_strings]
    assert len(options) == len(entries)
    for action in options:
        if action.default is None or action.nargs == 0 or action.default == argparse.SUPPRESS:
            continue
        assert "default" in entries[action.option_strings[0]], action.option_strings


@pytest.mark.parametrize("command", COMMANDS[1:])
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


def test_the_command_is_console_which_leaves_no_objects_for_the_exit_collections():
    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert scripts["project"]["scripts"] == {"trajviz": "trajviz.cli:console"}
    code = ("import gc, sys\n"
            "from trajviz.cli import console\n"
            "sys.argv = ['trajviz', 'run', '--surface', 'rosenbrock', '--steps', '3']\n"
            "code = console()\n"
            "print(code, len(gc.get_objects()), gc.get_freeze_count())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    code, collectable, frozen = map(int, result.stdout.split()[-3:])
    # torch, its optimizers and matplotlib are over 100,000 objects, all frozen
    assert code == 0 and collectable < 100 and frozen > 100_000, result.stdout
