"""The trainer's likelihood form (``algo.weights: likelihood``): per-token coefficients, the loss of the paper's
estimators, micro-batching, metrics, kill-and-resume, config errors; on a tiny random model of the synthetic
task."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from llm.coldstart.base_model import model_config
from llm.coldstart.settings import BaseModelSpec
from llm.data import load_benchmark
from llm.data.synthetic import SyntheticTask, prompt_text, synthetic_tokenizer
from llm.models import asset_tokenizer, save_model_folder
from llm.rollout.base import Rollout
from llm.rollout.rationale import LikelihoodSample, RationaleFormat, close_rationale
from llm.train.checkpoint import list_checkpoints
from llm.train.dry_run import dry_run
from llm.train.config import ConfigError
from llm.train.likelihood import training_rollout, gold_answer_ids, likelihood_metrics, token_coefficients
from llm.train.loss import LossSpec, policy_loss
from llm.train.metrics import read_metrics
from llm.train.recipe import load_config
from llm.train.trainer import train
from llm.train.update import accumulate_gradients
from tsallis.estimators import EstimatorOptions, compute_likelihood_weights
from tsallis.likelihood import LikelihoodWeights

from tests.test_train_run import comparable

TASK = SyntheticTask(symbols=4, prompt_length=2, free_tokens=2, num_train=4, num_heldout=2)


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    """A random (not pre-trained) Llama over the synthetic task's vocabulary, saved as a model folder."""
    tokenizer = synthetic_tokenizer(TASK)
    torch.manual_seed(0)
    model = LlamaForCausalLM(model_config(tokenizer, BaseModelSpec(), 32))
    return save_model_folder(model, tokenizer, tmp_path_factory.mktemp("base"))


def synthetic_sets(base_folder, *extra: str) -> list[str]:
    task = [f"data.synthetic.{k}={v}" for k, v in TASK.to_dict().items()]
    return [f"model.name={base_folder}", "data.benchmark=synthetic", "data.chat_template=false", "progress=false",
            "tensorboard=false", "algo.weights=likelihood", "rollout.max_new_tokens=4", "prompts_per_step=2",
            "rollout.num_samples=3", "optim.name=sgd", "optim.lr=0.5", "checkpoint.keep_last=5", *task, *extra]


def tiny_model():
    tokenizer = synthetic_tokenizer(TASK)
    torch.manual_seed(1)
    return LlamaForCausalLM(model_config(tokenizer, BaseModelSpec(), 32)).float(), tokenizer


# ---- the gold answer per benchmark ----

def test_gold_answer_ids_follow_the_benchmark_registry():
    """Synthetic: y* is the reversed prompt, one token per character, without EOS (its completions have no
    EOS); a QA benchmark: " {answer}" after the "Answer:" marker, then EOS."""
    tokenizer = synthetic_tokenizer(TASK)
    example = load_benchmark("synthetic", split="train", task=TASK.to_dict())[0]
    ids = gold_answer_ids(tokenizer, "synthetic", example)
    assert tokenizer.convert_ids_to_tokens(ids) == list(example.answer) and len(ids) == TASK.answer_length
    qa_tokenizer = asset_tokenizer()
    qa = load_benchmark("hotpotqa", split="train", closed_book=True, limit=1)[0]
    qa_ids = gold_answer_ids(qa_tokenizer, "hotpotqa", qa)
    assert qa_ids[-1] == qa_tokenizer.eos_token_id
    assert qa_tokenizer.decode(qa_ids[:-1]) == f" {qa.answer}"


# ---- the loss with per-token coefficients ----

def likelihood_batch():
    """Two prompts, three rationales each: rationales of 2 sampled tokens (the last with one forced marker token),
    answers of 2 tokens; random (score, answer) coefficients."""
    prompts = [[3, 1, 4], [2, 5]]
    samples = [[LikelihoodSample(g, m, prompts[g], [m, 6] + ([4] if m == 2 else []), [-1.0, -1.0],
                                 1 if m == 2 else 0, [1 + g, 2]) for m in range(3)] for g in range(2)]
    generator = torch.Generator().manual_seed(3)
    weights = LikelihoodWeights(torch.randn(2, 3, generator=generator, dtype=torch.float64),
                                torch.rand(2, 3, generator=generator, dtype=torch.float64))
    rollouts = [Rollout(s.prompt_index, s.sample_index, s.prompt_ids, s.completion_ids, "",
                        [0.0] * len(s.completion_ids), "length") for group in samples for s in group]
    return samples, weights, rollouts


def direct_gradient(model, samples, weights) -> list[torch.Tensor]:
    """∇ of -(1/G) Σ_g Σ_m [score log p(z | x) + answer log p(y* | x, z)] by one plain forward per sample (the
    forced tokens condition the answer and are not scored)."""
    model.zero_grad()
    total = 0.0
    for g, group in enumerate(samples):
        for m, s in enumerate(group):
            ids = torch.tensor([s.prompt_ids + s.completion_ids])
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            token = logprobs.gather(-1, ids[0, 1:, None])[:, 0][len(s.prompt_ids) - 1:]  # completion tokens
            sampled = len(s.rationale_ids) - s.forced
            log_z, log_answer = token[:sampled].sum(), token[len(s.rationale_ids):].sum()
            total = total + float(weights.score[g, m]) * log_z + float(weights.answer[g, m]) * log_answer
    (-total / len(samples)).backward()
    return [p.grad.clone() for p in model.parameters()]


def trainer_gradient(model, rollouts, coefficients, micro_batch_size: int) -> list[torch.Tensor]:
    model.zero_grad()
    spec = LossSpec(micro_batch_size=micro_batch_size)
    accumulate_gradients(model, rollouts, coefficients, spec, accelerator=Accelerator(cpu=True), pad_id=0)
    return [p.grad.clone() for p in model.parameters()]


def test_token_coefficients_are_m_score_on_sampled_rationale_and_m_answer_on_gold():
    samples, weights, _ = likelihood_batch()
    coefficients = token_coefficients(samples, weights)
    assert coefficients.shape == (6, 5)
    s, a = weights.score[0, 2].float(), weights.answer[0, 2].float()
    assert torch.allclose(coefficients[2], torch.stack([3 * s, 3 * s, torch.tensor(0.0), 3 * a, 3 * a]))
    assert torch.allclose(coefficients[3, :4], 3 * torch.stack([weights.score[1, 0]] * 2 + [weights.answer[1, 0]] * 2)
                          .float()) and coefficients[3, 4] == 0


@pytest.mark.parametrize("micro_batch_size", [6, 1, 4])
def test_per_token_loss_gradient_equals_the_direct_estimator(micro_batch_size):
    """The trainer's update (seq-sum, N = G·M) with (N, C) coefficients has the gradient of
    -(1/G) Σ [score log p(z) + answer log p(y*)] computed directly, whatever the micro-batching."""
    model, _ = tiny_model()
    samples, weights, rollouts = likelihood_batch()
    expected = direct_gradient(model, samples, weights)
    got = trainer_gradient(model, rollouts, token_coefficients(samples, weights), micro_batch_size)
    assert max(float((a - b).abs().max()) for a, b in zip(expected, got)) < 1e-6
    assert max(float(e.abs().max()) for e in expected) > 1e-3  # the check is not vacuous


def test_per_sequence_coefficients_equal_their_broadcast_per_token_form():
    """policy_loss with A (B,) equals it with A broadcast to (B, T), with and without the PPO clip and the KL."""
    generator = torch.Generator().manual_seed(0)
    logprobs = -torch.rand(3, 4, generator=generator, dtype=torch.float64)
    old = logprobs + 0.3 * torch.randn(3, 4, generator=generator, dtype=torch.float64)
    ref = logprobs - 0.2 * torch.rand(3, 4, generator=generator, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float64)
    adv = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64)
    for spec in (LossSpec(), LossSpec(clip=(0.2, 0.28), kl_beta=0.1), LossSpec(agg="token-sum", clip=(0.2, 0.2))):
        per_seq, m1 = policy_loss(logprobs, mask, adv, spec, 3.0, old_logprobs=old, ref_logprobs=ref)
        per_token, m2 = policy_loss(logprobs, mask, adv[:, None].expand(3, 4), spec, 3.0, old_logprobs=old,
                                    ref_logprobs=ref)
        assert torch.equal(per_seq, per_token) and m1.keys() == m2.keys()
    token_adv = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    loss, _ = policy_loss(logprobs, mask, token_adv, LossSpec(), 3.0)
    assert torch.allclose(loss, -(token_adv * logprobs * mask).sum() / 3.0)
    with pytest.raises(ValueError, match=r"advantages \(3, 3\)"):
        policy_loss(logprobs, mask, token_adv[:, :3], LossSpec(), 3.0)


# ---- metrics ----

def test_likelihood_metrics_match_their_formulas():
    log_w = torch.log(torch.tensor([[0.5, 0.1, 0.2], [1e-30, 1e-20, 1e-25], [0.9, 0.9, 0.9]], dtype=torch.float64))
    q = 0.5
    weights = LikelihoodWeights(torch.full((3, 3), -0.5, dtype=torch.float64), torch.ones(3, 3, dtype=torch.float64))
    got = likelihood_metrics(log_w, q, weights)
    w = log_w.exp()
    wbar = w.mean(dim=1)
    assert got["weights/log10_wbar_median"] == pytest.approx(math.log10(float(wbar[0])))
    assert got["weights/log10_wbar_p25"] == pytest.approx(math.log10(float(wbar[1])))
    assert got["weights/log10_wbar_p75"] == pytest.approx(math.log10(float(wbar[2])))
    loo = (w.sum(dim=1, keepdim=True) - w) / 2
    centred = w / wbar[:, None] ** q - loo ** (1 - q)
    assert got["weights/monitor"] == pytest.approx(float((centred.max(dim=1).values / 3 ** q).mean()), rel=1e-9)
    assert got["groups/expected_frac_no_success"] == pytest.approx(float((1 - w).prod(dim=1).mean()), rel=1e-12)
    assert got["weights/score_abs_sum"] == 4.5 and got["weights/answer_abs_sum"] == 9.0


# ---- training runs ----

@pytest.mark.parametrize("algo", [["algo.name=garl", "algo.q=0.75"],
                                  ["algo.name=paft", "algo.q=0.25", "algo.num_resamples=3"]], ids=["garl", "paft"])
def test_likelihood_training_moves_the_weights_and_logs_its_metrics(tmp_path, base_folder, algo):
    sets = synthetic_sets(base_folder, "steps=3", "checkpoint.every=1", f"output_dir={tmp_path}", *algo)
    run_dir = train(load_config(None, sets))
    first = load_file(str(list_checkpoints(run_dir)[0][1] / "model.safetensors"))
    last = load_file(str(list_checkpoints(run_dir)[-1][1] / "model.safetensors"))
    before = load_file(str(base_folder / "model.safetensors"))
    assert any(not torch.equal(before[k], first[k]) for k in first)
    assert any(not torch.equal(first[k], last[k]) for k in last)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [1, 2, 3]
    for record in records:
        assert record["weights/log10_wbar_p25"] <= record["weights/log10_wbar_median"] <= record["weights/log10_wbar_p75"] < 0
        assert 0 < record["groups/expected_frac_no_success"] < 1
        assert record["weights/monitor"] > 0 and record["weights/answer_abs_sum"] > 0
        # ≤ k free tokens (an EOS sampled early ends the rationale: close_rationale drops it) + L answer tokens
        assert TASK.answer_length < record["completion/length_mean"] <= TASK.completion_length
        assert 0 < record["reward/mean"] < 1  # w, not an exact-match reward


def test_likelihood_training_on_a_qa_benchmark_forces_the_marker_and_trains_the_gold_answer(tmp_path):
    """HotPotQA with a 3-token rationale budget: the marker "Answer:" is forced after the budget, y* = " {answer}"
    + EOS is teacher-forced, and the step trains (completion = rationale + marker + answer)."""
    sets = ["model.name=tiny-random", "data.benchmark=hotpotqa", "data.closed_book=true", "data.train_limit=2",
            "progress=false", "tensorboard=false", "algo.weights=likelihood", "algo.name=garl", "steps=1",
            "prompts_per_step=2", "rollout.num_samples=2", "rollout.rationale_budget=3", f"output_dir={tmp_path}"]
    run_dir = train(load_config(None, sets))
    record = read_metrics(run_dir)[0]
    tokenizer = asset_tokenizer()
    examples = load_benchmark("hotpotqa", split="train", closed_book=True, limit=2)
    marker = len(tokenizer("Answer:", add_special_tokens=False)["input_ids"])
    shortest = min(len(gold_answer_ids(tokenizer, "hotpotqa", x)) for x in examples)
    assert record["completion/length_mean"] >= marker + shortest
    assert record["weights/log10_wbar_median"] < 0 and record["loss/policy"] != 0


def test_likelihood_kill_and_resume_is_bitwise_identical(tmp_path, base_folder):
    sets = synthetic_sets(base_folder, "steps=3", "algo.name=paft", "algo.q=0.5", "algo.num_resamples=3",
                          "checkpoint.every=1", "optim.micro_batch_size=2")
    full = train(load_config(None, sets + [f"output_dir={tmp_path / 'full'}"]))
    killed = train(load_config(None, sets + [f"output_dir={tmp_path / 'killed'}"]), stop_after=2)
    step2 = list_checkpoints(killed)[-1][1]
    step2.rename(step2.with_name(step2.name + ".tmp"))
    resumed = train(load_config(None, sets + [f"output_dir={tmp_path / 'killed'}"]), resume=killed)
    assert comparable(read_metrics(resumed)) == comparable(read_metrics(full))
    a = load_file(str(list_checkpoints(full)[-1][1] / "model.safetensors"))
    b = load_file(str(list_checkpoints(resumed)[-1][1] / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- config errors ----

@pytest.mark.parametrize("sets, message", [
    (["algo.name=grpo"], r"algo.weights='likelihood' needs an estimator with a likelihood form .*algo.name='grpo'"),
    (["rollout.rationale_budget=3"], r"rationale is its 2 free tokens.*rollout.rationale_budget=3"),
    (["rollout.rationale_budget=0"], r"rollout.rationale_budget = 0"),
    (["rollout.rationale_end=</think>"], r"rollout.rationale_end='</think>'"),
    (["data.synthetic.free_tokens=0", "rollout.max_new_tokens=2"], r"needs a rationale: the synthetic task's has 0"),
    (["algo.baseline=mean"], r"algo.baseline='mean'"),
    (["algo.clip_eps=0.2"], r"algo.clip_eps=0.2"),
    (["algo.kl_beta=0.1", "algo.kl_bias_correction=true"], r"algo.kl_bias_correction=True"),
    (["rollout.dynamic_sampling_rounds=1"], r"rollout.dynamic_sampling_rounds at 0, got 1"),
])
def test_likelihood_config_errors_name_the_option(base_folder, sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, synthetic_sets(base_folder, *sets))


def test_the_reward_form_and_a_qa_benchmark_resolve_their_rationale(base_folder):
    grpo = load_config(None, synthetic_sets(base_folder, "algo.name=grpo", "algo.weights=reward"))
    assert grpo.algo.weights == "reward"
    qa = load_config(None, ["model.name=tiny-random", "data.benchmark=hotpotqa", "algo.weights=likelihood",
                            "rollout.max_new_tokens=64"])
    assert (qa.rationale_format().end, qa.rationale_format().budget) == ("Answer:", 64)
    think = load_config(None, ["data.benchmark=hotpotqa", "algo.weights=likelihood", "rollout.rationale_end=</think>",
                               "rollout.rationale_budget=32"])
    assert (think.rationale_format().end, think.rationale_format().budget) == ("</think>", 32)


def test_dry_run_shows_the_form_in_use():
    likelihood = dict(dry_run(load_config(None, ["data.benchmark=hotpotqa", "algo.weights=likelihood",
                                                 "rollout.rationale_budget=32"])).rows)
    assert likelihood["paper's form"].startswith("in use (algo.weights='likelihood'), rationale "
                                                 "RationaleFormat(budget=32, end='Answer:')")
    assert "max_new_tokens=32" in likelihood["sampling"] and "stop=('Answer:',)" in likelihood["sampling"]
    reward = dict(dry_run(load_config(None, ["data.benchmark=hotpotqa"])).rows)
    assert reward["paper's form"].startswith("not in use (algo.weights='reward')")


def test_q0_expected_gradient_is_exactly_grad_p():
    """GARL (loo, q = 0, M = 2) in the likelihood form on a one-free-token task: the trainer's gradient
    (close_rationale → token_coefficients → accumulate_gradients) averaged over every outcome (z_1, z_2) of a group
    with probability p(z_1) p(z_2) equals ∇P, P = Σ_z p(z | x) p(y* | x, z), exactly (RB-RLOO is unbiased). The
    vocabulary includes EOS, whose score term the rationale keeps: dropping it would miss
    p(EOS) (w(EOS) − P) ∇log p(EOS | x), which the last assertion shows is not negligible here."""
    task = SyntheticTask(symbols=2, prompt_length=2, free_tokens=1, num_train=1, num_heldout=1)
    tokenizer = synthetic_tokenizer(task)
    torch.manual_seed(0)
    model = LlamaForCausalLM(model_config(tokenizer, BaseModelSpec(), 16)).double()
    example = load_benchmark("synthetic", split="train", task=task.to_dict())[0]
    prompt = tokenizer(prompt_text(example), add_special_tokens=False)["input_ids"]
    answer, eos, vocab = gold_answer_ids(tokenizer, "synthetic", example), tokenizer.eos_token_id, len(tokenizer)
    samples = [(r, close_rationale(r, RationaleFormat(1), [], answer)) for r in
               (Rollout(0, 0, prompt, [z], "", [0.0], "eos" if z == eos else "length") for z in range(vocab))]

    def log_w(sample):  # log p(y* | x, z), with grad
        ids = torch.tensor([prompt + sample.completion_ids])
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1).gather(-1, ids[0, 1:, None])[:, 0]
        return logprobs[len(prompt) + len(sample.rationale_ids) - 1:].sum()

    log_pz = torch.log_softmax(model(input_ids=torch.tensor([prompt])).logits[0, -1], dim=-1)  # (V,)
    w = torch.stack([log_w(s).exp() for _, s in samples])
    p_total = (log_pz.exp() * w).sum()
    missing = log_pz.exp()[eos].detach() * (w[eos] - p_total).detach() * log_pz[eos]
    grad_p = torch.autograd.grad(p_total, list(model.parameters()), retain_graph=True)
    grad_missing = torch.autograd.grad(missing, list(model.parameters()))
    probs, log_ws = log_pz.exp().detach(), torch.stack([log_w(s) for _, s in samples]).detach()
    expected = [torch.zeros_like(p) for p in model.parameters()]
    for z1 in range(vocab):
        for z2 in range(vocab):
            pair = [samples[z1], (replace(samples[z2][0], sample_index=1), samples[z2][1])]
            weights = compute_likelihood_weights("garl", log_ws[[z1, z2]][None, :],
                                                 EstimatorOptions(q=0.0, baseline="loo", normalize="none"))
            coefficients = token_coefficients([[s for _, s in pair]], weights).double()
            model.zero_grad()
            accumulate_gradients(model, [training_rollout(r, s) for r, s in pair], coefficients,
                                 LossSpec(micro_batch_size=2), accelerator=Accelerator(cpu=True), pad_id=eos)
            for total, p in zip(expected, model.parameters()):
                total -= probs[z1] * probs[z2] * p.grad  # the loss is minus the estimate
    assert max(float((a - b).abs().max()) for a, b in zip(grad_p, expected)) < 1e-7
    assert max(float(g.abs().max()) for g in grad_p) > 1e-2
    assert max(float(g.abs().max()) for g in grad_missing) > 1e-4  # the EOS term is not negligible here
