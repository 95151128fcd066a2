"""The latent-rationale toy and the exact pool moments of the paper's estimators (Theorem 6.1, Propositions 6.2,
D.2-D.4), checked against finite differences, closed forms and the core's own Monte Carlo."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from sim.latent import LatentRationale
from sim.pool_moments import (
    enumerate_pools,
    likelihood_estimates,
    moments,
    paft_moments,
    sampled_answer_moments,
    weight_moments,
)
from tsallis import EstimatorOptions, compute_likelihood_weights
from tsallis.bias import likelihood_leading_bias

TOY = LatentRationale(3)
PSI = TOY.parameters((0.5, 0.3, 0.2), (0.1, 0.4, 0.8))

toy_parameters = st.tuples(
    st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3), st.lists(st.floats(0.02, 0.98), min_size=3, max_size=3))


def _psi(params) -> np.ndarray:
    prior, likelihood = np.array(params[0]), np.array(params[1])
    return TOY.parameters(prior / prior.sum(), likelihood)


def test_gradient_and_flow_are_exact():
    np.testing.assert_allclose(TOY.grad_success(PSI), approx_fprime(PSI, TOY.success_prob, 1e-7), atol=1e-7)
    assert TOY.success_prob(PSI) == pytest.approx(0.5 * 0.1 + 0.3 * 0.4 + 0.2 * 0.8, rel=1e-15)
    np.testing.assert_allclose(TOY.flow(PSI, 0.5), TOY.success_prob(PSI) ** -0.5 * TOY.grad_success(PSI), rtol=1e-15)
    batch = np.stack([PSI, 2 * PSI])
    np.testing.assert_allclose(TOY.grad_success(batch)[1], TOY.grad_success(2 * PSI), rtol=1e-15)


def test_log_answer_likelihood_survives_where_w_underflows():
    psi = TOY.parameters((0.5, 0.3, 0.2), (0.5, 0.5, 0.5))
    psi[3:] = -800.0
    assert np.all(TOY.answer_likelihood(psi) == 0) and np.all(TOY.log_answer_likelihood(psi) == -800.0)


def test_sampling_frequencies():
    rng = np.random.default_rng(0)
    z = TOY.sample_rationales(np.broadcast_to(PSI, (4, 6)), rng, 50_000)  # (4, 50000)
    freq = np.bincount(z.ravel(), minlength=3) / z.size
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=5 * math.sqrt(0.25 / z.size))
    r = TOY.sample_answers(PSI, z[0], rng)
    for k, w in enumerate((0.1, 0.4, 0.8)):
        hits = r[z[0] == k]
        assert abs(hits.mean() - w) < 5 * math.sqrt(w * (1 - w) / hits.size)


def test_bad_k_is_refused():
    with pytest.raises(ValueError, match="k must be an integer >= 1, got k=0"):
        LatentRationale(0)


@pytest.mark.parametrize("m, outcomes", [(1, 3), (5, 3), (6, 6)])
def test_pools_are_every_multiset_with_multinomial_probabilities(m, outcomes):
    probs = np.random.default_rng(m).dirichlet(np.ones(outcomes))
    pools = enumerate_pools(probs, m)
    assert len(pools.prob) == math.comb(m + outcomes - 1, outcomes - 1)
    assert pools.prob.sum() == pytest.approx(1.0, abs=1e-14)
    counts = np.stack([np.sum(pools.outcome == l, axis=1) for l in range(outcomes)], axis=1)
    np.testing.assert_allclose(pools.prob @ counts, m * probs, rtol=1e-12)  # E[n_l] = M ρ_l


@settings(max_examples=25, deadline=None)
@given(toy_parameters, st.integers(1, 6))
def test_q0_is_unbiased_for_every_m(params, m):
    psi = _psi(params)
    pools = enumerate_pools(TOY.prior(psi), m)
    for baseline in ("none", "loo"):
        mean = moments(likelihood_estimates(TOY, psi, pools, "garl", 0.0, baseline=baseline), pools.prob).mean
        np.testing.assert_allclose(mean, TOY.grad_success(psi), atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(toy_parameters, st.sampled_from([0.25, 0.5, 0.75, 1.0]), st.integers(2, 7))
def test_loo_and_paft_keep_the_plug_in_expectation(params, q, m):
    """Propositions 6.2 and D.3 exactly; D.4 (Var(PAFT) >= Var(GARL)) by the law of total variance."""
    psi = _psi(params)
    pools = enumerate_pools(TOY.prior(psi), m)
    plug_in = moments(likelihood_estimates(TOY, psi, pools, "garl", q, baseline="none", normalize="none"), pools.prob)
    loo = moments(likelihood_estimates(TOY, psi, pools, "garl", q, baseline="loo", normalize="none"), pools.prob)
    paft = paft_moments(TOY, psi, pools, q, num_resamples=m)
    np.testing.assert_allclose(loo.mean, plug_in.mean, atol=1e-14)
    np.testing.assert_allclose(paft.mean, plug_in.mean, atol=1e-14)
    assert paft.variance >= plug_in.variance


@pytest.mark.parametrize("q", [0.25, 0.75, 1.0])
def test_theorem_6_1_leading_term_at_large_m(q):
    p, grad = float(TOY.success_prob(PSI)), TOY.grad_success(PSI)
    var_w, cov = weight_moments(TOY, PSI)
    deviations = []
    for m in (24, 48):
        pools = enumerate_pools(TOY.prior(PSI), m)
        mean = moments(likelihood_estimates(TOY, PSI, pools, "garl", q, baseline="none", normalize="none"), pools.prob).mean
        lead = likelihood_leading_bias(q, m, p, grad, var_w, cov)
        deviations.append(np.linalg.norm(mean - p**-q * grad - lead) / np.linalg.norm(lead))
    assert deviations[1] < 0.05 and deviations[0] / deviations[1] == pytest.approx(2.0, abs=0.25)


def test_weight_moments_by_hand():
    var_w, cov = weight_moments(TOY, PSI)
    assert var_w == pytest.approx(0.5 * 0.01 + 0.3 * 0.16 + 0.2 * 0.64 - 0.33**2, rel=1e-14)
    f = TOY.score_rationale(PSI) + TOY.score_answer(PSI)
    w = np.array([0.1, 0.4, 0.8])
    np.testing.assert_allclose(cov, (np.array([0.5, 0.3, 0.2]) * w**2) @ f - 0.33 * TOY.grad_success(PSI), atol=1e-15)


def test_paft_exact_moments_match_the_cores_resampling():
    """Monte Carlo with the core's PAFT (20 000 pools × resampling, seed 0): mean and total variance within 4.5 SE."""
    q, m, groups = 0.5, 3, 20_000
    rng = np.random.default_rng(0)
    exact = paft_moments(TOY, PSI, enumerate_pools(TOY.prior(PSI), m), q, num_resamples=m)
    z = TOY.sample_rationales(np.broadcast_to(PSI, (groups, 6)), rng, m)
    coef, answer = compute_likelihood_weights("paft", TOY.log_answer_likelihood(PSI)[z],
                                              EstimatorOptions(q=q, normalize="none", generator=rng))
    joint = TOY.score_rationale(PSI) + TOY.score_answer(PSI)
    sample = np.einsum("nm,nmd->nd", coef, joint[z])
    se = sample.std(axis=0) / math.sqrt(groups)
    assert np.all(np.abs(sample.mean(axis=0) - exact.mean) <= 4.5 * se + 1e-12)
    spread = np.sum((sample - exact.mean) ** 2, axis=1)
    assert abs(spread.mean() - exact.variance) <= 4.5 * spread.std() / math.sqrt(groups)


def test_sampled_answer_at_q0_has_the_likelihood_forms_mean_and_more_variance():
    """Rao–Blackwell at q = 0: both unbiased for ∇P; the likelihood form is the conditional expectation."""
    m = 4
    pools = enumerate_pools(TOY.prior(PSI), m)
    likelihood = moments(likelihood_estimates(TOY, PSI, pools, "reinforce", 0.0), pools.prob)
    sampled = sampled_answer_moments(TOY, PSI, m, "reinforce", 0.0)
    np.testing.assert_allclose(sampled.mean, TOY.grad_success(PSI), atol=1e-14)
    np.testing.assert_allclose(likelihood.mean, TOY.grad_success(PSI), atol=1e-14)
    assert sampled.variance > likelihood.variance
