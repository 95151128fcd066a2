"""Bias and variance of GARL and PAFT: exact binomial sums vs Monte Carlo vs the delta method.

Settled exponent. For GARL without a baseline and for PAFT the delta method gives

    E[ĝ] - P^(-q) ∇P ≈ -q(1-q)(1-P) / (2 M P^(q+1)) · ∇P.

The bias of the amplification factor (the scalar multiplying ∇P, the estimate of P^(-q)) therefore
carries P^-(q+1): O(q/(M P^(q+1))). The bias of the gradient itself carries P^(-q), O(q/(M P^q)),
whenever ∇P = Θ(P), which holds for softmax policies near cold start (∇P = P·E[s | r=1]).
test_bias_exponents measures both slopes from the exact sums.
"""

import numpy as np
import pytest
import sympy as sp

from tsallis import EstimatorOptions, compute_weights
from tsallis.bias import (
    ESTIMATOR_KEYS,
    M,
    P,
    ScoreModel,
    delta_moments,
    exact_moments,
    grad,
    leading_bias,
    q,
)


def test_leading_bias_closed_form():
    expected = -q * (1 - q) * (1 - P) * grad / (2 * M * P ** (q + 1))
    assert sp.simplify(leading_bias("garl_none") - expected) == 0
    assert sp.simplify(leading_bias("paft") - expected) == 0
    # q = 0 with the mean baseline: the familiar -∇P/M of a baseline that includes the sample itself
    assert sp.simplify(leading_bias("garl_mean").subs(q, 0) + grad / M) == 0
    # q = 0 with the leave-one-out baseline: unbiased
    assert sp.simplify(leading_bias("garl_loo").subs(q, 0)) == 0


def _bandit():
    """6-armed softmax, correct arms {0, 2}; score coordinate j = 0, so Var[s | success] > 0."""
    probs = np.exp([-1.0, 0.4, -0.7, 0.9, 0.0, 0.3])
    probs /= probs.sum()
    p = probs[0] + probs[2]
    j = 0
    score = ScoreModel(
        grad_p=probs[j] * (1 - p),
        var_success=(probs[j] / p) * (1 - probs[j] / p),
        var_failure=0.0,
    )
    return probs, p, score


@pytest.mark.parametrize(
    "estimator,name,options",
    [
        ("garl_none", "garl", dict(baseline="none")),
        ("garl_mean", "garl", dict(baseline="mean")),
        ("garl_loo", "garl", dict(baseline="loo")),
        ("paft", "paft", dict(num_resamples=3)),
    ],
)
def test_exact_moments_match_monte_carlo(estimator, name, options):
    """200,000 groups of M = 6 from the bandit, run through the real estimator code; mean within 5 s.e.,
    variance within 3 % (its relative s.e. here is below 0.6 %)."""
    probs, p, score = _bandit()
    rng = np.random.default_rng(11)
    groups, m, q_value = 200_000, 6, 0.75
    arms = rng.choice(len(probs), size=(groups, m), p=probs)  # (G, M)
    rewards = np.isin(arms, [0, 2]).astype(float)
    opts = EstimatorOptions(q=q_value, generator=np.random.default_rng(12), **options)
    weights = compute_weights(name, rewards, opts)
    scores = (arms == 0).astype(float) - probs[0]  # ∂ log p(z) / ∂θ_0, (G, M)
    estimates = np.sum(weights * scores, axis=1)  # (G,)
    exact = exact_moments(estimator, p, q_value, m, score, num_resamples=options.get("num_resamples", 1))
    sem = estimates.std() / np.sqrt(groups)
    assert abs(estimates.mean() - exact.mean) < 5 * sem
    assert estimates.var() == pytest.approx(exact.variance, rel=0.03)


@pytest.mark.parametrize("estimator", ESTIMATOR_KEYS)
def test_delta_method_is_the_large_m_limit(estimator):
    """M · bias converges to the delta-method coefficient with an O(1/M) error (M P >> 1)."""
    p, q_value = 0.3, 0.6
    score = ScoreModel(grad_p=0.2, var_success=0.4, var_failure=0.1)
    errors = []
    for m in (200, 400, 800):
        exact = exact_moments(estimator, p, q_value, m, score, num_resamples=2)
        delta = delta_moments(estimator, p, q_value, m, score, num_resamples=2)
        errors.append(abs(m * exact.bias - m * delta.bias))
        assert exact.variance == pytest.approx(delta.variance, rel=20 / m)
    assert errors[0] < 0.02 * abs(400 * delta.bias) + 1e-12 or estimator == "garl_loo"
    assert errors[2] < errors[1] < errors[0]
    assert errors[1] / errors[0] == pytest.approx(0.5, abs=0.1)  # the error itself shrinks like 1/M


def test_bias_shrinks_like_one_over_m_and_follows_q_one_minus_q():
    """Exact bias of GARL (no baseline) times M is flat in M and proportional to q(1-q)."""
    p = 0.25
    score = ScoreModel.one_logit(p)
    for q_value in (0.25, 0.5, 0.75):
        scaled = [m * exact_moments("garl_none", p, q_value, m, score).bias for m in (400, 800, 1600)]
        predicted = -q_value * (1 - q_value) * (1 - p) * score.grad_p / (2 * p ** (q_value + 1))
        for value in scaled:
            assert value == pytest.approx(predicted, rel=0.02)
    # zero at the poles: q = 0 is unbiased, q = 1 only keeps the exponentially small (1-P)^M term
    assert exact_moments("garl_none", p, 0.0, 400, score).bias == pytest.approx(0.0, abs=1e-15)
    assert abs(exact_moments("garl_none", p, 1.0, 400, score).bias) == pytest.approx((1 - p) ** 400 / p * score.grad_p, rel=1e-6)


@pytest.mark.parametrize("q_value", [0.25, 0.5, 0.75])
def test_bias_exponents(q_value):
    """Log-log slope in P of the exact bias (M = 20,000, P in [0.02, 0.08], M P >= 400).

    Amplification factor (bias / ∇P): slope -(q+1) within 0.05. One-logit gradient (∇P = P(1-P)):
    slope -q within 0.1 (the (1-P)² factor bends it slightly)."""
    ps = np.geomspace(0.02, 0.08, 5)
    m = 20_000
    factor, gradient = [], []
    for p in ps:
        score = ScoreModel.one_logit(p)
        bias = exact_moments("garl_none", p, q_value, m, score).bias
        factor.append(abs(bias / score.grad_p))
        gradient.append(abs(bias))
    slope_factor = np.polyfit(np.log(ps), np.log(factor), 1)[0]
    slope_gradient = np.polyfit(np.log(ps), np.log(gradient), 1)[0]
    assert slope_factor == pytest.approx(-(q_value + 1), abs=0.05)
    assert slope_gradient == pytest.approx(-q_value, abs=0.1)


@pytest.mark.parametrize("q_value", [0.25, 0.75, 1.0])
def test_finite_m_caps_the_amplification_at_m_to_the_q(q_value):
    """While P << 1/M a group has at most one success, P̂ = 1/M, and E[ĝ_q] / E[ĝ_0] -> M^q, not P^(-q)."""
    p, m = 1e-7, 16
    score = ScoreModel.one_logit(p)
    ratio = exact_moments("garl_none", p, q_value, m, score).mean / exact_moments("garl_none", p, 0.0, m, score).mean
    assert ratio == pytest.approx(m**q_value, rel=1e-5)
    assert ratio < 0.1 * p ** (-q_value)  # far below the exact-flow amplification


def test_bias_argument_errors():
    with pytest.raises(ValueError, match="estimator must be one of .* got estimator='grpo'"):
        exact_moments("grpo", 0.5, 0.5, 4)
    with pytest.raises(ValueError, match="P must lie in \\(0, 1\\), got P=0.0"):
        exact_moments("paft", 0.0, 0.5, 4)
    with pytest.raises(ValueError, match="M must be an integer >= 1, got M=0"):
        delta_moments("paft", 0.5, 0.5, 0)
    with pytest.raises(ValueError, match="num_resamples must be an integer >= 1, got num_resamples=-1"):
        exact_moments("paft", 0.5, 0.5, 4, num_resamples=-1)


def test_theorem_6_1_with_bernoulli_weights_is_the_sampled_answer_bias():
    """Symbolically: Var(w) = P(1-P), Cov(w f, w) = (1-P)∇P turn Theorem 6.1's term into leading_bias("garl_none")."""
    import sympy as sp

    from tsallis.bias import M, P, grad, leading_bias, q

    theorem = q / (M * P ** (q + 1)) * ((q + 1) / 2 * P * (1 - P) * grad / P - (1 - P) * grad)
    assert sp.simplify(theorem - leading_bias("garl_none")) == 0


def test_likelihood_leading_bias_evaluates_theorem_6_1():
    from tsallis.bias import likelihood_leading_bias

    got = likelihood_leading_bias(0.5, 10, 0.25, np.array([0.1, -0.2]), 0.04, np.array([0.01, 0.0]))
    expected = 0.5 / (10 * 0.25**1.5) * (0.75 * 0.04 * np.array([0.1, -0.2]) / 0.25 - np.array([0.01, 0.0]))
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    assert np.all(likelihood_leading_bias(0.0, 10, 0.25, np.array([0.1]), 0.04, np.array([0.01])) == 0)
