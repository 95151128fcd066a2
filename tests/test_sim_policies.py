"""Toy policies: exact ∇P against finite differences and autograd, sampling against exact P, the K-armed rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.autoregressive import AutoregressivePolicy
from sim.policies import KArmedSoftmax, LinearSoftmaxPrompts, OneLogit, softmax


def finite_difference(fn, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function of θ (D,)."""
    grad = np.zeros_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = h
        grad[j] = (fn(theta + step) - fn(theta - step)) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "policy, theta",
    [
        (OneLogit(), np.array([-2.3])),
        (KArmedSoftmax(4, correct=(0, 2)), np.array([0.3, -1.0, 0.5, 1.2])),
    ],
)
def test_grad_success_matches_finite_differences(policy, theta):
    numeric = finite_difference(lambda th: float(policy.success_prob(th)), theta)
    np.testing.assert_allclose(policy.grad_success(theta), numeric, rtol=1e-6, atol=1e-10)


def test_multi_prompt_flow_is_gradient_of_mean_qlog():
    toy = LinearSoftmaxPrompts.make(num_prompts=7, num_answers=4, num_features=3, noise_rate=0.3, cold_logit=1.0, seed=3)
    theta = np.random.default_rng(0).normal(size=toy.dim)
    for q in (0.0, 0.5, 1.0):
        objective = (lambda th, q=q: float(np.mean(np.log(toy.success_prob(th))))) if q == 1 else (
            lambda th, q=q: float(np.mean((toy.success_prob(th) ** (1 - q) - 1) / (1 - q))))
        np.testing.assert_allclose(toy.flow(theta, q), finite_difference(objective, theta), rtol=1e-5, atol=1e-9)


def test_multi_prompt_noise_rate_and_labels():
    toy = LinearSoftmaxPrompts.make(num_prompts=40, num_answers=5, num_features=6, noise_rate=0.25, cold_logit=4.0, seed=0)
    assert toy.noisy.sum() == 10
    assert np.all(toy.labels[toy.noisy] != toy.clean_labels[toy.noisy])
    assert np.all(toy.labels >= 1)  # answer 0 is the cold-start default, never gold
    p0 = toy.success_prob(np.zeros(toy.dim))
    np.testing.assert_allclose(p0, 1.0 / (np.exp(4.0) + 4), rtol=1e-12)


def test_multi_prompt_rejects_bad_noise_rate():
    with pytest.raises(ValueError, match="noise_rate"):
        LinearSoftmaxPrompts.make(num_prompts=5, num_answers=4, num_features=2, noise_rate=1.0, cold_logit=0.0, seed=0)


def test_karmed_rejects_bad_arms():
    with pytest.raises(ValueError, match="correct"):
        KArmedSoftmax(3, correct=(3,))


@settings(max_examples=40, deadline=None)
@given(
    logits=st.lists(st.floats(-4, 4), min_size=3, max_size=7),
    q=st.floats(0, 1),
)
def test_karmed_rate_identity(logits, q):
    """dP/dt = ∇P · P^(-q) ∇P equals P^(2-q)((1-P)^2 + Σ_{j≠c} π_j^2) for any logits (one correct arm)."""
    toy = KArmedSoftmax(len(logits))
    theta = np.array(logits)
    chain_rule = float(toy.grad_success(theta) @ toy.flow(theta, q))
    np.testing.assert_allclose(chain_rule, toy.success_rate(theta, q), rtol=1e-9, atol=1e-300)


def test_karmed_theta_for_and_equal_wrong_arms_speedup():
    toy = KArmedSoftmax(6)
    theta = toy.theta_for(1e-3)
    assert toy.success_prob(theta) == pytest.approx(1e-3, rel=1e-12)
    p = 1e-3
    # equal wrong arms: Σ_{j≠c} π_j^2 = (1-P)^2/(K-1), so the rate is K/(K-1) times the one-logit rate
    assert toy.success_rate(theta, 0.5) == pytest.approx(6 / 5 * p**1.5 * (1 - p) ** 2, rel=1e-10)


@pytest.mark.parametrize("policy, theta", [(OneLogit(), np.array([-1.0])), (KArmedSoftmax(5), np.log([0.1, 0.3, 0.2, 0.25, 0.15]))])
def test_sampling_matches_exact_moments(policy, theta):
    """Sample mean of r is P and of r·s is ∇P (within 5 standard errors, fixed seed)."""
    rng = np.random.default_rng(1)
    n = 200_000
    rewards, scores = policy.sample(theta, rng, n)  # (n,), (n, D)
    p = float(policy.success_prob(theta))
    assert abs(rewards.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    rs = rewards[:, None] * scores
    np.testing.assert_array_less(np.abs(rs.mean(axis=0) - policy.grad_success(theta)), 5 * rs.std(axis=0) / np.sqrt(n) + 1e-12)
    np.testing.assert_array_less(np.abs(scores.mean(axis=0)), 5 * scores.std(axis=0) / np.sqrt(n) + 1e-12)


def test_karmed_score_moments_match_samples():
    toy = KArmedSoftmax(5, correct=(0, 3))
    theta = np.log([0.05, 0.3, 0.2, 0.1, 0.35])
    grad, var1, var0 = toy.score_moments(theta)
    rewards, scores = toy.sample(theta, np.random.default_rng(2), 200_000)
    np.testing.assert_allclose(scores[rewards == 1].var(axis=0), var1, atol=5e-3)
    np.testing.assert_allclose(scores[rewards == 0].var(axis=0), var0, atol=5e-3)
    np.testing.assert_allclose(grad, toy.grad_success(theta))


def test_autoregressive_enumeration_is_a_distribution_and_matches_autograd():
    toy = AutoregressivePolicy()
    theta = toy.theta_for(1e-2) + 0.4 * np.random.default_rng(0).standard_normal(toy.dim)
    probs = np.exp(toy.log_probs(theta))
    assert probs.shape == (toy.vocab**toy.length,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    # torch autograd through an independent implementation of log p(z)
    t = torch.tensor(theta, requires_grad=True)
    log_policy = torch.log_softmax(t.reshape(toy.length, toy.vocab + 1, toy.vocab), dim=-1)
    seqs = torch.tensor(toy.sequences)
    prev = torch.cat([torch.full((len(seqs), 1), toy.vocab), seqs[:, :-1]], dim=1)
    logp = log_policy[torch.arange(toy.length)[None, :], prev, seqs].sum(dim=1)
    p = (logp.exp() * torch.tensor(toy.rewards)).sum()
    p.backward()
    np.testing.assert_allclose(toy.log_probs(theta), logp.detach().numpy(), atol=1e-12)
    assert toy.success_prob(theta) == pytest.approx(float(p.detach()), rel=1e-12)
    np.testing.assert_allclose(toy.grad_success(theta), t.grad.numpy(), atol=1e-14)
    # the per-sequence scores are the autograd gradients of log p(z)
    for index in (0, 17, 500):
        table = torch.log_softmax(t.reshape(toy.length, toy.vocab + 1, toy.vocab), dim=-1)
        logp_i = table[torch.arange(toy.length), prev[index], seqs[index]].sum()
        (grad_i,) = torch.autograd.grad(logp_i, t)
        np.testing.assert_allclose(toy.scores(theta, np.array([index]))[0], grad_i.numpy(), atol=1e-12)


def test_autoregressive_monte_carlo_matches_enumeration():
    toy = AutoregressivePolicy()
    theta = toy.theta_for(0.05) + 0.3 * np.random.default_rng(1).standard_normal(toy.dim)
    rng = np.random.default_rng(5)
    n = 100_000
    rewards, scores = toy.sample(theta, rng, n)  # (n,), (n, D)
    p = float(toy.success_prob(theta))
    assert abs(rewards.mean() - p) < 4.5 * np.sqrt(p * (1 - p) / n)
    rs = rewards[:, None] * scores
    z = (rs.mean(axis=0) - toy.grad_success(theta)) / (rs.std(axis=0) / np.sqrt(n) + 1e-300)
    assert np.max(np.abs(z[rs.std(axis=0) > 0])) < 4.5
    # batched sampling: each row follows its own θ
    thetas = np.stack([toy.theta_for(0.01), toy.theta_for(0.5)])
    batch_rewards, _ = toy.sample(thetas, rng, 20_000)
    assert batch_rewards.shape == (2, 20_000)
    assert abs(batch_rewards[0].mean() - 0.01) < 0.004 and abs(batch_rewards[1].mean() - 0.5) < 0.02


def test_autoregressive_rejects_too_many_sequences():
    with pytest.raises(ValueError, match="exceeds"):
        AutoregressivePolicy(vocab=10, length=6)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-700, 700), min_size=1, max_size=12), st.integers(1, 3))
def test_softmax_is_scipys_to_the_last_bit(logits, rows):
    """The policies' numpy softmax computes scipy.special.softmax's formula: identical floats, any shape."""
    from scipy.special import softmax as scipy_softmax

    table = np.tile(np.array(logits), (rows, 1)) + np.arange(rows)[:, None]
    assert np.array_equal(softmax(table, axis=-1), scipy_softmax(table, axis=-1))
    assert np.array_equal(softmax(table, axis=0), scipy_softmax(table, axis=0))
