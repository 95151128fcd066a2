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
    assert {"estimator", "frac_escaped", "median_escape_step", "escape_step_p25", "escape_step_p75", "median_escape_tokens"} <= set(summary[0])
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


def test_remedies_run_end_to_end(tmp_path):
    out = tmp_path / "rem"
    assert main(["coldstart", "--remedies", "--seeds", "1", "--steps", "2", "--pretrain-steps", "20", "--jobs", "1",
                 "--out", str(out)]) == 0
    runs = read(out / "coldstart.csv")
    assert sorted(r["estimator"] for r in runs) == sorted(
        ["GRPO", "GRPO + dynamic sampling", "GARL q=0.75", "GARL adaptive q", "PAFT q=0.75", "PAFT q=0.75 + replay"])
    # dynamic sampling spends more per step (groups without a success are regenerated), so within the token budget
    # of the plain runs (steps x G x M x (k + L)) it gets fewer steps
    from llm.train.metrics import read_metrics

    spent = {r["estimator"]: sum(m.get("perf/generated_tokens") or 0 for m in read_metrics(out / "runs" / r["run"]))
             for r in runs}
    assert spent["GRPO + dynamic sampling"] > spent["GRPO"] and spent["GRPO"] <= 2 * 8 * 16 * 6
    steps = {r["estimator"]: int(r["steps"]) for r in runs}
    assert steps["GRPO"] == 2 and steps["GRPO + dynamic sampling"] < 2
    assert "median tokens to escape" in (out / "summary.md").read_text()


def test_collect_reads_a_run_only_up_to_the_token_budget(tmp_path):
    """An escape after the budget does not count, and the final values are the last ones within it."""
    import json

    import yaml

    from llm.coldstart.arms import Arm
    from llm.coldstart.experiment import collect

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 3, "data": {"synthetic": {"noise": 0.0}}}))
    records = [{"step": 0, "exact/train_p_mean": 0.001},
               {"step": 1, "perf/generated_tokens": 100.0, "exact/train_p_mean": 0.2},
               {"step": 2, "perf/generated_tokens": 100.0, "exact/train_p_mean": 0.6}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    [full], _ = collect([Arm("garl", 0.75)], [run])
    assert (full["escape_step"], full["escape_tokens"], full["final_train_p"]) == (2, 200.0, 0.6)
    [cut], curves = collect([Arm("garl", 0.75)], [run], token_budget=150)
    assert (cut["escape_step"], cut["escape_tokens"], cut["final_train_p"], cut["steps"]) == (None, None, 0.2, 1)
    assert [c["step"] for c in curves] == [0, 1]


@pytest.mark.parametrize("remedies", [False, True])
def test_every_run_of_an_experiment_has_its_own_run_name(tmp_path, remedies):
    """Run folders are RECIPE__ALGO_qQ__seedS__TIME: a remedy and its plain version (GRPO with and without dynamic
    sampling, PAFT with and without replay) started in the same second collided before they had their own
    recipe name (a full --remedies run failed with FileExistsError after 29 of 30 runs)."""
    from llm.coldstart.experiment import Experiment
    from llm.coldstart.settings import BaseModelSpec, Budget
    from llm.data.synthetic import SyntheticTask
    from llm.train.config import build_config

    experiment = Experiment(budget=Budget(steps=2, seeds=2), task=SyntheticTask(), base=BaseModelSpec(),
                            remedies=remedies)
    names = [build_config(values).run_name("T") for _, values in experiment.run_configs(tmp_path, tmp_path / "base")]
    assert len(names) == len(set(names)) == 2 * len(experiment.arms)


def test_a_measured_p0_far_from_the_requested_one_is_reported(tmp_path):
    """20 pre-training steps cannot bring p(r | x) from about 1/2 down to 1e-6: the warning gives both values."""
    from llm.coldstart.base_model import base_model_folder
    from llm.coldstart.settings import BaseModelSpec
    from llm.data.synthetic import SyntheticTask

    with pytest.warns(UserWarning, match=r"base model: the measured p0 is .*, the requested p0 1e-06"):
        base_model_folder(SyntheticTask(), BaseModelSpec(p0=1e-6, steps=20), tmp_path)


def test_p0_is_measured_on_the_clean_prompts_of_a_noisy_task():
    from llm.coldstart.experiment import _p0

    assert _p0({"exact/train_p_mean": 0.397, "exact/clean_p_mean": 0.092}) == 0.092
    assert _p0({"exact/train_p_mean": 0.001}) == 0.001
    assert _p0({"exact/train_p_mean": 0.001, "exact/clean_p_mean": float("nan")}) == 0.001
