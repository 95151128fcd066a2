"""The Monte Carlo estimator study against the core's analytic bias and variance (tsallis.bias)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sim.estimator_study import ESTIMATOR_SPECS, analytic_moments, estimator_stats, estimator_weights
from sim.policies import KArmedSoftmax, OneLogit
from tsallis.bias import M as M_sym
from tsallis.bias import P as P_sym
from tsallis.bias import grad as g_sym
from tsallis.bias import leading_bias
from tsallis.bias import q as q_sym

Z_TOL = 4.5  # |MC mean - exact| in standard errors, fixed seeds


@pytest.mark.parametrize("key", ["garl_none", "garl_mean", "garl_loo", "paft"])
@pytest.mark.parametrize("p, q, m", [(0.05, 0.75, 8), (0.3, 0.5, 4), (0.01, 1.0, 16)])
def test_one_logit_mc_mean_and_variance_match_exact_sum(key, p, q, m):
    toy = OneLogit()
    theta = toy.theta_for(p).ravel()
    groups = 100_000
    stats = estimator_stats(toy, theta, key, q, m, groups, np.random.default_rng(11))
    mean, var = analytic_moments(toy, theta, key, q, m, method="exact")
    assert abs(stats.mean[0] - mean[0]) <= Z_TOL * np.sqrt(var[0] / groups)
    assert abs(stats.variance[0] - var[0]) <= Z_TOL * stats.total_variance_se


def test_karmed_two_correct_arms_mc_matches_exact_per_coordinate():
    toy = KArmedSoftmax(6, correct=(0, 1))
    theta = np.log([0.04, 0.06, 0.35, 0.25, 0.18, 0.12])
    for key in ("garl_mean", "paft"):
        stats = estimator_stats(toy, theta, key, 0.75, 8, 40_000, np.random.default_rng(3))
        mean, var = analytic_moments(toy, theta, key, 0.75, 8)
        np.testing.assert_array_less(np.abs(stats.mean - mean), Z_TOL * np.sqrt(var / stats.groups))
        assert abs(stats.variance.sum() - var.sum()) <= Z_TOL * stats.total_variance_se


def test_delta_method_bias_is_the_stated_closed_form():
    """GARL without baseline and PAFT: bias ≈ -q(1-q)(1-P) / (2 M P^(q+1)) · ∇P (first order in 1/M)."""
    stated = -q_sym * (1 - q_sym) * (1 - P_sym) / (2 * M_sym * P_sym ** (q_sym + 1)) * g_sym
    for key in ("garl_none", "paft"):
        assert sp.simplify(leading_bias(key) - stated) == 0


@pytest.mark.parametrize("key", ["garl_none", "garl_mean"])
def test_measured_bias_agrees_with_delta_method_when_mp_is_large(key):
    """At M P = 40 the Monte Carlo bias and the delta method agree within 3 SE + 10 % (its O(1/M²) error)."""
    toy, p, q, m = OneLogit(), 0.2, 0.5, 200
    theta = toy.theta_for(p).ravel()
    stats = estimator_stats(toy, theta, key, q, m, 40_000, np.random.default_rng(7))
    delta_mean, _ = analytic_moments(toy, theta, key, q, m, method="delta")
    delta_bias = delta_mean[0] - stats.target[0]
    assert abs(stats.bias[0] - delta_bias) <= 3 * stats.std_error[0] + 0.1 * abs(delta_bias)
    assert delta_bias < 0  # at q = 1/2 both estimate ∇ ln_q P too low at this P (sign of the delta term)


def test_finite_m_cap():
    """While P << 1/M: E[ĝ] ≈ M^q ∇P (GARL, no baseline), not P^(-q) ∇P."""
    toy, p, q, m = OneLogit(), 1e-4, 0.75, 16
    theta = toy.theta_for(p).ravel()
    mean, _ = analytic_moments(toy, theta, "garl_none", q, m)
    grad = toy.grad_success(theta)[0]
    assert mean[0] / grad == pytest.approx(m**q, rel=0.01)
    stats = estimator_stats(toy, theta, "garl_none", q, m, 200_000, np.random.default_rng(0))
    assert stats.mean[0] / grad == pytest.approx(m**q, rel=0.1)
    assert stats.target[0] / grad == pytest.approx(p ** (-q))


def test_grpo_equals_garl_half_on_groups_with_one_success():
    """TRL's GRPO (Bessel std, ε) gives a group with one success exactly GARL's mean-baseline weights at q = 1/2
    (up to ε): std = 1/√M, so A = (r - 1/M) √M and w = A/M = (1/M)^(-1/2) (r - 1/M)/M."""
    m = 8
    rewards = np.zeros((m, m))
    rewards[np.arange(m), np.arange(m)] = 1.0  # one success per group, at every position
    rng = np.random.default_rng(0)
    grpo = estimator_weights("grpo", rewards, 0.0, rng)
    garl = estimator_weights("garl_mean", rewards, 0.5, rng)
    np.testing.assert_allclose(grpo, garl, rtol=1e-3)


def test_per_group_q_is_supported():
    rewards = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    q = np.array([[0.0], [1.0]])
    w = estimator_weights("garl_none", rewards, q, np.random.default_rng(0))
    np.testing.assert_allclose(w, [[0.25, 0, 0, 0], [0.25 / 0.5, 0.25 / 0.5, 0, 0]])


def test_unknown_estimator_is_rejected():
    with pytest.raises(ValueError, match="estimator"):
        estimator_weights("ppo", np.ones((1, 2)), 0.5, np.random.default_rng(0))
    assert set(ESTIMATOR_SPECS) == {"garl_none", "garl_mean", "garl_loo", "paft", "grpo"}
