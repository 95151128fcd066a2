"""``tsallis plot``: the CSV holds exactly the plotted values, settings are kept apart by recipe, PNG and PDF are
written; run lookup for --resume."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from llm.cli.train import find_resume_dir
from llm.runs.plot import plot_runs
from llm.train.recipe import load_config


def fake_run(root, name, algo, q, rewards, maj=None, recipe="a"):
    run = root / name
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"recipe": recipe, "algo": {"name": algo, "q": q}}))
    lines = []
    for step, r in enumerate(rewards, start=1):
        record = {"step": step, "reward/mean": r, "groups/frac_no_success": 1 - r, "perf/step_s": 1.0}
        if maj is not None:
            record["eval/maj@16"] = maj[step - 1]
        lines.append(json.dumps(record))
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_plot_writes_csv_png_pdf_grouped_by_recipe_algorithm_and_q(tmp_path):
    runs = [
        fake_run(tmp_path, "a__garl_q0.75__seed0__t", "garl", 0.75, [0.1, 0.3], maj=[0.2, 0.4]),
        fake_run(tmp_path, "a__garl_q0.75__seed1__t", "garl", 0.75, [0.3, 0.5], maj=[0.4, 0.6]),
        fake_run(tmp_path, "a__grpo__seed0__t", "grpo", 0.75, [0.0, 0.0]),
        fake_run(tmp_path, "b__garl_q0.75__seed0__t", "garl", 0.75, [0.9, 0.9], recipe="b"),  # same algo, q: not a seed
    ]
    paths = plot_runs(runs, tmp_path / "out")
    assert [p.name for p in paths] == ["comparison.csv", "comparison.png", "comparison.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths[1:])
    rows = list(csv.DictReader(paths[0].open()))
    labels = {r["run"]: r["label"] for r in rows}
    assert labels == {runs[0].name: "a · garl q=0.75", runs[1].name: "a · garl q=0.75", runs[2].name: "a · grpo",
                      runs[3].name: "b · garl q=0.75"}
    assert len(rows) == 2 * (2 + 2 + 2) + 2 * 2 + 2 * 2  # garl seeds: reward, no-success, maj@16 per step; two each
    assert {"label": "a · garl q=0.75", "recipe": "a", "run": runs[1].name, "step": "2", "metric": "eval/maj@16",
            "value": "0.6"} in rows
    assert not any(r["metric"].startswith("perf/") for r in rows)


def test_plot_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} is not a run folder: .*config.yaml is missing"):
        plot_runs([tmp_path], tmp_path / "out")


def test_resume_finds_the_newest_matching_run(tmp_path, monkeypatch):
    """Only runs of this run's name (recipe, estimator, q, seed) are candidates, the newest first; what makes a
    checkpoint complete is tested in test_reliability_train.py, so here every step folder counts as complete."""
    from llm.train import checkpoint

    monkeypatch.setattr(checkpoint, "checkpoint_problem", lambda folder, step: None)
    config = load_config(None, ["recipe=demo", "algo.q=0.5", "seed=2", f"output_dir={tmp_path}"])
    for stamp in ("20260101-000000", "20260102-000000"):
        (tmp_path / config.run_name(stamp) / "checkpoints" / "step_000001").mkdir(parents=True)
    other_seed = load_config(None, ["recipe=demo", "seed=3"]).run_name("20270101-000000")
    (tmp_path / other_seed / "checkpoints" / "step_000001").mkdir(parents=True)
    assert find_resume_dir(config, "latest").name == "demo__garl_q0.5__seed2__20260102-000000"
    with pytest.raises(FileNotFoundError, match="no run named demo__garl_q0.5__seed9__"):
        find_resume_dir(load_config(None, ["recipe=demo", "algo.q=0.5", "seed=9", f"output_dir={tmp_path}"]), "latest")


def test_cli_train_resume_and_plot(tmp_path, capsys):
    """`tsallis train` with a recipe, `--resume` extending it by a step, then `tsallis plot` on the run."""
    from tsallis.cli import main

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({
        "steps": 1, "prompts_per_step": 1, "progress": False, "tensorboard": False, "output_dir": str(tmp_path / "runs"),
        "model": {"name": "tiny-random"}, "data": {"benchmark": "hotpotqa", "closed_book": True},
        "rollout": {"num_samples": 2, "max_new_tokens": 2},
    }))
    assert main(["train", str(recipe)]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("tiny__garl_q0.75__seed0__")
    assert {p.name for p in (run_dir / "plots").iterdir()} == {"comparison.csv", "comparison.png", "comparison.pdf"}
    assert main(["train", str(recipe), "--set", "steps=2", "--resume"]) == 0
    assert [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert main(["plot", str(run_dir)]) == 0
    assert (run_dir / "plots" / "comparison.pdf").is_file()
    assert "comparison.png" in capsys.readouterr().out
