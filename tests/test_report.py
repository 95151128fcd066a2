"""Aggregates over seeds against hand-computed values, and ``tsallis report`` on run folders with known metrics."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from llm.runs.aggregate import aggregate, bootstrap_distribution, bootstrap_interval, inverse_cdf, iqm
from llm.runs.report import group_runs, q_text, read_run
from tsallis.cli import main


# ---------------- the maths, by hand ----------------

def test_iqm_drops_a_quarter_of_the_sorted_scores_at_each_end():
    assert iqm([3.0]) == 3.0 and iqm([1.0, 5.0, 2.0]) == pytest.approx(8 / 3)  # R < 4: nothing dropped
    assert iqm([0.0, 0.0, 0.0, 1.0]) == 0.0  # mean of the middle two
    assert iqm([9.0, 1.0, 2.0, 3.0, 4.0]) == 3.0  # R = 5: one dropped at each end, mean of 2, 3, 4
    assert iqm(list(range(8))) == pytest.approx(3.5)  # R = 8: two dropped at each end


def test_exact_bootstrap_distribution_of_the_mean_of_three_runs():
    """x = (1, 2, 3): the 27 ordered resamples have sums 3..9 with counts 1, 3, 6, 7, 6, 3, 1."""
    values, probs = bootstrap_distribution([3.0, 1.0, 2.0])
    assert values.shape == probs.shape == (10,)  # C(5, 3) multisets
    by_value = {}
    for v, p in zip(np.round(values * 3).astype(int), probs):
        by_value[v] = by_value.get(v, 0.0) + p
    assert by_value == pytest.approx({3: 1 / 27, 4: 3 / 27, 5: 6 / 27, 6: 7 / 27, 7: 6 / 27, 8: 3 / 27, 9: 1 / 27})
    # F: 1/27 = .037, 4/27 = .148, 10/27, 17/27, 23/27 = .852, 26/27 = .963, 1
    assert bootstrap_interval([1, 2, 3]) == pytest.approx((1.0, 3.0))
    assert bootstrap_interval([1, 2, 3], level=0.8) == pytest.approx((4 / 3, 8 / 3))  # F >= .1 and F >= .9
    assert bootstrap_interval([1, 2, 3], level=0.5) == pytest.approx((5 / 3, 7 / 3))  # F >= .25 and F >= .75


def test_bootstrap_of_four_runs_mean_and_iqm():
    """x = (0, 0, 0, 1): a resample holds K ~ Binomial(4, 1/4) ones; F(K) = 81, 189, 243, 255, 256 (/256)."""
    assert bootstrap_interval([0, 0, 0, 1]) == pytest.approx((0.0, 0.75))  # F(2) = .949 < .975 <= F(3)
    # IQM of a sorted resample = mean of its middle two: 0 for K <= 1, 1/2 for K = 2, 1 for K >= 3
    assert bootstrap_interval([0, 0, 0, 1], "iqm") == pytest.approx((0.0, 1.0))
    assert bootstrap_interval([0, 0, 0, 1], "iqm", level=0.5) == pytest.approx((0.0, 0.5))  # F(1) = .738 < .75
    a = aggregate([0.0, 0.0, 0.0, 1.0])
    assert (a.n, a.mean, a.lo, a.hi, a.iqm) == (4, 0.25, 0.0, 0.75, 0.0)


def test_monte_carlo_bootstrap_beyond_ten_runs():
    """12 runs, six 0s and six 1s: K ~ Binomial(12, 1/2), F(2) = .019, F(3) = .073, F(8) = .927, F(9) = .981;
    20,000 seeded resamples land on the exact quantiles 3/12 and 9/12."""
    values, probs = bootstrap_distribution([0.0] * 6 + [1.0] * 6)
    assert values.shape == (20_000,) and probs.sum() == pytest.approx(1.0)
    assert bootstrap_interval([0.0] * 6 + [1.0] * 6) == pytest.approx((0.25, 0.75))


def test_quantile_is_the_inverse_distribution_function_and_one_run_has_no_interval():
    assert inverse_cdf([2.0, 1.0, 3.0], [0.5, 0.25, 0.25], 0.25) == 1.0  # F(1) = .25 exactly: still 1
    assert inverse_cdf([2.0, 1.0, 3.0], [0.5, 0.25, 0.25], 0.26) == 2.0
    assert all(math.isnan(v) for v in bootstrap_interval([0.4]))
    one = aggregate([0.4])
    assert one.mean == 0.4 and math.isnan(one.lo) and math.isnan(one.iqm)
    with pytest.raises(ValueError, match="finite per-run scores"):
        aggregate([0.1, float("nan")])


# ---------------- run folders with known metrics ----------------

def fake_run(root: Path, name: str, recipe: str, estimator: str, seed: int, records: list[dict], **config) -> Path:
    """A run folder: config.yaml (G = 2, M = 4, maj@16, plus ``config``) and one metrics line per record."""
    run = root / name
    run.mkdir(parents=True)
    values = {"recipe": recipe, "seed": seed, "prompts_per_step": 2, "rollout": {"num_samples": 4},
              "eval": {"k": 16}, **config, "algo": {"name": estimator, **config.get("algo", {})}}
    (run / "config.yaml").write_text(yaml.safe_dump(values))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def evaluated(step1: float, step2: float) -> list[dict]:
    """Two steps of 3 generated tokens per sequence, 1.5 s each, a 0.5 s evaluation after each."""
    return [{"step": s, "completion/length_mean": 3.0, "perf/step_s": 1.5, "perf/eval_s": 0.5,
             "eval/maj@16": m, "eval/pass@16": min(1.0, 2 * m), "eval/pass@1": m / 2}
            for s, m in ((1, step1), (2, step2))]


@pytest.fixture
def runs(tmp_path):
    garl = [fake_run(tmp_path, f"r1__garl_q0.75__seed{s}", "r1", "garl", s, evaluated(0.2, final))
            for s, final in enumerate([0.0, 0.0, 0.0, 0.4])]
    other_lr = fake_run(tmp_path, "r1__garl_q0.75__seed9", "r1", "garl", 9, evaluated(0.5, 0.5), optim={"lr": 2e-6})
    grpo = [fake_run(tmp_path, f"r1__grpo__seed{s}", "r1", "grpo", s, evaluated(m, m))
            for s, m in enumerate([0.1, 0.2, 0.3])]
    exact = [{"step": 0, "exact/train_p_mean": 0.01}, {"step": 1, "exact/train_p_mean": 0.05, "perf/step_s": 2.0},
             {"step": 2, "exact/train_p_mean": 0.03, "perf/step_s": 2.0, "perf/exact_s": 1.0}]
    r2 = fake_run(tmp_path, "r2__garl_q0.75__seed0", "r2", "garl", 0, exact)
    step = fake_run(tmp_path, "r1__garl_qstep__seed0", "r1", "garl", 0, evaluated(0.1, 0.1),
                    algo={"q": {"kind": "step", "switch_step": 2}})
    sft = fake_run(tmp_path, "r1__sft__seed0", "r1", "sft", 0, evaluated(0.1, 0.1), rollout={"num_samples": 1})
    return [*garl, other_lr, *grpo, r2, step, sft]


def test_groups_never_merge_different_recipes_or_settings(runs):
    groups = {g.label: [r.path.name for r in g.runs] for g in group_runs([read_run(r) for r in runs])}
    assert groups == {
        "r1 · garl q=0.75 · optim.lr=1e-06": [f"r1__garl_q0.75__seed{s}" for s in range(4)],
        "r1 · garl q=0.75 · optim.lr=2e-06": ["r1__garl_q0.75__seed9"],
        "r1 · garl q=step(switch_step=2, q_before=1, q_after=0)": ["r1__garl_qstep__seed0"],
        "r1 · grpo": [f"r1__grpo__seed{s}" for s in range(3)],
        "r1 · sft": ["r1__sft__seed0"],
        "r2 · garl q=0.75": ["r2__garl_q0.75__seed0"],
    }
    assert q_text(0.5) == "0.5" and q_text({"kind": "linear", "q_start": 1, "q_end": 0, "total_steps": 4}) == \
        "linear(q_start=1, q_end=0, total_steps=4)"


def test_report_means_intervals_and_iqm(runs, tmp_path, capsys):
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    rows = {r["setting"]: r for r in csv.DictReader((tmp_path / "out" / "report.csv").open())}
    number = lambda row, key: float(row[key])  # noqa: E731
    garl = rows["r1 · garl q=0.75 · optim.lr=1e-06"]
    assert garl["seeds"] == "4" and garl["q"] == "0.75" and garl["recipe"] == "r1"
    # final maj@16 = (0, 0, 0, .4): mean .1, interval [0, .3] (K ~ Bin(4, 1/4), as above), IQM 0
    assert [number(garl, f"final maj@16_{p}") for p in ("mean", "lo", "hi", "iqm")] == pytest.approx([0.1, 0, 0.3, 0])
    # best maj@16 = (.2, .2, .2, .4): .2 + .2 K / 4, so mean .25, interval [.2, .35], IQM .2
    best = [number(garl, f"best maj@16_{p}") for p in ("mean", "lo", "hi", "iqm")]
    assert best == pytest.approx([0.25, 0.2, 0.35, 0.2])
    assert number(garl, "final mean@16_mean") == pytest.approx(0.05)  # eval/pass@1 = maj / 2
    assert number(garl, "best pass@16_mean") == pytest.approx(0.5)  # max(.4, 2 x .2, ...): (.4, .4, .4, .8)
    # 2 steps x 3 tokens x G·M = 8 sequences; 2 x (1.5 + 0.5) s
    assert [number(garl, f"{c}_mean") for c in ("generated tokens", "wall_s", "steps")] == [48, 4, 2]
    grpo = rows["r1 · grpo"]  # (.1, .2, .3): the exact distribution of x = (1, 2, 3) / 10
    assert [number(grpo, f"final maj@16_{p}") for p in ("mean", "lo", "hi")] == pytest.approx([0.2, 0.1, 0.3])
    assert grpo["final maj@16_iqm"] == ""  # fewer than 4 seeds
    single = rows["r2 · garl q=0.75"]  # one seed: a mean, no interval; exact P: final .03, best .05 (step 0 counts)
    assert (number(single, "final P train_mean"), number(single, "best P train_mean")) == pytest.approx((0.03, 0.05))
    assert single["final P train_lo"] == "" and single["final maj@16_mean"] == ""
    assert number(single, "wall_s_mean") == 5.0 and number(single, "generated tokens_mean") == 0.0
    assert number(rows["r1 · sft"], "generated tokens_mean") == 0.0  # SFT samples nothing
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert markdown in printed
    assert ("| r1 · garl q=0.75 · optim.lr=1e-06 | 4 | 0.100 [0.000, 0.300] IQM 0.000 "
            "| 0.250 [0.200, 0.350] IQM 0.200 |") in markdown
    assert "| r2 · garl q=0.75 | 1 |" in markdown and "| 0.030 | 0.050 |" in markdown


def test_report_errors_name_the_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert f"{tmp_path} is not a run folder: {tmp_path / 'config.yaml'} is missing" in capsys.readouterr().err


def test_a_run_is_counted_once_however_it_is_named(tmp_path, capsys):
    """The same folder twice (another path to it), and a copy of it elsewhere: one seed, with a note for each."""
    run = fake_run(tmp_path, "r1__garl__seed0", "r1", "garl", 0, evaluated(0.2, 0.4))
    other = fake_run(tmp_path, "r1__garl__seed1", "r1", "garl", 1, evaluated(0.2, 0.6))
    copy = tmp_path / "copies" / "r1__garl__seed0"
    copy.parent.mkdir()
    shutil.copytree(run, copy)
    again = tmp_path / "copies" / ".." / run.name
    assert main(["report", str(run), str(again), str(copy), str(other), "--out", str(tmp_path / "rep")]) == 0
    out, err = capsys.readouterr()
    assert f"note: {again} names the same run folder as {run}: counted once" in err
    assert f"note: {copy} is a copy of {run} (same config, seed and records): counted once" in err
    row = next(csv.DictReader(open(tmp_path / "rep" / "report.csv")))
    assert row["seeds"] == "2"


def test_runs_without_records_are_left_out_and_bad_lines_named(tmp_path, capsys):
    run = fake_run(tmp_path, "r1__garl__seed0", "r1", "garl", 0, evaluated(0.2, 0.4))
    empty = fake_run(tmp_path, "r1__garl__seed1", "r1", "garl", 1, [])
    assert main(["report", str(run), str(empty), "--out", str(tmp_path / "rep")]) == 0
    assert f"note: {empty} has no records in metrics.jsonl: left out" in capsys.readouterr().err
    assert main(["report", str(empty), "--out", str(tmp_path / "rep")]) == 2
    assert "no run with records among" in capsys.readouterr().err
    for line, message in (('[1, 2]', "a record must be a JSON object, got list"),
                          ('{"reward/mean": 0.5}', "a record needs an integer step >= 0, got step=None"),
                          ('{"step": "3"}', "a record needs an integer step >= 0, got step='3'"),
                          ('{"step": 3, "reward/mean": "high"}', "reward/mean must be a number or null, got 'high'")):
        bad = fake_run(tmp_path / line.replace('"', "").replace(" ", "")[:12].replace("/", "_"), "run", "r1", "garl",
                       0, evaluated(0.2, 0.4))
        with open(bad / "metrics.jsonl", "a") as handle:
            handle.write(line + "\n")
        for command in ("report", "plot"):
            assert main([command, str(bad), "--out", str(tmp_path / "out")]) == 2
            err = capsys.readouterr().err
            assert f"{bad / 'metrics.jsonl'}:3: {message}" in err and err.count("\n") == 1, (command, err)
