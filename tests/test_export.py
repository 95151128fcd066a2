"""``tsallis export``: a trained run as a Hugging Face folder whose token log-probs are the in-memory policy's;
``tsallis eval`` on an export and on a run folder; the SFT -> GARL recipe pair on the tiny model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from llm.data import load_benchmark
from llm.data.prompts import build_prompt
from llm.evaluation import EvalConfig, evaluate
from llm.models import load_policy, tiny_random_policy
from llm.rollout import SamplingConfig, make_engine
from llm.train.batch import collate, token_logprobs
from llm.train.checkpoint import read_model_weights
from llm.train.dry_run import dry_run
from llm.train.export import EXPORT_INFO, export_run, final_export
from llm.train.metrics import read_metrics
from llm.train.recipe import load_config
from llm.train.trainer import train
from tsallis.cli import main
from tsallis.schedules import make_schedule

RECIPES = Path(__file__).parents[1] / "recipes"
TINY = ["model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "progress=false",
        "tensorboard=false"]
# REINFORCE with reward 1 is maximum likelihood on the samples: every step moves the weights
RUN = TINY + ["algo.name=reinforce", "steps=2", "prompts_per_step=1", "rollout.num_samples=2",
              "rollout.max_new_tokens=3", "optim.lr=1e-2", "checkpoint.every=1", "checkpoint.keep_last=3"]
LORA = ["model.lora_rank=4", "model.lora_target_modules=[q_proj, v_proj]"]


def train_and_capture(output_dir: Path, sets: list[str]):
    """Train, and keep a copy of the in-memory policy as it was when the last checkpoint was saved."""
    captured = {}
    save_state = Accelerator.save_state

    def spy(self, *args, **kwargs):
        captured["policy"] = copy.deepcopy(self.unwrap_model(self._models[0])).eval()
        return save_state(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Accelerator, "save_state", spy)
        run_dir = train(load_config(None, sets + [f"output_dir={output_dir}"]), reward_fn=lambda e, t: 1.0)
    return run_dir, captured["policy"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    return train_and_capture(tmp_path_factory.mktemp("full"), RUN)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    return train_and_capture(tmp_path_factory.mktemp("lora"), RUN + LORA)


def logprobs(model) -> torch.Tensor:
    """Token log-probs (B, C) of fixed completions after two HotPotQA prompts (B = 2, C = 12)."""
    _, tokenizer = tiny_random_policy()
    prompts = [build_prompt(x, tokenizer) for x in load_benchmark("hotpotqa", split="train", closed_book=True, limit=2)]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    completions = [tokenizer(" Answer: yes, because the first paragraph", add_special_tokens=False)["input_ids"][:12],
                   list(range(100, 112))]
    with torch.no_grad():
        return token_logprobs(model, collate(prompt_ids, completions, tokenizer.pad_token_id))[0]


def test_full_export_is_a_hf_folder_with_the_policy_log_probs(full_run):
    run_dir, policy = full_run
    out = export_run(run_dir)
    assert out == run_dir / "final" and final_export(run_dir) == out
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            EXPORT_INFO} <= files
    info = json.loads((out / EXPORT_INFO).read_text())
    assert (info["step"], info["format"], info["dtype"], info["chat_template"]) == (2, "full", "float32", True)
    assert json.loads((out / "config.json").read_text())["dtype"] == "float32"  # the training dtype
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    expected, untrained = logprobs(policy), logprobs(tiny_random_policy(seed=0)[0])
    assert (logprobs(loaded) - expected).abs().max() <= 1e-6
    assert (untrained - expected).abs().max() > 1e-2  # training moved the policy: the test can tell them apart


def test_lora_exports_merged_and_as_an_adapter(lora_run):
    run_dir, policy = lora_run
    expected, untrained = logprobs(policy), logprobs(tiny_random_policy(seed=0)[0])
    assert (untrained - expected).abs().max() > 1e-3
    merged = export_run(run_dir, merge_lora=True)
    assert merged.name == "final-merged" and not (merged / "adapter_config.json").exists()
    assert (logprobs(AutoModelForCausalLM.from_pretrained(merged).eval()) - expected).abs().max() <= 1e-6
    adapter = export_run(run_dir)
    files = {p.name for p in adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "base"} <= files
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        adapter.resolve() / "base")  # the tiny random base has no other home
    assert json.loads((adapter / EXPORT_INFO).read_text())["format"] == "lora-adapter"
    assert (logprobs(AutoModelForCausalLM.from_pretrained(adapter).eval()) - expected).abs().max() <= 1e-6


def test_cli_export_of_an_earlier_step_and_its_errors(full_run, tmp_path, capsys):
    run_dir, _ = full_run
    assert main(["export", str(run_dir), "--step", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "exports" / "step_000001")
    assert json.loads((run_dir / "exports" / "step_000001" / EXPORT_INFO).read_text())["step"] == 1
    assert main(["export", str(run_dir), "--step", "1"]) == 0  # an existing export is replaced
    assert main(["export", str(run_dir), "--step", "7"]) == 2
    assert "--step 7: " in (err := capsys.readouterr().err) and "checkpoints at steps [1, 2]" in err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["export", str(run_dir), "--out", str(tmp_path / "taken")]) == 2
    assert "exists and is not an export" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


EVAL = ["--benchmark", "hotpotqa", "musique", "--split", "dev", "--closed-book", "--limit", "1",
        "--max-new-tokens", "4", "--seed", "5"]


def test_eval_of_an_export_samples_what_the_trained_policy_samples(full_run, tmp_path):
    """maj@16 on the HotPotQA and MuSiQue dev sets from the export, and from the in-memory policy with the same
    seeds: the same 16 completions per question."""
    run_dir, policy = full_run
    out = export_run(run_dir, out=tmp_path / "model")
    assert main(["eval", "--model", str(out), *EVAL, "--k", "16", "--out", str(tmp_path / "eval"),
                 "--name", "export"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "eval" / "export.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "eval" / "export.summary.json").read_text())
    assert [r["benchmark"] for r in rows] == ["hotpotqa", "musique"] and all(len(r["samples"]) == 16 for r in rows)
    assert summary["run"]["model"] == str(out) and summary["run"]["k"] == 16 and summary["run"]["chat_template"]
    assert set(summary["benchmarks"]) == {"hotpotqa", "musique"}
    assert all(0 <= b["maj_at_k"] <= b["pass_at_k"] <= 1 for b in summary["benchmarks"].values())
    examples = [x for b in ("hotpotqa", "musique") for x in load_benchmark(b, split="dev", closed_book=True, limit=1)]
    _, tokenizer = tiny_random_policy()
    direct = evaluate(examples, make_engine("hf", model=policy, tokenizer=tokenizer, batch_size=16), tokenizer,
                      SamplingConfig(temperature=0.7, max_new_tokens=4), EvalConfig(k=16, seed=5), show_progress=False)
    texts = lambda records: [[s["text"] for s in r["samples"]] for r in records]  # noqa: E731
    assert texts(rows) == texts(direct.records)


def test_eval_of_a_run_folder_uses_its_final_export_else_its_newest_checkpoint(full_run, tmp_path):
    run_dir, _ = full_run
    export_run(run_dir)
    args = ["eval", "--model", str(run_dir), *EVAL, "--k", "2", "--out", str(tmp_path)]
    assert main([*args, "--name", "final"]) == 0
    assert json.loads((tmp_path / "final.summary.json").read_text())["run"]["model"] == str(run_dir / "final")
    (run_dir / "final").rename(run_dir / "final.away")
    try:
        assert main([*args, "--name", "checkpoint"]) == 0
    finally:
        (run_dir / "final.away").rename(run_dir / "final")
    assert json.loads((tmp_path / "checkpoint.summary.json").read_text())["run"]["model"] == \
        f"{run_dir} (checkpoint step 2)"
    assert (tmp_path / "checkpoint.jsonl").read_text() == (tmp_path / "final.jsonl").read_text()


def test_sft_then_garl_recipe_pair(tmp_path):
    """recipes/cpu/sft.yaml, exported where recipes/cpu/sft-garl.yaml looks for it, then the GARL run from it.
    With reward 1 everywhere GARL's weights P̂^(-q)(r - P̂)/M are 0, so the GARL run ends where it started:
    its final export has the SFT model's log-probs."""
    small = TINY + ["steps=2", "rollout.max_new_tokens=4", "eval.limit=1", "eval.k=2",
                    f"output_dir={tmp_path / 'runs'}"]
    sft = train(load_config(RECIPES / "cpu" / "sft.yaml", small + ["optim.lr=1e-2"]))
    assert sft.name.startswith("cpu-sft__sft__seed0__")
    assert load_config(RECIPES / "cpu" / "sft-garl.yaml").model.name == "models/cpu-sft"
    model_dir = export_run(sft, out=tmp_path / "models" / "cpu-sft")
    garl = train(load_config(RECIPES / "cpu" / "sft-garl.yaml", small + [f"model.name={model_dir}"]),
                 reward_fn=lambda e, t: 1.0)
    assert garl.name.startswith("cpu-sft__garl_q0.75__seed0__")
    assert [r["step"] for r in read_metrics(garl)] == [1, 2] and "eval/maj@2" in read_metrics(garl)[-1]
    sft_logprobs = logprobs(load_policy(str(model_dir))[0])
    assert (sft_logprobs - logprobs(tiny_random_policy(seed=0)[0])).abs().max() > 1e-3  # SFT trained
    garl_final = load_policy(str(export_run(garl, out=tmp_path / "garl")))[0]
    assert (logprobs(garl_final) - sft_logprobs).abs().max() <= 1e-6


@pytest.mark.parametrize("path", sorted((RECIPES / "cpu").glob("*.yaml")), ids=lambda p: p.name)
def test_cpu_recipes_dry_run_and_their_q_schedules(path):
    config = load_config(path)
    assert dict(dry_run(config).rows)["run name"].startswith(config.recipe + "__" + config.algo.name)
    q = [make_schedule(config.algo.q)(t - 1) for t in range(1, config.steps + 1)]  # step t trains with q(t - 1)
    expected = {"garl-step.yaml": [1, 1, 1, 0, 0], "garl-linear.yaml": [1, 0.75, 0.5, 0.25, 0]}
    assert q == pytest.approx(expected.get(path.name, [config.algo.q] * 5))


@pytest.mark.parametrize("layout", ["safetensors", "fsdp-full", "fsdp-sharded"])
def test_read_model_weights_of_every_layout(tmp_path, layout):
    """The layouts accelerate 1.15's save_state writes (model index 0: one process or DDP, FSDP FULL_STATE_DICT,
    FSDP SHARDED_STATE_DICT), written here in one process as accelerate writes them."""
    import torch.distributed.checkpoint as dcp

    weights = {"model.embed.weight": torch.randn(5, 3), "lm_head.bias": torch.arange(4.0)}
    if layout == "safetensors":
        save_file(weights, str(tmp_path / "model.safetensors"))
    elif layout == "fsdp-full":
        torch.save(weights, tmp_path / "pytorch_model_fsdp.bin")
    else:
        dcp.save({"model": weights}, checkpoint_id=tmp_path / "pytorch_model_fsdp_0", no_dist=True)
    read = read_model_weights(tmp_path)
    assert read.keys() == weights.keys() and all(torch.equal(read[k], weights[k]) for k in weights)


def test_read_model_weights_names_the_folder_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} holds no model weights"):
        read_model_weights(tmp_path)
