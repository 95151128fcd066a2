"""The trainer's loss gradient against Σ weight · ∇log p(z) computed sequence by sequence, by hand.

Reference: for each completion z_i, log p(z_i) = Σ_t log softmax(logits_t / T)[z_it] from an *unpadded*
forward pass of (prompt, completion), and its gradient ∇log p(z_i) by autograd of that one scalar.
The trainer computes the same update with left/right padding, micro-batches, gradient accumulation,
skipped zero-weight sequences and a global normaliser; both must agree to float32 round-off.
"""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.models import tiny_random_policy
from llm.rollout import HFRolloutEngine, SamplingConfig
from llm.rollout.base import Rollout
from llm.train.batch import collate, token_logprobs
from llm.train.loss import AGGREGATIONS, LossSpec, policy_loss
from llm.train.recipe import load_config
from llm.train.update import accumulate_gradients, sequence_coefficients
from tsallis.estimators import compute_weights, EstimatorOptions

TEMPERATURE = 0.7  # not 1, so a missing temperature scaling would show
REWARDS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)  # (G, M) = (3, 3)


@pytest.fixture(scope="module")
def setup():
    model, tokenizer = tiny_random_policy(seed=0)
    model.train()
    gen = torch.Generator().manual_seed(1)
    rollouts = []
    for i in range(REWARDS.numel()):
        g, m = divmod(i, REWARDS.shape[1])
        prompt = torch.randint(10, 1000, (int(torch.randint(2, 7, (1,), generator=gen)),), generator=gen).tolist()
        completion = torch.randint(10, 1000, (int(torch.randint(1, 6, (1,), generator=gen)),), generator=gen).tolist()
        rollouts.append(Rollout(g, m, prompt, completion, "", [0.0] * len(completion), "eos"))
    return model, tokenizer, rollouts


def token_logps(model, rollout: Rollout) -> torch.Tensor:
    """log p of each completion token from an unpadded forward pass: (T_i,)."""
    ids = torch.tensor([rollout.prompt_ids + rollout.completion_ids])
    logits = model(input_ids=ids).logits[0].float() / TEMPERATURE  # (P + T, V)
    p = len(rollout.prompt_ids)
    logp = torch.log_softmax(logits[p - 1 : -1], dim=-1)  # (T, V): row t predicts completion token t
    return logp.gather(1, torch.tensor(rollout.completion_ids)[:, None]).squeeze(1)


def seq_grad(model, loss_fn) -> list[torch.Tensor]:
    """∇ of a scalar function of the model (fresh graph)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return list(torch.autograd.grad(loss_fn(), params, allow_unused=True))


def trainer_grad(model, rollouts, advantages, reference=None, **settings) -> list[torch.Tensor]:
    """The trainer's gradient with the loss settings ``settings`` (agg, clip, kl_beta, ...)."""
    spec = LossSpec(**{"kl_bias_correction": False, "temperature": TEMPERATURE, "max_new_tokens": 8,
                       "micro_batch_size": 2, **settings})
    model.zero_grad(set_to_none=True)
    accumulate_gradients(model, rollouts, advantages, spec, accelerator=Accelerator(cpu=True), pad_id=0,
                         reference=reference)
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def assert_grads_close(a, b):
    scale = max(float(x.abs().max()) for x in b if x is not None)
    assert scale > 0
    for x, y in zip(a, b):
        y = torch.zeros_like(x) if y is None else y
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5 * scale)


def config_for(algo: str):
    sets = [f"algo.name={algo}", "algo.q=0.5", "algo.num_resamples=4", "rollout.num_samples=3"]
    if algo == "sft":
        sets[-1] = "rollout.num_samples=1"
    return load_config(None, sets)


@pytest.mark.parametrize("algo", ["garl", "paft", "rloo", "reinforce", "sft"])
def test_seq_sum_gradient_is_sum_of_weighted_score_functions(setup, algo):
    """seq-sum: ∇L = -(1/G) Σ_g Σ_m w_gm ∇log p(z_gm) with w from the tsallis core."""
    model, _, rollouts = setup
    config = config_for(algo)
    rewards = REWARDS if algo != "sft" else REWARDS[:, :1]
    rolls = rollouts if algo != "sft" else rollouts[:: REWARDS.shape[1]]
    advantages = sequence_coefficients(config, rewards, 0.5, torch.Generator().manual_seed(3))
    if algo == "sft":
        weights = compute_weights("sft", rewards, EstimatorOptions(targets=torch.ones_like(rewards)))
    else:
        opts = EstimatorOptions(q=0.5, num_resamples=4, generator=torch.Generator().manual_seed(3))
        weights = compute_weights(algo, rewards, opts)
    w = weights.reshape(-1)
    G = rewards.shape[0]
    expected = seq_grad(model, lambda: -sum(float(w[i]) * token_logps(model, r).sum() for i, r in enumerate(rolls)) / G)
    got = trainer_grad(model, rolls, advantages, agg="seq-sum", clip=None, kl_beta=0.0)
    assert_grads_close(got, expected)


def test_grpo_token_sum_gradient_with_clip_and_kl(setup):
    """GRPO (dapo): ∇L = -(1/N_tok) Σ_i Σ_t [A_i ∇ℓ_it - β ∇k3_it] at ratio 1, k3 = e^(ref-ℓ) - (ref-ℓ) - 1."""
    model, _, rollouts = setup
    config = config_for("grpo")
    advantages = sequence_coefficients(config, REWARDS, 0.0, None)
    A = (REWARDS.shape[1] * compute_weights("grpo", REWARDS)).reshape(-1)  # TRL advantage (r - mean)/(std + 1e-4)
    beta = 0.3
    reference, _ = tiny_random_policy(seed=1)  # a different frozen policy, so the KL term is not zero
    reference.requires_grad_(False)
    with torch.no_grad():  # old log-probs = current (on-policy, ratio 1)
        old = [token_logps(model, r) for r in rollouts]
        ref = [token_logps(reference, r) for r in rollouts]
    rolls = [Rollout(r.prompt_index, r.sample_index, r.prompt_ids, r.completion_ids, "", o.tolist(), "eos")
             for r, o in zip(rollouts, old)]
    n_tok = sum(len(r.completion_ids) for r in rolls)

    def hand_loss():
        total = 0.0
        for i, r in enumerate(rolls):
            lp = token_logps(model, r)
            delta = ref[i] - lp
            total = total + (float(A[i]) * lp - beta * (torch.exp(delta) - delta - 1)).sum()
        return -total / n_tok

    got = trainer_grad(model, rolls, advantages, agg="token-sum", clip=(0.2, 0.2), kl_beta=beta, reference=reference)
    torch.testing.assert_close(advantages.double(), A, rtol=1e-6, atol=1e-6)
    assert_grads_close(got, seq_grad(model, hand_loss))


def test_garl_q0_is_reinforce_with_the_same_baseline(setup):
    """GARL at q = 0: mean baseline = hand REINFORCE with b = P̂; none = reinforce; loo = RLOO."""
    model, _, rollouts = setup
    M, G = REWARDS.shape[1], REWARDS.shape[0]
    b = REWARDS.mean(dim=1, keepdim=True)
    w_hand = ((REWARDS - b) / M).reshape(-1)  # REINFORCE with the group-mean baseline, written out
    hand = seq_grad(model, lambda: -sum(float(w_hand[i]) * token_logps(model, r).sum() for i, r in enumerate(rollouts)) / G)
    garl = load_config(None, ["algo.name=garl", "algo.q=0", "algo.baseline=mean", "rollout.num_samples=3"])
    got = trainer_grad(model, rollouts, sequence_coefficients(garl, REWARDS, 0.0, None), agg="seq-sum", clip=None, kl_beta=0.0)
    assert_grads_close(got, hand)
    for baseline, twin in (("none", "reinforce"), ("loo", "rloo")):
        cfg = load_config(None, ["algo.name=garl", "algo.q=0", f"algo.baseline={baseline}", "rollout.num_samples=3"])
        a = sequence_coefficients(cfg, REWARDS, 0.0, None)
        b_ = sequence_coefficients(load_config(None, [f"algo.name={twin}", "rollout.num_samples=3"]), REWARDS, 0.0, None)
        torch.testing.assert_close(a, b_)
        assert_grads_close(trainer_grad(model, rollouts, a, agg="seq-sum", clip=None, kl_beta=0.0),
                           trainer_grad(model, rollouts, b_, agg="seq-sum", clip=None, kl_beta=0.0))


@pytest.mark.parametrize("q", [0.0, 0.75, 1.0])
def test_paft_is_sft_on_resampled_completions_scaled_by_p_hat(setup, q):
    """PAFT gradient = (1/G) Σ_g P̂_g^(1-q) × (SFT gradient on group g's K resampled completions)."""
    model, _, rollouts = setup
    K, M, G = 4, REWARDS.shape[1], REWARDS.shape[0]
    cfg = load_config(None, ["algo.name=paft", f"algo.q={q}", f"algo.num_resamples={K}", "rollout.num_samples=3"])
    advantages = sequence_coefficients(cfg, REWARDS, q, torch.Generator().manual_seed(5))
    got = trainer_grad(model, rollouts, advantages, agg="seq-sum", clip=None, kl_beta=0.0)
    p_hat = REWARDS.mean(dim=1)
    counts = (advantages.double().reshape(G, M) / M) * K / p_hat[:, None] ** (1 - q)  # resampling counts c_gm
    torch.testing.assert_close(counts, counts.round(), atol=1e-5, rtol=0)
    assert torch.all(counts.round().sum(dim=1) == K) and torch.all(counts[REWARDS == 0] == 0)
    expected = None
    sft = load_config(None, ["algo.name=sft", "rollout.num_samples=1"])
    for g in range(G):
        resampled = [rollouts[g * M + m] for m in range(M) for _ in range(int(counts[g, m].round()))]  # K copies
        targets = torch.ones(K, 1, dtype=torch.float64)  # K one-sample groups -> mean over the K of ∇log p
        grad = trainer_grad(model, resampled, sequence_coefficients(sft, targets, 0.0, None), agg="seq-sum",
                            clip=None, kl_beta=0.0)
        scaled = [float(p_hat[g] ** (1 - q)) * x / G for x in grad]
        expected = scaled if expected is None else [e + s for e, s in zip(expected, scaled)]
    assert_grads_close(got, expected)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=2, max_size=8), cut=st.integers(1, 7),
       agg=st.sampled_from(sorted(AGGREGATIONS)), seed=st.integers(0, 2**16))
def test_micro_batch_split_does_not_change_the_loss(lengths, cut, agg, seed):
    """Property: with N counted over the whole update, the losses of any two micro-batches add up to the
    loss of the whole batch (gradient accumulation is exact), for every aggregation mode."""
    gen = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    logp = -torch.rand(B, T, generator=gen) * 5
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).float()
    adv = torch.randn(B, generator=gen)
    cut = min(cut, B - 1)
    n = AGGREGATIONS[agg].count(mask, 8)  # equals the sum of the two parts' counts
    assert n == AGGREGATIONS[agg].count(mask[:cut], 8) + AGGREGATIONS[agg].count(mask[cut:], 8)
    whole, _ = policy_loss(logp, mask, adv, LossSpec(agg=agg), n)
    parts = sum(policy_loss(logp[s], mask[s], adv[s], LossSpec(agg=agg), n)[0] for s in (slice(0, cut), slice(cut, B)))
    torch.testing.assert_close(whole, parts)


def test_aggregation_hand_values():
    """Normalisers and values of each mode on a hand-made batch of 6 sequences with 20 completion tokens."""
    torch.manual_seed(0)
    logp = torch.randn(6, 5)
    mask = (torch.arange(5)[None, :] < torch.tensor([5, 3, 1, 4, 2, 5])[:, None]).float()
    adv = torch.randn(6)
    # hand values: seq-sum divides by 6 sequences, token-sum by 20 tokens, Dr. GRPO by 6 x 8
    total = (adv[:, None] * logp * mask).sum()
    assert torch.isclose(policy_loss(logp, mask, adv, LossSpec(agg="seq-sum"), 6)[0], -total / 6)
    assert AGGREGATIONS["token-sum"].count(mask, 8) == 20.0
    assert AGGREGATIONS["seq-mean-token-sum-norm"].count(mask, 8) == 48.0
    per_seq = ((adv[:, None] * logp * mask).sum(1) / mask.sum(1)).sum() / 6
    assert torch.isclose(policy_loss(logp, mask, adv, LossSpec(agg="seq-mean-token-mean"), 6)[0], -per_seq)


def test_clipped_ratio_values():
    """PPO clip on a hand table: A > 0 caps the ratio at 1 + ε, A < 0 at 1 - ε; clipfrac counts them."""
    old = torch.zeros(1, 4)
    new = torch.log(torch.tensor([[0.5, 0.9, 1.1, 1.5]]))
    mask = torch.ones(1, 4)
    for a, expected, frac in ((1.0, [0.5, 0.9, 1.1, 1.2], 0.25), (-1.0, [-0.8, -0.9, -1.1, -1.5], 0.25)):
        loss, m = policy_loss(new, mask, torch.tensor([a]), LossSpec(agg="token-sum", clip=(0.2, 0.2)), 4.0,
                              old_logprobs=old)
        assert torch.isclose(loss, -torch.tensor(expected).sum() / 4)
        assert float(m["loss/clipfrac"][0]) / float(m["loss/clipfrac"][1]) == frac


def test_loss_rejects_bad_inputs():
    with pytest.raises(ValueError, match="unknown loss aggregation 'mean'"):
        policy_loss(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1), LossSpec(agg="mean"), 1.0)
    with pytest.raises(ValueError, match="old_logprobs is None"):
        policy_loss(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1), LossSpec(clip=(0.2, 0.2)), 1.0)
    with pytest.raises(ValueError, match="shapes disagree"):
        policy_loss(torch.zeros(2, 2), torch.ones(2, 2), torch.zeros(3), LossSpec(), 1.0)


def test_trainer_logprobs_match_the_rollout_logprobs(setup):
    """On-policy the PPO ratio is 1: the trainer's padded, temperature-scaled log-probs reproduce the
    log-probs the HF engine recorded while sampling (same T), token by token."""
    model, tokenizer, _ = setup
    engine = HFRolloutEngine(model, tokenizer, batch_size=4)
    groups = engine.generate(["Hello there", "The answer is"], n=3,
                             sampling=SamplingConfig(temperature=TEMPERATURE, max_new_tokens=5), seed=0)
    rollouts = [r for g in groups for r in g]
    batch = collate([r.prompt_ids for r in rollouts], [r.completion_ids for r in rollouts], tokenizer.pad_token_id,
                    [r.logprobs for r in rollouts])
    with torch.no_grad():
        logprobs, _ = token_logprobs(model, batch, TEMPERATURE)
    mask = batch.completion_mask.bool()
    torch.testing.assert_close(logprobs[mask], batch.old_logprobs[mask], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("bias_correction", [False, True])
def test_kl_matches_trl_loss_with_and_without_bias_correction(setup, bias_correction):
    """policy_loss(token-sum, PPO clip, β k3, kl_bias_correction) = TRL 1.16's ``dapo`` loss with
    use_bias_correction_kl, in value and gradient, off-policy (ratios ≠ 1, some clipped) and with a
    reference policy; and the two KL conventions give different gradients, so the option matters."""
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    _, tokenizer, rollouts = setup
    model, _ = tiny_random_policy(seed=0)  # a fresh copy: TRL wraps the model it is given
    reference, _ = tiny_random_policy(seed=1)  # a different frozen policy, so k3 is not zero
    beta, eps = 0.3, 0.2
    args = trl.GRPOConfig(output_dir="/tmp/tsallis-kl-test", report_to=[], use_cpu=True, bf16=False,
                          activation_checkpointing=False, per_device_train_batch_size=len(rollouts), num_generations=3,
                          max_completion_length=8, temperature=TEMPERATURE, loss_type="dapo", beta=0.0, epsilon=eps,
                          use_bias_correction_kl=bias_correction)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=lambda completions, **kw: [0.0] * len(completions), args=args,
                              train_dataset=Dataset.from_dict({"prompt": ["x"]}), processing_class=tokenizer)
    trainer.beta = beta  # set after __init__, which would load a reference model by hub name for beta > 0;
    # the loss reads the reference log-probs from its inputs (ref_per_token_logps) and β from trainer.beta
    batch = collate([r.prompt_ids for r in rollouts], [r.completion_ids for r in rollouts], tokenizer.pad_token_id)
    mask = batch.completion_mask
    width = batch.input_ids.shape[1] - batch.completion_ids.shape[1]
    advantages = torch.linspace(-1.5, 1.5, len(rollouts))
    with torch.no_grad():
        current, _ = token_logprobs(model, batch, TEMPERATURE)
        ref, _ = token_logprobs(reference, batch, TEMPERATURE)
    old = (current + 0.3 * torch.randn(current.shape, generator=torch.Generator().manual_seed(0))) * mask
    inputs = {"prompt_ids": batch.input_ids[:, :width], "prompt_mask": batch.attention_mask[:, :width],
              "completion_ids": batch.completion_ids, "completion_mask": batch.attention_mask[:, width:],
              "advantages": advantages, "old_per_token_logps": old, "ref_per_token_logps": ref,
              "num_items_in_batch": mask.sum()}
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    grads = {}
    for side in ("trl", "ours", "other"):
        model.zero_grad(set_to_none=True)
        if side == "trl":
            loss = trainer._compute_loss(model, inputs)
        else:
            logprobs, _ = token_logprobs(model, batch, TEMPERATURE)
            spec = LossSpec(agg="token-sum", clip=(eps, eps), kl_beta=beta,
                            kl_bias_correction=bias_correction if side == "ours" else not bias_correction)
            loss, metrics = policy_loss(logprobs, mask, advantages, spec, float(mask.sum()), old_logprobs=old,
                                        ref_logprobs=ref)
            clipfrac = float(metrics["loss/clipfrac"][0] / metrics["loss/clipfrac"][1])
            assert 0 < clipfrac < 1  # the clip is active on some tokens: an off-policy comparison
        loss.backward()
        grads[side] = (float(loss.detach()), torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]))
    (trl_loss, trl_grad), (our_loss, our_grad), (_, other_grad) = grads["trl"], grads["ours"], grads["other"]
    assert abs(trl_loss - our_loss) <= 1e-5 * abs(trl_loss)
    assert float((trl_grad - our_grad).norm() / trl_grad.norm()) < 1e-5
    assert float((other_grad - our_grad).norm() / trl_grad.norm()) > 1e-3  # the other convention differs


def test_kl_bias_correction_needs_old_logprobs():
    with pytest.raises(ValueError, match="kl_bias_correction=True but old_logprobs is None"):
        policy_loss(torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1), LossSpec(kl_beta=0.1, kl_bias_correction=True),
                    1.0, ref_logprobs=torch.zeros(1, 2))
