"""Stochastic training of the latent-rationale toy: one step by hand, expectations by exact enumeration of the
pools (no M^q cap with spread likelihood weights, the cap with near-0/1 ones), reproducibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit

from sim.latent import LatentRationale
from sim.latent_training import (
    LatentTrainingOptions,
    amplified_advantage,
    garl_options,
    likelihood_step,
    sampled_step,
    train_latent,
)

TOY = LatentRationale(4)
SPREAD = LatentRationale.parameters(np.full(4, 0.25), 1e-3 * np.array([0.6, 0.8, 1.2, 1.4]))  # P = 1e-3
NEAR01 = LatentRationale.parameters(np.array([1e-3] + [(1 - 1e-3) / 3] * 3), np.array([1 - 1e-6] + [1e-9] * 3))


def _score_rationale(pi: np.ndarray, z: int) -> np.ndarray:
    """∇ log π_z = (e_z − π, 0) for K = 2."""
    return np.concatenate([np.eye(2)[z] - pi, np.zeros(2)])


@pytest.mark.parametrize("q, normalize, pathwise", [(0.5, "none", True), (0.75, "m_q", True), (0.25, "none", False)])
def test_one_likelihood_step_equals_the_hand_computed_update(q, normalize, pathwise):
    """M = 2 rationales (0, 1): c_m = w_m/w̄^q − w_other^(1−q), score = c/(M N_q), answer = (w_m/w̄^q)/(M N_q);
    train_latent's first step lands on ψ0 + η (score part + answer part) and records the monitor max c_m/M^q."""
    toy, m, lr = LatentRationale(2), 2, 0.3
    psi0 = np.array([0.2, -0.4, -1.0, 0.5])
    rng_seed = 7
    z = toy.sample_rationales(psi0[None], np.random.default_rng(rng_seed), m)[0]
    pi, w = toy.prior(psi0), expit(psi0[2:])
    wz = w[z]
    mean = wz.mean()
    n_q = m**q if normalize == "m_q" else 1.0
    c = wz / mean**q - wz[::-1] ** (1 - q)
    answer = (wz / mean**q) / (m * n_q) if pathwise else np.zeros(2)
    direction = sum(c[i] / (m * n_q) * _score_rationale(pi, z[i])
                    + answer[i] * np.concatenate([np.zeros(2), (1 - w[z[i]]) * np.eye(2)[z[i]]]) for i in range(m))
    options = LatentTrainingOptions(m=m, normalize=normalize, pathwise=pathwise)
    got, score = likelihood_step(toy, psi0[None], z[None], garl_options(np.array([q]), options))
    np.testing.assert_allclose(got[0], direction, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(amplified_advantage(score, np.array([q]), options), [np.max(c) / m**q], rtol=1e-12)
    res = train_latent(toy, psi0[None], q, lr, 1, np.random.default_rng(rng_seed), options)
    np.testing.assert_allclose(res.p[1], toy.success_prob(psi0 + lr * direction)[None], rtol=1e-12)
    np.testing.assert_allclose(res.monitor[1], [np.max(c) / m**q], rtol=1e-12)


def test_one_sampled_step_equals_the_hand_computed_update():
    """w = (1, 0) to double precision, so the sampled answers are (right, wrong): GARL-loo weights
    ω = P̂^(−q)(r_m − r_other)/M on ∇log π_z + ∇log p(ŷ | z), with (0, (1−w_z) e_z) for a right answer and
    (0, −w_z e_z) for a wrong one."""
    toy, q = LatentRationale(2), 0.5
    psi = np.array([0.3, -0.2, 40.0, -40.0])
    z = np.array([[0, 1]])
    pi, w = toy.prior(psi), expit(psi[2:])
    omega = 0.5**-q * np.array([1.0, -1.0]) / 2
    direction = (omega[0] * (_score_rationale(pi, 0) + np.array([0, 0, 1 - w[0], 0]))
                 + omega[1] * (_score_rationale(pi, 1) + np.array([0, 0, 0, -w[1]])))
    options = LatentTrainingOptions(form="sampled", m=2, sampled_estimator="garl_loo")
    got, weights = sampled_step(toy, psi[None], z, np.array([q]), options, np.random.default_rng(0))
    np.testing.assert_allclose(weights[0], omega, rtol=1e-12)
    np.testing.assert_allclose(got[0], direction, rtol=1e-12, atol=1e-15)


def _expected_direction(psi: np.ndarray, q: float, m: int, options: LatentTrainingOptions) -> np.ndarray:
    """E[likelihood_step] over every pool z ∈ {0..K-1}^M, each with probability Π_m π_{z_m} (exact)."""
    pools = np.array(list(itertools.product(range(TOY.k), repeat=m)))  # (K^M, M)
    probability = np.prod(TOY.prior(psi)[pools], axis=1)
    psis = np.repeat(psi[None], len(pools), axis=0)
    direction, _ = likelihood_step(TOY, psis, pools, garl_options(np.full(len(pools), q), options))
    return probability @ direction


@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("baseline", ["loo", "none"])
def test_q0_expected_likelihood_update_is_grad_p(m, baseline):
    """At q = 0 likelihood GARL is Rao–Blackwellized REINFORCE/RLOO: E[ĝ] = ∇P exactly, for every M."""
    psi = np.array([0.3, -1.0, 0.5, 0.1, -2.0, 0.4, 1.5, -0.7])
    options = LatentTrainingOptions(m=m, baseline=baseline, normalize="none")
    np.testing.assert_allclose(_expected_direction(psi, 0.0, m, options), TOY.grad_success(psi), rtol=1e-10,
                               atol=1e-14)


def _amplification(psi: np.ndarray, q: float, m: int, pathwise: bool) -> float:
    """The expected update's component along ∇P in units of ∇P: the effective P^(−q) of the mean update."""
    g = TOY.grad_success(psi)
    expected = _expected_direction(psi, q, m, LatentTrainingOptions(m=m, normalize="none", pathwise=pathwise))
    return float(expected @ g / (g @ g))


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("q", [0.5, 1.0])
def test_spread_weights_amplify_like_the_flow_not_the_cap(m, q):
    """P = 1e-3 with spread w: the mean update amplifies ∇P by ≈ P^(−q) (32 or 1000), not by M^q (<= 3).

    The shortfall is Theorem 6.1's ratio bias, relative O(q Var(w)/(M P²)) = O(0.1) for these w (Var(w)/P² = 0.1)."""
    p = TOY.success_prob(SPREAD)
    amp = _amplification(SPREAD, q, m, pathwise=True)
    assert 0.9 * p**-q <= amp <= p**-q
    assert amp > 10 * m**q


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("q", [0.5, 1.0])
def test_near01_weights_are_capped_at_m_to_the_q(m, q):
    """One good rationale (w ≈ 1, prior 1e-3), the rest w = 1e-9: w̄ = 1/M on the pools that draw it, so the mean
    rationale update amplifies ∇P by M^q − 1[q = 1] (c_good = M^q − (w̄_¬m)^(1−q)), not by
    P^(−q) = 1e3^q."""
    amp = _amplification(NEAR01, q, m, pathwise=False)
    assert amp == pytest.approx(m**q - (q == 1.0), rel=2e-3)


def test_training_is_reproducible_for_a_seed():
    psi0 = np.repeat(SPREAD[None], 6, axis=0)
    for options in (LatentTrainingOptions(normalize="none"), LatentTrainingOptions(form="sampled")):
        a, b, c = (train_latent(TOY, psi0, 0.5, 2.0, 40, np.random.default_rng(seed), options) for seed in (3, 3, 4))
        np.testing.assert_array_equal(a.p, b.p)
        np.testing.assert_array_equal(a.monitor, b.monitor)
        assert not np.array_equal(a.p, c.p)


def test_verifier_only_grpo_sees_nothing_where_likelihood_garl_learns():
    """w = 1e-9 everywhere: no sampled answer is ever right, so GRPO never moves (every step silent), while
    likelihood GARL has a gradient in every pool and raises P (at q = 1 each pool moves Σ_m φ_{z_m} by η)."""
    psi0 = np.repeat(LatentRationale.parameters(np.full(4, 0.25), np.full(4, 1e-9))[None], 4, axis=0)
    grpo = train_latent(TOY, psi0, 0.5, 1.0, 30, np.random.default_rng(0),
                        LatentTrainingOptions(form="sampled", sampled_estimator="grpo"))
    np.testing.assert_array_equal(grpo.p[-1], grpo.p[0])
    np.testing.assert_array_equal(grpo.silent_steps, 30)
    garl = train_latent(TOY, psi0, 1.0, 1.0, 30, np.random.default_rng(0), LatentTrainingOptions(normalize="none"))
    assert np.all(garl.p[-1] > 10 * garl.p[0]) and np.all(garl.silent_steps == 0)


def test_escape_is_recorded_and_runs_stop():
    res = train_latent(TOY, np.repeat(SPREAD[None], 3, axis=0), 1.0, 0.1, 2000, np.random.default_rng(0),
                       LatentTrainingOptions(normalize="none"))
    assert res.status == 1 and res.frac_escaped == 1.0 and np.all(res.p[-1] >= 0.5)
    np.testing.assert_allclose(res.escape_time, res.escape_step * 0.1)
    stalled = train_latent(TOY, np.repeat(SPREAD[None], 3, axis=0), 1.0, 1e-6, 3, np.random.default_rng(0),
                           LatentTrainingOptions(normalize="none"))
    assert stalled.status == 0 and np.all(np.isnan(stalled.escape_step)) and "budget" in stalled.message


@pytest.mark.parametrize("field, value", [("form", "teacher"), ("m", 0), ("sampled_estimator", "ppo"),
                                          ("normalize", "mq"), ("target", 0.0), ("record_every", 0)])
def test_options_refuse_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        LatentTrainingOptions(**{field: value})
