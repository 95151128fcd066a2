"""``tsallis coldstart`` end to end on a reduced budget: every file, with the columns it promises."""

from __future__ import annotations

import csv

import pytest

from llm.coldstart.experiment import CURVE_COLUMNS, RUN_COLUMNS
from tsallis.cli import main


def read(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_coldstart_writes_every_file(tmp_path, capsys):
    out = tmp_path / "cs"
    code = main(["coldstart", "--quick", "--seeds", "1", "--steps", "3", "--pretrain-steps", "20", "--jobs", "2",
                 "--out", str(out)])
    assert code == 0
    runs = read(out / "coldstart.csv")
    assert tuple(runs[0]) == RUN_COLUMNS
    assert sorted(r["estimator"] for r in runs) == sorted(["GRPO", "RLOO", "GARL q=0.5", "GARL q=0.75", "GARL q=1",
                                                           "PAFT q=0.75"])
    for row in runs:
        assert float(row["p0"]) > 0 and row["steps"] == "3"
        run_dir = out / "runs" / row["run"]
        for name in ("config.yaml", "metrics.jsonl", "plots/comparison.png"):
            assert (run_dir / name).is_file(), name
        assert any((run_dir / "checkpoints").iterdir())
    curves = read(out / "coldstart_curves.csv")
    assert tuple(curves[0]) == CURVE_COLUMNS
    assert {r["step"] for r in curves} == {"0", "3"}  # step 0 (the measured p0) and the last step
    summary = read(out / "summary.csv")
    assert {"estimator", "frac_escaped", "median_escape_step", "escape_step_q25", "escape_step_q75"} <= set(summary[0])
    assert {r["ratio"] for r in read(out / "predictions.csv")} >= {"T(RLOO) / T(GARL q=0.75)", "T(GRPO) / T(GARL q=0.5)"}
    for name in ("coldstart.png", "coldstart.pdf", "summary.md", "task.yaml", "base_model/config.json"):
        assert (out / name).is_file(), name
    printed = capsys.readouterr().out
    assert "Escape from cold start" in printed and "wall time" in printed


@pytest.mark.parametrize("argv, message", [(["--noise", "1.5"], "--noise must be in"),
                                           (["--seeds", "0"], "--seeds must be >= 1"),
                                           (["--p0", "0.7"], "p0 must be a number in")])
def test_bad_options_name_the_option(tmp_path, capsys, argv, message):
    assert main(["coldstart", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tsallis coldstart: error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err
