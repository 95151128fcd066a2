"""Config validation (errors name the key and the value), recipes, ``--dry-run`` and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm.train.config import ConfigError, build_config
from llm.train.dry_run import dry_run
from llm.train.recipe import load_config, read_recipe

RECIPES = Path(__file__).parents[1] / "recipes"
GRID = sorted((RECIPES / "gpu").rglob("*.yaml"))


@pytest.mark.parametrize("override, message", [
    ("algo.q=1.5", r"algo.q=1.5 is not a valid q schedule"),
    ("algo.qq=1", r"unknown key 'qq'; valid keys here: baseline, cap, clip_eps"),
    ("algoo.q=1", r"unknown key 'algoo'"),
    ("algo.q.kind=step", r"algo.q is a value, not a section"),
    ("algo.name=ppo", r"algo.name = 'ppo': Input should be 'reinforce', 'rloo', 'grpo', 'garl'"),
    ("optim.lr=-0.001", r"optim.lr = -0.001: Input should be greater than 0"),
    ("rollout.num_samples=many", r"rollout.num_samples = 'many': Input should be a valid integer"),
    ("algo.q={kind: sawtooth}", r"schedule kind must be one of"),
    ("algo.name=sft", r"set rollout.num_samples=1, got rollout.num_samples=16"),
    ("algo.loss_agg=mean", r"algo.loss_agg = 'mean'"),
    ("steps", r"expected KEY=VALUE"),
])
def test_bad_values_name_the_key_and_the_value(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_cross_field_checks():
    with pytest.raises(ConfigError, match=r"algo.q=\{'kind': 'step'.*is a schedule but algo.name='grpo'"):
        load_config(None, ["algo.name=grpo", "algo.q={kind: step, switch_step: 3}"])
    with pytest.raises(ConfigError, match="algo.ppo_epochs=2 reuses samples off-policy"):
        load_config(None, ["algo.name=garl", "algo.ppo_epochs=2"])
    with pytest.raises(ConfigError, match="needs rollout.num_samples >= 2"):
        load_config(None, ["algo.name=grpo", "rollout.num_samples=1"])


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=rf"{bad}: invalid config\n  optim.lr = 'fast'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="circular 'base:' chain"):
        load_config(loop)


def test_defaults_resolve_per_algorithm():
    grpo = load_config(None, ["algo.name=grpo"]).algo
    garl = load_config(None, ["algo.name=garl"]).algo
    assert (grpo.resolved_loss_agg, grpo.resolved_clip) == ("token-sum", (0.2, 0.2))  # TRL's dapo, ε = 0.2
    assert (garl.resolved_loss_agg, garl.resolved_clip) == ("seq-sum", None)  # the exact estimator
    dapo = load_config(None, ["algo.name=grpo", "algo.clip_eps_high=0.28"]).algo
    assert dapo.resolved_clip == (0.2, 0.28)


def test_base_chain_and_overrides_merge_in_order():
    values = read_recipe(RECIPES / "gpu/cold/finqa/garl_q0.75.yaml")
    assert values["model"]["name"] == "Qwen/Qwen2.5-1.5B" and values["rollout"]["num_samples"] == 16
    config = load_config(RECIPES / "gpu/cold/finqa/garl_q0.75.yaml", ["rollout.num_samples=8", "seed=3"])
    assert (config.rollout.num_samples, config.seed, config.algo.q, config.recipe) == (8, 3, 0.75, "cold-finqa")
    assert config.run_name("T") == "cold-finqa__garl_q0.75__seed3__T"
    assert config.eval.k == 16 and config.rollout.max_new_tokens == 512


def test_the_grid_is_complete_and_generated():
    # cold/warm × 3 benchmarks × (GRPO, GARL q ∈ {0, .25, .5, .75, 1}, PAFT, the step and linear schedules),
    # and per benchmark SFT then GARL / GRPO from its export
    assert len(GRID) == 2 * 3 * 9 + 3 * 3
    done = subprocess.run([sys.executable, str(RECIPES / "generate_grid.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    algos = {(p.parts[-3], p.parts[-2], p.stem) for p in GRID}
    assert ("cold", "hotpotqa", "paft_q0.75") in algos and ("warm", "musique", "garl_q0.25") in algos


DATA_CACHE: dict = {}  # the grid's recipes share their benchmarks' prompts: load each once


@pytest.mark.parametrize("path", [RECIPES / "cpu-demo.yaml", *GRID], ids=lambda p: str(p.relative_to(RECIPES)))
def test_every_recipe_validates_and_dry_runs(path):
    config = load_config(path)
    assert build_config(config.to_dict(), str(path)) == config  # its saved config.yaml rebuilds it exactly
    report = dry_run(config, DATA_CACHE)
    parts = dict(report.rows)
    assert set(parts) >= {"run name", "tokenizer", "train prompts", "verifier", "q schedule", "estimator", "loss",
                          "sampling", "optimizer", "model", "engine"}
    assert parts["run name"].startswith(config.recipe + "__" + config.algo.name)
    assert "reward of the gold target on example 0 = 1" in parts["verifier"]


def test_cli_dry_run_and_error_exit(capsys):
    from tsallis.cli import main

    assert main(["train", str(RECIPES / "gpu/warm/hotpotqa/grpo.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "warm-hotpotqa__grpo__seed0" in out and "token-sum, clip (0.2, 0.2)" in out
    assert main(["train", str(RECIPES / "cpu-demo.yaml"), "--set", "algo.q=2", "--dry-run"]) == 2
    assert "algo.q=2.0 is not a valid q schedule" in capsys.readouterr().err


def test_cold_recipes_use_plain_prompts_and_warm_recipes_the_chat_template():
    from llm.train import build

    tokenizer = build.local_tokenizer(None)
    cold = build.load_data(load_config(RECIPES / "gpu/cold/hotpotqa/grpo.yaml", ["data.train_limit=2"]), tokenizer)
    warm = build.load_data(load_config(RECIPES / "gpu/warm/hotpotqa/grpo.yaml", ["data.train_limit=2"]), tokenizer)
    assert cold.train_prompts[0].endswith("Reasoning:") and "<|im_start|>" not in cold.train_prompts[0]
    assert warm.train_prompts[0].startswith("<|im_start|>") and warm.train_prompts[0].endswith("assistant\n")


def test_strict_scoring_chooses_the_official_reward():
    from llm.data import Example
    from llm.train import build

    example = Example(id="x", benchmark="finqa", question="q", context="", answer="0.141",
                      metadata={"exe_ans": 0.141, "table": []})
    tolerant = build.reward_function(load_config(None, ["data.benchmark=finqa"]))
    strict = build.reward_function(load_config(None, ["data.benchmark=finqa", "data.strict_scoring=true"]))
    assert tolerant(example, "Answer: 14.1") == 1.0 and strict(example, "Answer: 14.1") == 0.0  # x100 tolerated
    assert tolerant(example, "Answer: 0.141") == strict(example, "Answer: 0.141") == 1.0


def test_recipes_may_use_anchors_and_merge_keys():
    """YAML merge keys work (own keys override merged ones); a key repeated within one mapping is still refused."""
    from llm.train.recipe import parse_yaml

    text = "shared: &common {name: garl, q: 0.5}\nalgo:\n  <<: *common\n  q: 0.75\n"
    assert parse_yaml(text, "r.yaml")["algo"] == {"name": "garl", "q": 0.75}
    with pytest.raises(ConfigError, match=r"r.yaml: duplicate key 'q' at line 5 \(first at line 4\)"):
        parse_yaml("shared: &c {q: 1}\nalgo:\n  <<: *c\n  q: 2\n  q: 3\n", "r.yaml")
