"""Every command line with bad input: exit status 2, one line on stderr naming the option, file or value, and
no traceback (``tsallis.cli.main`` turns user errors into that line; ``--debug`` shows the traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsallis.cli import main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
DEMO = str(RECIPES / "cpu-demo.yaml")


@pytest.fixture()
def files(tmp_path):
    """A file where folders are expected, a non-UTF-8 recipe, YAML with a repeated key, a bad base: entry."""
    (tmp_path / "file").write_text("x")
    (tmp_path / "latin1.yaml").write_bytes("recipe: caf\xe9\n".encode("latin-1"))
    (tmp_path / "twice.yaml").write_text("steps: 3\nseed: 1\nsteps: 4\n")
    (tmp_path / "base5.yaml").write_text("base: 5\n")
    (tmp_path / "notamapping.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "empty_run").mkdir()
    return tmp_path


CASES = [
    # (argv with {tmp} for the fixture folder, text the one line must contain)
    (["train", "{tmp}/missing.yaml"], "config file not found"),
    (["train", "{tmp}/latin1.yaml"], "not UTF-8 text"),
    (["train", "{tmp}/twice.yaml"], "duplicate key 'steps' at line 3 (first at line 1)"),
    (["train", "{tmp}/base5.yaml"], "base must be a path or a list of paths to recipe files, got base=5"),
    (["train", "{tmp}/notamapping.yaml"], "a recipe must be a YAML mapping, got list"),
    (["train", DEMO, "--set", "algo.q=2", "--dry-run"], "algo.q=2.0 is not a valid q schedule"),
    (["train", DEMO, "--set", "algo.qq=1", "--dry-run"], "unknown key 'qq'"),
    (["train", DEMO, "--set", "steps=true", "--dry-run"], "steps = True: Input should be a valid integer"),
    (["train", DEMO, "--set", "seed=-1", "--dry-run"], "seed = -1"),
    (["train", DEMO, "--set", "seed=4294967296", "--dry-run"], "seed = 4294967296"),
    (["train", DEMO, "--set", "optim.betas=[0.9, 1.0]", "--dry-run"], "optim.betas must both lie in [0, 1)"),
    (["train", DEMO, "--set", "optim.lr=true", "--dry-run"], "optim.lr: expected a number, got the boolean True"),
    (["train", DEMO, "--set", "recipe=../../x", "--dry-run"], "recipe = '../../x'"),
    (["train", DEMO, "--set", "algo.baseline=median", "--dry-run"], "algo.baseline"),
    (["train", DEMO, "--set", "algo.eps=-1", "--dry-run"], "algo.eps must be a finite number >= 0, got eps=-1.0"),
    (["train", DEMO, "--set", "output_dir={tmp}/file/runs", "--dry-run"], "is a file, not a folder"),
    (["train", DEMO, "--set", "device=cuda", "--dry-run"], "device='cuda' but torch sees no CUDA GPU"),
    (["train", DEMO, "--resume", "{tmp}/empty_run"], "cannot resume"),
    (["eval", "--benchmark", "finqa", "--k", "0"], "k must be an integer >= 1, got 0"),
    (["eval", "--benchmark", "finqa", "--limit", "0"], "limit must be a positive number of records, got 0"),
    (["eval", "--model", "{tmp}/no_model", "--limit", "1"], "no such folder"),
    (["eval", "--benchmark", "hotpotqa", "--data", "{tmp}/missing.json"], "missing.json: no such file"),
    (["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--out", "{tmp}/file/x"],
     "--out='{tmp}/file/x': {tmp}/file is a file, not a folder"),
    (["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--name", "../x"],
     "--name='../x' must be a file name stem"),
    (["data", "stats", "--benchmark", "musique", "--split", "dev", "--tokenizer", "none"],
     "no shipped musique dev data with context"),
    (["data", "stats", "--benchmark", "finqa", "--limit", "0", "--tokenizer", "none"], "limit must be a positive"),
    (["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--seed", "99999999999999999999"],
     "--seed must be an integer in [0, 4294967296), got --seed=99999999999999999999"),
    (["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--stop", ""],
     "--stop must be a non-empty string, got --stop=''"),
    (["eval", "--benchmark", "hotpotqa", "--closed-book", "--tiny-random", "--name", "n" * 300],
     "is 300 bytes long; file names built from it need it to be at most 200"),
    (["figures", "--seed", "-1", "--out", "{tmp}/figs"], "--seed must be an integer >= 0, got --seed=-1"),
    (["figures", "--jobs", "0", "--out", "{tmp}/figs"], "--jobs must be an integer >= 1, got --jobs=0"),
    (["plot", "{tmp}/empty_run"], "is not a run folder"),
    (["export", "{tmp}/empty_run"], "is not a run folder"),
    (["report", "{tmp}/missing_run"], "is not a run folder"),
    (["coldstart", "--noise", "1.5", "--out", "{tmp}/cs"], "--noise must be in [0, 1), got 1.5"),
    (["coldstart", "--lr", "0", "--out", "{tmp}/cs"], "--lr must be a positive number, got 0.0"),
    (["coldstart", "--p0", "0.7", "--out", "{tmp}/cs"], "p0 must be a number in (0, 0.5)"),
    (["coldstart", "--out", "{tmp}/file/cs"], "--out='{tmp}/file/cs': {tmp}/file is a file, not a folder"),
]


@pytest.mark.parametrize("argv, expected", CASES, ids=[" ".join(a[:2]) + f" [{i}]" for i, (a, _) in enumerate(CASES)])
def test_bad_input_is_one_line_and_exit_2(files, capsys, argv, expected):
    code = main([a.replace("{tmp}", str(files)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"tsallis {argv[0]}: error: "), err
    assert expected.replace("{tmp}", str(files)) in lines[0], lines[0]
    assert "Traceback" not in err


def test_debug_shows_the_traceback(files):
    with pytest.raises(ValueError, match="config file not found"):
        main(["--debug", "train", str(files / "missing.yaml")])


def test_unused_estimator_options_are_noted(capsys):
    assert main(["train", DEMO, "--set", "algo.name=paft", "--set", "algo.baseline=loo", "--dry-run"]) == 0
    assert "algo.baseline='loo' is ignored by algo.name='paft', which reads q, num_resamples, resampling" in \
        capsys.readouterr().err


def _subcommands(parser) -> set[str]:
    return {name for action in parser._actions if action.dest == "command" for name in action.choices}


def test_only_the_named_subcommand_is_loaded_and_every_one_otherwise():
    """``tsallis figures ...`` builds the figures plug-in alone (no trainer import); help and typos see all."""
    from tsallis.cli import build_parser

    everything = {"coldstart", "data", "eval", "export", "figures", "plot", "report", "train"}
    assert _subcommands(build_parser(["--debug", "figures", "--quick"])) == {"figures"}
    assert _subcommands(build_parser(["--help"])) == everything
    assert _subcommands(build_parser(["figurs"])) == everything


def test_a_mistyped_subcommand_lists_every_one(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["figurs"])
    assert stop.value.code == 2
    assert "choose from 'coldstart', 'data', 'eval', 'export', 'figures', 'plot', 'report', 'train'" in capsys.readouterr().err


def test_eval_dtype_is_one_of_the_trainable_dtypes(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["eval", "--benchmark", "hotpotqa", "--dtype", "float8_e4m3fn"])
    assert stop.value.code == 2
    assert "tsallis eval: error: argument --dtype: invalid choice: 'float8_e4m3fn'" in capsys.readouterr().err
