"""PAFT with a replay buffer: the mixture proposal by hand, its moments by enumeration against exact values,
and the trainer's path (tsallis.replay + tsallis PAFT) against the enumeration by Monte Carlo."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.autoregressive import AutoregressivePolicy
from sim.estimator_study import analytic_moments
from sim.policies import KArmedSoftmax
from sim.replay import FinitePolicy, fresh_unions, q0_moments, replay_paft_moments, single_success_moments, union_moments
from tsallis import EstimatorOptions, compute_weights, paft
from tsallis.replay import replay_proposal

TWO_CORRECT = KArmedSoftmax(4, correct=(0, 1))
THETA = np.array([-1.0, 0.3, 0.5, -0.2])
AUTOREGRESSIVE = AutoregressivePolicy(vocab=2, length=3, answer=0, min_count=2)  # 8 sequences, 4 successes
AR_THETA = 0.5 * np.random.default_rng(0).standard_normal(AUTOREGRESSIVE.dim)


def test_replay_proposal_hand_computed():
    rewards = np.array([[1.0, 0, 0, 1, 1], [0, 0, 0, 1, 0]])
    logp = np.log([[0.2, 0.5, 0.3, 0.2, 0.1], [0.5, 0.5, 0.5, 0.25, 0.7]])
    ids = np.array([[7, 1, 2, 7, 9], [1, 1, 1, 3, 0]])
    valid = np.array([[True] * 5, [True] * 4 + [False]])
    out = replay_proposal(rewards, logp, ids, 3, valid)
    # row 0: N = 5, M = 3; fresh sample 0 equals stored 7 (n = 1): ρ = 5·0.2/(3·0.2 + 1); fresh 1, 2: N/M
    rho0 = [0.625, 5 / 3, 5 / 3, 0.625, 5 * 0.1 / 1.3]
    # row 1: one stored sequence (N = 4); fresh duplicates of each other do not count, only the buffer's copies
    rho1 = [4 / 3, 4 / 3, 4 / 3, 4 * 0.25 / 1.75, 4 / 3]  # the empty slot takes the row's largest log-weight
    np.testing.assert_allclose(np.exp(out.proposal_logw), [rho0, rho1], rtol=1e-15)
    np.testing.assert_allclose(out.p_hat, [[(0.625 + 0.625 + 0.5 / 1.3) / 5], [1 / 7]], rtol=1e-15)
    np.testing.assert_array_equal(out.multiplicity, [[1, 0, 0, 1, 1], [0, 0, 0, 1, 0]])
    # an empty buffer is on-policy PAFT: ρ = 1, P̂ = mean(r)
    plain = replay_proposal(np.array([[1.0, 0.5, 0], [0.25, 1, 0]]), logp[:, :3], ids[:, :3], 3)
    np.testing.assert_allclose(plain.proposal_logw, np.zeros((2, 3)), atol=1e-15)
    np.testing.assert_allclose(plain.p_hat, [[0.5], [1.25 / 3]], rtol=1e-15)
    # torch in, torch out (float64, same values)
    t = replay_proposal(torch.tensor(rewards, dtype=torch.float32), torch.tensor(logp), torch.tensor(ids), 3,
                        torch.tensor(valid))
    assert t.p_hat.dtype == torch.float64 and t.proposal_logw.shape == (2, 5)
    np.testing.assert_array_equal(t.proposal_logw.numpy(), out.proposal_logw)


def test_empty_slots_change_no_weight():
    rng = np.random.default_rng(1)
    rewards = np.array([[1.0, 0, 1, 1, 1], [0, 0, 1, 1, 0]])
    logp = np.log(rng.uniform(0.01, 0.5, (2, 5)))
    ids = np.array([[0, 1, 2, 0, 5], [3, 4, 4, 4, 0]])
    valid = np.array([[True] * 5, [True] * 4 + [False]])
    padded = replay_proposal(rewards, logp, ids, 3, valid)
    alone = replay_proposal(rewards[1:, :4], logp[1:, :4], ids[1:, :4], 3)
    np.testing.assert_array_equal(padded.proposal_logw[1, :4], alone.proposal_logw[0])
    np.testing.assert_array_equal(padded.p_hat[1], alone.p_hat[0])
    for scheme in ("multinomial", "systematic"):
        for seed in range(4):
            a = paft(rewards[1:], 0.5, 3, np.random.default_rng(seed), padded.proposal_logw[1:], scheme,
                     p_hat=padded.p_hat[1:])
            b = paft(rewards[1:, :4], 0.5, 3, np.random.default_rng(seed), alone.proposal_logw, scheme,
                     p_hat=alone.p_hat)
            np.testing.assert_allclose(a[:, :4], b, rtol=1e-15)
            assert a[0, 4] == 0


@pytest.mark.parametrize("buffer", [[], [0], [0, 1], [0, 0], [1, 2]])
@pytest.mark.parametrize("m, k", [(1, 1), (2, 2), (3, 2)])
def test_enumeration_on_the_softmax_matches_the_mixture_identity_and_the_q0_closed_form(buffer, m, k):
    policy = FinitePolicy.of(TWO_CORRECT, THETA)
    grad, variance, p_hat_variance = q0_moments(policy, buffer, m, k)
    exact = replay_paft_moments(policy, buffer, m, 0.0, k)
    np.testing.assert_allclose(exact.mean, policy.grad, rtol=0, atol=1e-14)  # q = 0: unbiased for ∇P
    np.testing.assert_allclose(exact.variance, variance, rtol=0, atol=1e-14)
    assert exact.p_hat_mean == pytest.approx(policy.success, abs=1e-15)
    assert exact.p_hat_variance == pytest.approx(p_hat_variance, abs=1e-15)
    for q in (0.5, 1.0):  # the mixture identity holds at every q: E[P̂] = P, E[Ĝ] = ∇P
        moments = replay_paft_moments(policy, buffer, m, q, k)
        assert moments.p_hat_mean == pytest.approx(policy.success, abs=1e-15)
        np.testing.assert_allclose(moments.g_hat_mean, policy.grad, rtol=0, atol=1e-15)


def test_enumeration_on_the_autoregressive_toy():
    policy = FinitePolicy.of(AUTOREGRESSIVE, AR_THETA)
    successes = np.flatnonzero(policy.rewards)
    for buffer in ([], list(successes[:2]), [successes[0], successes[0], successes[3]]):
        grad, variance, _ = q0_moments(policy, buffer, 2, 2)
        exact = replay_paft_moments(policy, buffer, 2, 0.0, 2)
        np.testing.assert_allclose(exact.mean, grad, rtol=0, atol=1e-14)
        np.testing.assert_allclose(exact.variance, variance, rtol=0, atol=1e-14)
        assert replay_paft_moments(policy, buffer, 2, 0.75, 2).p_hat_mean == pytest.approx(policy.success, abs=1e-15)


@pytest.mark.parametrize("toy, theta", [(TWO_CORRECT, THETA), (AUTOREGRESSIVE, AR_THETA)])
@pytest.mark.parametrize("q", [0.3, 1.0])
def test_an_empty_buffer_is_on_policy_paft_with_the_binomial_moments(toy, theta, q):
    exact = replay_paft_moments(FinitePolicy.of(toy, theta), [], 2, q, 2)
    mean, variance = analytic_moments(toy, theta, "paft", q, 2, 2)  # tsallis.bias: sympy, binomial sum
    np.testing.assert_allclose(exact.mean, mean, rtol=0, atol=1e-14)
    np.testing.assert_allclose(exact.variance, variance, rtol=0, atol=1e-14)


@pytest.mark.parametrize("q", [0.0, 0.5, 0.75, 1.0])
def test_a_stored_success_lifts_the_amplification_cap(q):
    one = KArmedSoftmax(4, correct=(0,))
    p, m = 0.02, 3
    policy = FinitePolicy.of(one, one.theta_for(p))
    score = policy.scores[0]  # every success is arm 0: ĝ = P̂^(1-q) s(y*)
    for buffered in (True, False):
        mean, variance = single_success_moments(p, m, q, buffered)
        exact = replay_paft_moments(policy, [0] if buffered else [], m, q, 2)
        np.testing.assert_allclose(exact.mean, mean * score, rtol=1e-13, atol=1e-17)
        np.testing.assert_allclose(exact.variance, variance * score**2, rtol=1e-12, atol=1e-15)
    gain_buffered = single_success_moments(p, m, q, True)[0] / p ** (1 - q)  # E[ĝ] / (P^(-q) ∇P)
    gain_on_policy = single_success_moments(p, m, q, False)[0] / p ** (1 - q)
    assert gain_buffered == pytest.approx(1.0, abs=0.005)  # ~ 1: the exact flow's amplification P^(-q)
    assert gain_on_policy == pytest.approx((m * p) ** q, rel=0.07)  # on-policy: capped near (M P)^q
    if q > 0:
        assert gain_on_policy < 0.25


def test_the_enumeration_detects_a_wrong_proposal():
    """Negative controls: the checks above fail for the two tempting shortcuts."""
    policy = FinitePolicy.of(TWO_CORRECT, THETA)
    weights, ids = fresh_unions(policy, [0, 1], 2)
    args = policy.rewards[ids], policy.logp[ids], policy.scores[ids]
    # 1. fresh samples not matched against the buffer (n = 0 for them): E[P̂] = P + 0.27
    unmatched = ids.copy()
    unmatched[:, :2] += 100
    rewards, logp, scores = args
    wrong = union_moments(weights, rewards, logp, unmatched, scores, 2, 0.0, 2)
    assert wrong.p_hat_mean - policy.success > 0.2 and np.abs(wrong.mean - policy.grad).max() > 0.05
    # 2. PAFT's self-normalised P̂ = Σω/Σρ in the attenuation: biased at q = 0
    proposal = replay_proposal(rewards, logp, ids, 2)
    rho = np.exp(proposal.proposal_logw)
    self_normalised = (rho * rewards).sum(1, keepdims=True) / rho.sum(1, keepdims=True)
    biased = union_moments(weights, rewards, logp, ids, scores, 2, 0.0, 2, p_hat=self_normalised)
    assert np.abs(biased.mean - policy.grad).max() > 0.02


@pytest.mark.parametrize("q, scheme", [(0.0, "multinomial"), (0.5, "multinomial"), (0.5, "systematic")])
def test_the_trainer_path_draws_what_the_enumeration_says(q, scheme):
    """tsallis.replay + the registered PAFT (its own resampling) on sampled fresh draws: mean and variance of ĝ."""
    policy = FinitePolicy.of(TWO_CORRECT, THETA)
    buffer, m, k, groups = [0, 1], 2, 2, 40_000
    rng = np.random.default_rng(7)
    fresh = rng.choice(4, size=(groups, m), p=policy.probs)  # (G, M)
    ids = np.hstack([fresh, np.broadcast_to(buffer, (groups, len(buffer)))])  # (G, N)
    rewards = policy.rewards[ids]
    proposal = replay_proposal(rewards, policy.logp[ids], ids, m)
    options = EstimatorOptions(q=q, num_resamples=k, generator=rng, resampling=scheme,
                               proposal_logw=proposal.proposal_logw, p_hat=proposal.p_hat)
    weights = compute_weights("paft", rewards, options)  # (G, N)
    estimates = np.einsum("gn,gnd->gd", weights, policy.scores[ids])  # ĝ per group, (G, D)
    exact = replay_paft_moments(policy, buffer, m, q, k)
    se = np.sqrt(exact.variance / groups)
    assert np.all(np.abs(estimates.mean(0) - exact.mean) < 4.5 * se), (estimates.mean(0), exact.mean, se)
    if scheme == "multinomial":  # the enumeration lists multinomial outcomes; systematic has less variance
        np.testing.assert_allclose(estimates.var(0), exact.variance, rtol=0.06)
    else:
        assert np.all(estimates.var(0) <= exact.variance * 1.03)


@given(st.integers(1, 4), st.integers(0, 4), st.floats(0.0, 1.0), st.data())
def test_finite_for_every_q_and_reward_group(m, b, q, data):
    n = m + b
    rewards = data.draw(arrays(np.float64, (3, n), elements=st.floats(0.0, 1.0)))
    logp = data.draw(arrays(np.float64, (3, n), elements=st.floats(-900.0, 0.0)))
    ids = data.draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    valid = np.hstack([np.ones((3, m), bool), data.draw(arrays(np.bool_, (3, b)))])
    rewards = np.where(valid, rewards, 0.0)
    out = replay_proposal(rewards, logp, ids, m, valid)
    assert np.all(np.isfinite(out.proposal_logw)) and np.all(np.isfinite(out.p_hat))
    assert np.all(out.p_hat >= 0) and np.all(out.p_hat <= n / m * rewards.max(1, keepdims=True) * (1 + 1e-12))
    w = paft(rewards, q, 2, np.random.default_rng(0), out.proposal_logw, p_hat=out.p_hat)
    assert np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(w[~valid] == 0)


def test_errors_name_the_argument():
    r, lp, ids = np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"num_fresh must be an integer in \[1, 3\] \(the rewards' columns\), got 4"):
        replay_proposal(r, lp, ids, 4)
    with pytest.raises(ValueError, match=r"logp must have the rewards' shape \(1, 3\), got \(1, 2\)"):
        replay_proposal(r, lp[:, :2], ids, 2)
    with pytest.raises(ValueError, match="sequence_ids must be integers, got dtype float64"):
        replay_proposal(r, lp, ids.astype(float), 2)
    with pytest.raises(ValueError, match="sequence_ids must be integers, got dtype torch.bool"):
        replay_proposal(r, lp, torch.zeros((1, 3), dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="the 2 fresh columns must all be valid"):
        replay_proposal(r, lp, ids, 2, np.array([[True, False, True]]))
    with pytest.raises(ValueError, match=r"rewards must be 0 in empty slots \(valid False\), got rewards\[0, 2\]=1.0"):
        replay_proposal(np.array([[0.0, 0, 1]]), lp, ids, 2, np.array([[True, True, False]]))
    with pytest.raises(ValueError, match="logp must be finite in the filled slots"):
        replay_proposal(r, np.array([[0.0, -np.inf, 0]]), ids, 2)
    with pytest.raises(ValueError, match=r"rewards must lie in \[0, 1\], got rewards=2.0"):
        replay_proposal(np.array([[0.0, 2.0, 0]]), lp, ids, 2)
    with pytest.raises(ValueError, match="valid must be a boolean mask, got dtype int64"):
        replay_proposal(r, lp, ids, 2, np.ones((1, 3), dtype=np.int64))
