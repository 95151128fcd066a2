"""End-to-end training runs of a tiny random Llama on CPU: learning a trivial reward, kill-and-resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from llm.data import load_benchmark
from llm.data.prompts import build_prompt
from llm.models import tiny_random_policy
from llm.train.checkpoint import list_checkpoints
from llm.train.metrics import read_metrics
from llm.train.recipe import load_config
from llm.train.trainer import train
from tsallis.estimators import EstimatorOptions, compute_weights

TINY = ["model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "progress=false",
        "tensorboard=false"]


def starts_with_space(example, text: str) -> float:
    """A trivially learnable reward: 1 when the first generated token begins with a space."""
    return float(text.startswith(" "))


TEMPERATURE = 0.1  # sharpens the near-uniform random policy, so a few sampled tokens carry most of P


def space_probability(model, tokenizer, prompts: list[str]) -> float:
    """Exact P(reward = 1) averaged over prompts: the temperature-scaled next-token mass on tokens that
    decode with a leading space (byte-level BPE marks them with 'Ġ')."""
    space = torch.tensor([t.startswith("Ġ") for t in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))])
    total = 0.0
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float() / TEMPERATURE, dim=-1)
            total += float(probs[space].sum())
    return total / len(prompts)


@pytest.mark.parametrize("algo", ["garl", "paft", "grpo"])
def test_training_raises_the_success_probability(tmp_path, algo):
    """Five steps on one-token completions raise the exact P(success) of the training prompts."""
    config = load_config(None, TINY + [
        f"algo.name={algo}", "algo.q=0.75", "steps=5", "prompts_per_step=2", "rollout.num_samples=6",
        "rollout.max_new_tokens=1", f"rollout.temperature={TEMPERATURE}", "optim.lr=3e-3", "data.train_limit=4",
        f"output_dir={tmp_path}",
    ])
    model, tokenizer = tiny_random_policy(seed=config.seed)
    examples = load_benchmark("hotpotqa", split="train", closed_book=True, limit=4)
    prompts = [build_prompt(x, tokenizer) for x in examples]
    before = space_probability(model, tokenizer, prompts)
    run_dir = train(config, reward_fn=starts_with_space)
    trained = type(model)(model.config)
    trained.load_state_dict(load_file(str(list_checkpoints(run_dir)[-1][1] / "model.safetensors")), strict=False)
    trained.tie_weights()
    after = space_probability(trained, tokenizer, prompts)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, 6))
    assert after > before + 0.2, (before, after)


def comparable(records):
    """Metrics without the wall-clock ``perf/`` keys, which are the only ones allowed to differ."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


@pytest.mark.parametrize("algo_sets", [
    ["algo.name=paft", "algo.q=0.5", "algo.num_resamples=3", "eval.every=2"],
    ["algo.name=grpo", "algo.kl_beta=0.05", "algo.ppo_epochs=2", "rollout.num_samples=2"],
], ids=["paft", "grpo-kl-2epochs"])
def test_kill_and_resume_is_bitwise_identical(tmp_path, algo_sets):
    """Run 3 steps; separately run 2 steps, 'kill' it, delete its step-2 checkpoint (as if killed mid-save)
    and resume from step 1: the same metrics (bitwise, wall-clock keys aside) and the same weights."""
    sets = TINY + ["steps=3", "prompts_per_step=2", "rollout.num_samples=3", "rollout.max_new_tokens=3",
                   "optim.lr=1e-3", "optim.warmup_steps=2", "optim.lr_schedule=cosine", "checkpoint.every=1",
                   "checkpoint.keep_last=5", "eval.k=2", "eval.limit=2", "optim.micro_batch_size=2"]
    sets += algo_sets  # a later --set wins
    reward = lambda example, text: float(" " in text)  # noqa: E731
    full = train(load_config(None, sets + [f"output_dir={tmp_path / 'full'}"]), reward_fn=reward)
    killed = train(load_config(None, sets + [f"output_dir={tmp_path / 'killed'}"]), reward_fn=reward, stop_after=2)
    step2 = list_checkpoints(killed)[-1][1]
    step2.rename(step2.with_name(step2.name + ".tmp"))  # an unfinished save: must be ignored
    assert [s for s, _ in list_checkpoints(killed)] == [1]
    assert [r["step"] for r in read_metrics(killed)] == [1, 2]  # step 2 logged, its checkpoint lost
    resumed = train(load_config(None, sets + [f"output_dir={tmp_path / 'killed'}"]), reward_fn=reward, resume=killed)
    assert resumed == killed
    assert comparable(read_metrics(resumed)) == comparable(read_metrics(full))
    assert ("eval/maj@2" in read_metrics(full)[1]) == ("eval.every=2" in algo_sets)
    a = load_file(str(list_checkpoints(full)[-1][1] / "model.safetensors"))
    b = load_file(str(list_checkpoints(resumed)[-1][1] / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = json.loads((list_checkpoints(resumed)[-1][1] / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["data_order"]["position"] == 6


def test_resume_refuses_a_changed_config(tmp_path):
    sets = TINY + ["steps=1", "prompts_per_step=1", "rollout.num_samples=2", "rollout.max_new_tokens=2",
                   f"output_dir={tmp_path}"]
    run_dir = train(load_config(None, sets), reward_fn=lambda e, t: 1.0)
    with pytest.raises(ValueError, match=r"differs from the saved one in algo: .*'q': 0.75.*'q': 0.5"):
        train(load_config(None, sets + ["algo.q=0.5", "steps=2"]), resume=run_dir)


def test_lora_checkpoints_hold_only_the_adapter_and_resume(tmp_path):
    """LoRA (peft): only adapter tensors are saved; resuming restores them; the KL reference is the base model
    with the adapter disabled (no copy is made)."""
    sets = TINY + ["model.lora_rank=4", "model.lora_target_modules=[q_proj, v_proj]", "algo.name=grpo",
                   "model.gradient_checkpointing=true",
                   "algo.kl_beta=0.1", "steps=2", "prompts_per_step=1", "rollout.num_samples=3",
                   "rollout.max_new_tokens=2", "optim.lr=1e-2", "checkpoint.every=1", "checkpoint.keep_last=3",
                   f"output_dir={tmp_path}"]
    reward = lambda example, text: float(" " in text)  # noqa: E731
    run_dir = train(load_config(None, sets), reward_fn=reward, stop_after=1)
    saved = load_file(str(list_checkpoints(run_dir)[-1][1] / "model.safetensors"))
    assert saved and all("lora_" in k for k in saved), sorted(saved)[:5]
    assert len(saved) == 2 * 2 * 2  # 2 layers x (q_proj, v_proj) x (A, B)
    train(load_config(None, sets), reward_fn=reward, resume=run_dir)
    assert [r["step"] for r in read_metrics(run_dir)] == [1, 2]
    assert read_metrics(run_dir)[-1]["loss/kl_ref"] >= 0.0


def recording_coefficients(monkeypatch):
    """Wrap the trainer's coefficient function; return the list of (rewards, q, coefficients) of every step."""
    from llm.train import trainer

    calls = []
    original = trainer.sequence_coefficients

    def recorded(config, rewards, q, generator, *args, **kwargs):
        out = original(config, rewards, q, generator, *args, **kwargs)
        calls.append((rewards.clone(), q, out.clone()))
        return out

    monkeypatch.setattr(trainer, "sequence_coefficients", recorded)
    return calls


def test_q_schedule_sets_the_q_of_the_weights_per_step(tmp_path, monkeypatch):
    """SFT-then-RLVR as a GARL q schedule: q = 1 for the first 2 steps, then 0. The weights the trainer trains
    with are M · GARL(q) of the step's rewards at the scheduled q (and algo/q logs it)."""
    calls = recording_coefficients(monkeypatch)
    sets = TINY + ["algo.name=garl", "algo.q={kind: step, q_before: 1.0, q_after: 0.0, switch_step: 2}",
                   "steps=3", "prompts_per_step=2", "rollout.num_samples=4", "rollout.max_new_tokens=1",
                   "rollout.temperature=3.0", f"output_dir={tmp_path}"]
    run_dir = train(load_config(None, sets), reward_fn=starts_with_space)
    assert run_dir.name.startswith("custom__garl_qstep__seed0__")
    assert [r["algo/q"] for r in read_metrics(run_dir)] == [1.0, 1.0, 0.0]
    assert [q for _, q, _ in calls] == [1.0, 1.0, 0.0]
    for rewards, q, coefficients in calls:
        expected = 4 * compute_weights("garl", rewards, EstimatorOptions(q=q, baseline="mean")).reshape(-1)
        torch.testing.assert_close(coefficients, expected.float(), rtol=0, atol=0)
    mixed = [r for r, _, _ in calls if 0 < float(r.mean(dim=1).min()) < 1 or 0 < float(r.mean()) < 1]
    assert mixed, "no step had a group with successes and failures, so q could not show in the weights"


def test_prompt_success_q_gives_each_group_its_q_and_resumes_exactly(tmp_path, monkeypatch):
    """algo.q = {kind: prompt_success}: each group's q comes from its prompt's moving-average success rate before
    the step (checked against tsallis.adaptive.PromptSuccessQ replayed by hand), and kill-and-resume is bitwise."""
    from tsallis.adaptive import PromptSuccessQ

    calls = recording_coefficients(monkeypatch)
    spec = "{kind: prompt_success, q_min: 0.0, q_max: 1.0, rate: 0.5}"
    sets = TINY + ["algo.name=garl", f"algo.q={spec}", "steps=4", "prompts_per_step=2", "rollout.num_samples=4",
                   "rollout.max_new_tokens=1", "rollout.temperature=3.0", "data.train_limit=3",
                   "checkpoint.every=1", f"output_dir={tmp_path / 'full'}"]
    full = train(load_config(None, sets), reward_fn=starts_with_space)
    from llm.train.order import PromptOrder

    order, replayed = PromptOrder(3, 0), PromptSuccessQ(3, 0.0, 1.0, rate=0.5)
    for rewards, q, coefficients in calls:
        indices = order.take(2)
        np.testing.assert_array_equal(q, replayed.q(indices))
        expected = 4 * compute_weights("garl", rewards, EstimatorOptions(q=q, baseline="mean")).reshape(-1)
        torch.testing.assert_close(coefficients, expected.float(), rtol=0, atol=0)
        replayed.update(indices, rewards)
    assert len({float(v) for _, q, _ in calls for v in np.ravel(q)}) > 1  # q did adapt
    records = read_metrics(full)
    assert all("q/min" in r and r["q/min"] <= r["algo/q"] <= r["q/max"] for r in records)
    config = load_config(None, sets[:-1] + [f"output_dir={tmp_path / 'killed'}"])
    killed = train(config, reward_fn=starts_with_space, stop_after=2)
    train(config, reward_fn=starts_with_space, resume=killed)
    assert comparable(read_metrics(killed)) == comparable(records)


def test_paft_with_a_replay_buffer_trains_on_stored_successes_and_resumes_exactly(tmp_path):
    """algo.replay_capacity: successes are stored, later steps train on them (replay/stored_trained > 0), and a
    killed-and-resumed run (buffer in the checkpoint) equals the uninterrupted one bit for bit."""
    sets = TINY + ["algo.name=paft", "algo.q=0.75", "algo.num_resamples=4", "algo.replay_capacity=2", "steps=4",
                   "prompts_per_step=2", "rollout.num_samples=4", "rollout.max_new_tokens=2", "rollout.temperature=3.0",
                   "data.train_limit=2", "checkpoint.every=1", f"output_dir={tmp_path / 'full'}"]
    records = read_metrics(train(load_config(None, sets), reward_fn=starts_with_space))
    assert records[-1]["replay/buffer_size"] > 0 and any(r["replay/stored_trained"] > 0 for r in records)
    config = load_config(None, sets[:-1] + [f"output_dir={tmp_path / 'killed'}"])
    killed = train(config, reward_fn=starts_with_space, stop_after=2)
    train(config, reward_fn=starts_with_space, resume=killed)
    assert comparable(read_metrics(killed)) == comparable(records)


def test_dynamic_sampling_replaces_zero_variance_groups_and_counts_every_token(tmp_path):
    """rollout.dynamic_sampling_rounds: groups whose rewards are all equal are replaced by fresh prompts' groups;
    perf/generated_tokens counts the discarded groups too; resume is bitwise."""
    sets = TINY + ["algo.name=grpo", "rollout.dynamic_sampling_rounds=3", "steps=3", "prompts_per_step=2",
                   "rollout.num_samples=3", "rollout.max_new_tokens=1", "rollout.temperature=0.3",
                   "checkpoint.every=1", f"output_dir={tmp_path / 'full'}"]
    records = read_metrics(train(load_config(None, sets), reward_fn=starts_with_space))
    for r in records:
        assert r["perf/generated_tokens"] == r["dynamic/generated_tokens"] >= r["dynamic/batch_tokens"]
        assert r["dynamic/groups_kept"] + r["dynamic/groups_filled"] == 2
    assert any(r["dynamic/rounds"] > 1 for r in records)  # some step needed an extra round
    config = load_config(None, sets[:-1] + [f"output_dir={tmp_path / 'killed'}"])
    killed = train(config, reward_fn=starts_with_space, stop_after=1)
    train(config, reward_fn=starts_with_space, resume=killed)
    assert comparable(read_metrics(killed)) == comparable(records)


def test_sft_on_gold_targets_lowers_the_loss(tmp_path):
    """SFT on one question's 'Answer: <gold>' target: the loss -log p(target) falls step after step."""
    sets = TINY + ["algo.name=sft", "rollout.num_samples=1", "steps=4", "prompts_per_step=1", "data.train_limit=1",
                   "optim.lr=1e-2", f"output_dir={tmp_path}"]
    losses = [r["loss/policy"] for r in read_metrics(train(load_config(None, sets)))]
    assert losses[0] > 0 and all(b < a for a, b in zip(losses, losses[1:])), losses


def test_max_generated_tokens_ends_the_run_at_equal_compute(tmp_path):
    """The run stops after the step whose cumulative generated tokens reach the budget, and still checkpoints
    and exports that step."""
    sets = TINY + ["algo.name=garl", "steps=50", "prompts_per_step=2", "rollout.num_samples=2",
                   "rollout.max_new_tokens=2", "max_generated_tokens=10", f"output_dir={tmp_path}"]
    run_dir = train(load_config(None, sets), reward_fn=starts_with_space)
    records = read_metrics(run_dir)
    spent = [sum(r["perf/generated_tokens"] for r in records[: i + 1]) for i in range(len(records))]
    assert spent[-1] >= 10 > spent[-2]  # stopped at the first step that reached the budget
    assert list_checkpoints(run_dir)[-1][0] == records[-1]["step"] and (run_dir / "final" / "config.json").is_file()
