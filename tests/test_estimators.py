"""Estimator weights: hand-computed values, identities with their neighbours, exact expectations."""

import itertools

import numpy as np
import pytest
import torch

from tsallis import EstimatorOptions, compute_weights, garl, grpo, paft, reinforce, rloo, sft
from tsallis.bias import ScoreModel, exact_moments
from tsallis.estimators import capped_garl

GROUP = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])


def test_garl_hand_computed():
    # row 0: P̂ = 1/2, amplification 2^q; row 3: P̂ = 1/4
    w = garl(GROUP, 0.5, baseline="mean")
    a = 0.5**-0.5
    np.testing.assert_allclose(w[0], a * np.array([0.5, -0.5, 0.5, -0.5]) / 4)
    np.testing.assert_array_equal(w[1], np.zeros(4))
    np.testing.assert_array_equal(w[2], np.zeros(4))
    np.testing.assert_allclose(w[3], 0.25**-0.5 * np.array([0.75, -0.25, -0.25, -0.25]) / 4)
    loo = garl(GROUP, 0.5, baseline="loo")
    np.testing.assert_allclose(loo[3], 0.25**-0.5 * np.array([1.0, -1 / 3, -1 / 3, -1 / 3]) / 4)
    none = garl(GROUP, 1.0, baseline="none")
    np.testing.assert_allclose(none[2], np.full(4, 0.25))  # all-one group: P̂ = 1, w = r/M


def test_garl_special_cases():
    rng = np.random.default_rng(0)
    rewards = (rng.random((50, 8)) < 0.3).astype(float)
    np.testing.assert_allclose(garl(rewards, 0.0, "none"), reinforce(rewards), rtol=0, atol=1e-15)
    np.testing.assert_allclose(garl(rewards, 0.0, "loo"), rloo(rewards), rtol=1e-12, atol=1e-15)
    # MaxRL advantage (arXiv 2602.02710): (r - P̂) / P̂, per sample / M
    p_hat = rewards.mean(1, keepdims=True)
    maxrl = np.where(p_hat > 0, (rewards - p_hat) / np.where(p_hat > 0, p_hat, 1) / 8, 0)
    np.testing.assert_allclose(garl(rewards, 1.0, "mean"), maxrl, rtol=1e-12, atol=1e-15)


def test_capped_garl_hand_computed_and_limits():
    # row 3: P̂ = 1/4, q = 1, amplification 4 capped at 2.5; row 0: P̂ = 1/2, amplification 2 < 2.5 untouched
    w = capped_garl(GROUP, 1.0, 2.5)
    np.testing.assert_allclose(w[3], 2.5 * np.array([0.75, -0.25, -0.25, -0.25]) / 4)
    np.testing.assert_array_equal(w[:3], garl(GROUP[:3], 1.0))
    rng = np.random.default_rng(2)
    rewards = rng.random((40, 6)) * (rng.random((40, 6)) < 0.4)
    for baseline in ("none", "mean", "loo"):
        np.testing.assert_array_equal(capped_garl(rewards, 0.7, float("inf"), baseline), garl(rewards, 0.7, baseline))
        np.testing.assert_allclose(capped_garl(rewards, 0.7, 1.0, baseline), garl(rewards, 0.0, baseline), rtol=1e-12)
    binary = (rng.random((40, 6)) < 0.2).astype(float)  # P̂ >= 1/M where P̂ > 0: a cap of M^q never binds
    # (to the ulp: the cap equals the largest amplification (1/6)^(-1/2), computed with another rounding)
    np.testing.assert_allclose(capped_garl(binary, 0.5, 6**0.5, "mean"), garl(binary, 0.5, "mean"), rtol=3e-16, atol=0)
    opts = EstimatorOptions(q=1.0, cap=2.5)
    np.testing.assert_array_equal(compute_weights("capped_garl", GROUP, opts), w)
    with pytest.raises(ValueError, match="cap must be a number \\(inf allowed\\) >= 1, got cap=0.5"):
        EstimatorOptions(cap=0.5)
    with pytest.raises(ValueError, match="cap must be a number \\(inf allowed\\) >= 1, got cap=nan"):
        capped_garl(GROUP, 0.5, float("nan"))


def test_grpo_conventions():
    r = GROUP[3:4]  # one success in four
    mean, pop_std, bessel_std = 0.25, np.sqrt(0.25 * 0.75), np.sqrt(0.25 * 0.75 * 4 / 3)
    np.testing.assert_allclose(grpo(r), (r - mean) / (bessel_std + 1e-4) / 4)
    np.testing.assert_allclose(grpo(r, std_ddof=0, eps=0.0), (r - mean) / pop_std / 4)
    np.testing.assert_allclose(grpo(r, scale="none"), (r - mean) / 4)
    # With the population std a success gets sqrt((1-P̂)/P̂)/M, GARL-mean gets P̂^(-q)(1-P̂)/M
    assert grpo(r, std_ddof=0, eps=0.0)[0, 0] == pytest.approx(np.sqrt(0.75 / 0.25) / 4)
    assert garl(r, 0.5)[0, 0] == pytest.approx(0.25**-0.5 * 0.75 / 4)
    np.testing.assert_array_equal(grpo(GROUP[1:3]), np.zeros((2, 4)))  # zero-std groups carry no signal
    np.testing.assert_array_equal(grpo(np.array([[1.0]])), np.zeros((1, 1)))  # a group of one
    batch = grpo(GROUP, scale="batch")
    flat = GROUP.ravel()
    np.testing.assert_allclose(batch, (GROUP - GROUP.mean(1, keepdims=True)) / (flat.std(ddof=1) + 1e-4) / 4)


def test_paft_counts_and_attenuation():
    rng = np.random.default_rng(1)
    w = paft(GROUP, 0.75, 5, rng)
    counts = w * 5 / np.maximum(GROUP.mean(1, keepdims=True), 1e-300) ** 0.25
    np.testing.assert_allclose(counts.sum(1), [5, 0, 5, 5])
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-12)
    assert np.all(counts[GROUP == 0] == 0)  # failures are never resampled
    np.testing.assert_allclose(w[3], [0.25**0.25, 0, 0, 0])


def test_paft_systematic_counts_within_one_of_expectation():
    rewards = np.array([[1.0, 1.0, 0.0, 1.0, 0.5]])
    w = paft(rewards, 1.0, 7, np.random.default_rng(3), resampling="systematic")
    expected = 7 * rewards / rewards.sum()
    assert np.all(np.abs(w * 7 - expected) < 1.0)


def test_paft_expectation_over_resampling_is_garl_without_baseline():
    """E[w | r] = P̂^(1-q) · (r/Σr) = P̂^(-q) r / M. Monte Carlo over 20,000 resamplings, 5 sigma."""
    rewards = np.tile(np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]]), (20000, 1))
    w = paft(rewards, 0.6, 3, np.random.default_rng(4))
    mean, sem = w.mean(0), w.std(0) / np.sqrt(len(w))
    target = garl(rewards[:1], 0.6, "none")[0]
    assert np.all(np.abs(mean - target) <= 5 * sem + 1e-15)
    # at q = 1 the expectation is filter-then-SFT on the successes
    w1 = paft(rewards, 1.0, 3, np.random.default_rng(5)).mean(0)
    np.testing.assert_allclose(w1, sft(rewards[:1])[0], atol=5 * (1 / 3) / np.sqrt(20000) * 3)


def test_paft_with_proposal():
    rewards = np.array([[1.0, 1.0, 0.0, 1.0]])
    same = paft(rewards, 0.5, 4, np.random.default_rng(0), proposal_logw=np.full((1, 4), -3.0))
    np.testing.assert_array_equal(same, paft(rewards, 0.5, 4, np.random.default_rng(0)))
    logw = np.log(np.array([[2.0, 0.5, 9.0, 1.0]]))  # p_θ / proposal
    w = paft(rewards, 1.0, 40000, np.random.default_rng(0), proposal_logw=logw)
    np.testing.assert_allclose(w[0], np.array([2.0, 0.5, 0.0, 1.0]) / 3.5, atol=0.01)
    p_hat = (2.0 + 0.5 + 1.0) / (2.0 + 0.5 + 9.0 + 1.0)  # self-normalised importance estimate of P
    w0 = paft(rewards, 0.0, 40000, np.random.default_rng(0), proposal_logw=logw)
    assert w0.sum() == pytest.approx(p_hat, rel=1e-12)


def test_numpy_and_torch_give_equal_numbers():
    rng = np.random.default_rng(7)
    rewards = rng.random((30, 6)) * (rng.random((30, 6)) < 0.5)
    for name in ("reinforce", "rloo", "grpo", "garl", "paft", "sft"):
        a = compute_weights(name, rewards, EstimatorOptions(q=0.4, num_resamples=3, generator=np.random.default_rng(0), targets=rewards > 0.2))
        b = compute_weights(name, torch.tensor(rewards), EstimatorOptions(q=0.4, num_resamples=3, generator=np.random.default_rng(0), targets=rewards > 0.2))
        assert isinstance(b, torch.Tensor) and b.dtype == torch.float64
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
    # a torch.Generator drives the same code path
    t = paft(torch.tensor(rewards, dtype=torch.float32), 0.4, 3, torch.Generator().manual_seed(0))
    assert t.dtype == torch.float32 and torch.isfinite(t).all()


def _enumerate_expectation(probs, correct, m, weight_fn):
    """Exact E[Σ_m w_m ∇log p(z_m)] over all K^M outcomes of a group from a softmax policy."""
    k = len(probs)
    total = np.zeros(k)
    for outcome in itertools.product(range(k), repeat=m):
        prob = np.prod(probs[list(outcome)])
        rewards = np.array([[float(z in correct) for z in outcome]])
        w = weight_fn(rewards)[0]
        scores = np.eye(k)[list(outcome)] - probs  # (M, K)
        total += prob * (w @ scores)
    return total


def _softmax_case():
    probs = np.exp([0.2, -0.5, 1.0, 0.1])
    probs /= probs.sum()
    correct = {1, 3}
    p = probs[list(correct)].sum()
    grad_p = np.array([probs[j] * (j in correct) - p * probs[j] for j in range(4)])
    return probs, correct, p, grad_p


def test_rloo_and_reinforce_exactly_unbiased_at_q0():
    probs, correct, _, grad_p = _softmax_case()
    for fn in (rloo, reinforce, lambda r: garl(r, 0.0, "loo")):
        np.testing.assert_allclose(_enumerate_expectation(probs, correct, 3, fn), grad_p, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("baseline", ["none", "mean", "loo"])
@pytest.mark.parametrize("q", [0.25, 0.75, 1.0])
def test_enumerated_expectation_matches_binomial_sum(baseline, q):
    """Exact enumeration with the real estimator code equals tsallis.bias.exact_moments, coordinate by coordinate."""
    probs, correct, p, grad_p = _softmax_case()
    m = 3
    enumerated = _enumerate_expectation(probs, correct, m, lambda r: garl(r, q, baseline))
    for j in range(4):
        exact = exact_moments(f"garl_{baseline}", p, q, m, ScoreModel(grad_p=grad_p[j]))
        assert enumerated[j] == pytest.approx(exact.mean, rel=1e-10, abs=1e-14)


def test_registry_and_options_errors():
    with pytest.raises(ValueError, match="unknown estimator 'ppo'"):
        compute_weights("ppo", GROUP)
    with pytest.raises(ValueError, match="num_resamples must be an integer >= 1, got num_resamples=-2"):
        EstimatorOptions(num_resamples=-2)
    with pytest.raises(ValueError, match="q must lie in \\[0, 1\\], got q=1.2"):
        EstimatorOptions(q=1.2)
    with pytest.raises(ValueError, match="baseline must be one of .* got baseline='median'"):
        garl(GROUP, 0.5, baseline="median")
    with pytest.raises(ValueError, match="rewards must have shape \\(groups, M\\) with M >= 1, got shape \\(4,\\)"):
        garl(GROUP[0], 0.5)
    with pytest.raises(ValueError, match="rewards must lie in \\[0, 1\\], got rewards=2.0"):
        reinforce(GROUP * 2)
    with pytest.raises(ValueError, match="paft needs generator="):
        paft(GROUP, 0.5, 2, None)
    with pytest.raises(ValueError, match="num_resamples must be an integer >= 1, got num_resamples=0"):
        paft(GROUP, 0.5, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="generator must be a numpy.random.Generator or a torch.Generator, got int"):
        paft(GROUP, 0.5, 2, 3)
    with pytest.raises(ValueError, match="sft needs options.targets"):
        compute_weights("sft", GROUP)
    with pytest.raises(ValueError, match="proposal_logw must have the rewards' shape"):
        paft(GROUP, 0.5, 2, np.random.default_rng(0), proposal_logw=np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"std_ddof must be one of \(0, 1\), got std_ddof=2"):
        grpo(GROUP, std_ddof=2)
