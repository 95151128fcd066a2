"""Rationale-then-gold-answer samples: budget forcing, the two masks, and log p(y* | x, z) from the HF engine."""

import importlib.util

import numpy as np
import pytest
import torch

from llm.models import tiny_random_policy
from llm.rollout import HFRolloutEngine, Rollout, SamplingConfig, make_engine
from llm.rollout.rationale import LikelihoodSample, RationaleFormat, close_rationale

MARKER = [7, 8]
ANSWER = [40, 41, 2]


def _rollout(ids, reason):
    return Rollout(0, 1, [5, 6], list(ids), "", [-0.5] * len(ids), reason)


def test_a_rationale_that_produced_its_marker_is_kept_as_sampled():
    sample = close_rationale(_rollout([11, 12, 7, 8], "stop"), RationaleFormat(8, "</think>"), MARKER, ANSWER)
    assert sample.rationale_ids == [11, 12, 7, 8] and sample.forced == 0
    assert sample.completion_ids == [11, 12, 7, 8, 40, 41, 2]
    assert sample.rationale_mask == [1, 1, 1, 1, 0, 0, 0] and sample.answer_mask == [0, 0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("ids, reason", [([11, 12, 13], "length"), ([11, 12, 2], "eos")])
def test_budget_forcing_appends_the_marker(ids, reason):
    """A sampled EOS stays in the rationale (its score term is part of the estimator); the marker follows."""
    sample = close_rationale(_rollout(ids, reason), RationaleFormat(3, "</think>"), MARKER, ANSWER)
    sampled = list(ids)
    assert sample.rationale_ids == sampled + MARKER and sample.forced == 2
    assert sample.rationale_logprobs == [-0.5] * len(sampled)
    assert sample.rationale_mask == [1.0] * len(sampled) + [0.0] * 5  # forced marker and answer: no score term
    assert sample.answer_mask == [0.0] * (len(sampled) + 2) + [1.0] * 3


def test_a_fixed_length_rationale_is_cut_at_the_budget():
    fmt = RationaleFormat(2)
    assert fmt.sampling(SamplingConfig(stop=("x",))).stop == () and fmt.sampling(SamplingConfig()).max_new_tokens == 2
    sample = close_rationale(_rollout([11, 12], "length"), fmt, [], ANSWER)
    assert sample.rationale_ids == [11, 12] and sample.forced == 0


def test_bad_formats_and_samples_are_refused():
    with pytest.raises(ValueError, match="budget must be an integer >= 1, got budget=0"):
        RationaleFormat(0, "</think>")
    with pytest.raises(ValueError, match="end must be a non-empty string or None, got end=''"):
        RationaleFormat(4, "")
    with pytest.raises(ValueError, match="the gold answer has no tokens"):
        close_rationale(_rollout([11], "stop"), RationaleFormat(4, "</think>"), MARKER, [])
    with pytest.raises(ValueError, match="tokenizes to no tokens"):
        close_rationale(_rollout([11], "length"), RationaleFormat(4, "</think>"), [], ANSWER)
    with pytest.raises(ValueError, match="2 log-probs for 1 sampled rationale tokens"):
        LikelihoodSample(0, 0, [1], [3, 4], [-1.0, -1.0], 1, [5])


@torch.no_grad()
def _plain_answer_log_likelihood(model, sample: LikelihoodSample) -> float:
    """Σ log softmax over the answer tokens from one unpadded float64 forward of [x, z, y*]."""
    ids = torch.tensor([sample.prompt_ids + sample.completion_ids])
    logits = model.double()(input_ids=ids).logits[0].double()
    model.float()
    start = len(sample.prompt_ids) + len(sample.rationale_ids)
    logprobs = torch.log_softmax(logits[start - 1 : -1], dim=-1)
    return float(logprobs.gather(-1, ids[0, start:, None]).sum())


def test_the_engine_samples_closes_and_teacher_forces_the_gold_answer():
    model, tokenizer = tiny_random_policy(seed=0)
    engine = HFRolloutEngine(model, tokenizer, batch_size=3)
    fmt = RationaleFormat(budget=5, end=" so")
    prompts = ["Question: 2 + 2?", "Q: capital of France, in one long and careful sentence?"]
    groups = engine.generate(prompts, 4, fmt.sampling(SamplingConfig()), seed=0)
    marker = tokenizer(fmt.end, add_special_tokens=False)["input_ids"]
    answers = [tokenizer(" 4", add_special_tokens=False)["input_ids"], tokenizer(" Paris", add_special_tokens=False)["input_ids"]]
    samples = [close_rationale(r, fmt, marker, answers[r.prompt_index] + [tokenizer.eos_token_id])
               for group in groups for r in group]
    assert all(len(s.rationale_ids) - s.forced <= fmt.budget for s in samples)
    assert all(s.forced in (0, len(marker)) for s in samples) and any(s.forced for s in samples)
    log_w = engine.answer_log_likelihood(samples)
    for sample, value in zip(samples, log_w):  # batched float32 against unpadded float64: 1e-6 relative
        assert value == pytest.approx(_plain_answer_log_likelihood(model, sample), rel=1e-6)
        assert value < 0


HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.vllm
@pytest.mark.skipif(not HAS_VLLM, reason="vLLM (optional extra) is not installed in this environment")
def test_vllm_engine_closes_rationales_and_agrees_on_log_w():
    model, tokenizer = tiny_random_policy(seed=0)
    hf = HFRolloutEngine(model, tokenizer)
    vllm_engine = make_engine("vllm", model=model, tokenizer=tokenizer)
    fmt = RationaleFormat(budget=4, end=" so")
    marker = tokenizer(fmt.end, add_special_tokens=False)["input_ids"]
    answer = tokenizer(" 4", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    groups = vllm_engine.generate(["Question: 2 + 2?"], 6, fmt.sampling(SamplingConfig()), seed=0)
    samples = [close_rationale(r, fmt, marker, answer) for r in groups[0]]
    assert all(len(s.rationale_ids) - s.forced <= fmt.budget for s in samples)
    np.testing.assert_allclose(vllm_engine.answer_log_likelihood(samples), hf.answer_log_likelihood(samples),
                               rtol=0, atol=5e-5)
