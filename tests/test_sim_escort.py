"""The escort minimiser (Theorem 3.1) against sympy's Lagrange solution, and the two numerical optimisers."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sim.escort import CategoricalScore, constrained_minimiser, escort, expected_score, flow_minimiser


def lagrange_minimiser(alpha: tuple[sp.Rational, ...], q: sp.Rational) -> list[float]:
    """Stationary point of Σ α_j ln_q θ_j - λ(Σ θ_j - 1), solved by sympy (θ_j, λ > 0)."""
    thetas = sp.symbols(f"theta0:{len(alpha)}", positive=True)
    lam = sp.Symbol("lam", positive=True)
    score = sum(a * (sp.log(t) if q == 1 else (t ** (1 - q) - 1) / (1 - q)) for a, t in zip(alpha, thetas))
    lagrangian = score - lam * (sum(thetas) - 1)
    solutions = sp.solve([sp.diff(lagrangian, v) for v in (*thetas, lam)], [*thetas, lam], dict=True)
    assert len(solutions) == 1  # the stationary point is unique (strict concavity)
    return [float(solutions[0][t]) for t in thetas]


@pytest.mark.parametrize("q", [sp.Rational(1, 3), sp.Rational(1, 2), sp.Rational(2, 3), sp.Integer(1)])
@pytest.mark.parametrize("alpha", [(sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 6)),
                                   (sp.Rational(3, 5), sp.Rational(2, 5))])
def test_escort_is_the_lagrange_solution(alpha, q):
    expected = lagrange_minimiser(alpha, q)
    np.testing.assert_allclose(escort(np.array(alpha, dtype=float), float(q)), expected, rtol=1e-12)


@pytest.mark.parametrize("q", [0.3, 0.6, 1.0])
def test_optimisers_find_the_escort(q):
    alpha = np.random.default_rng(3).dirichlet(np.ones(5))
    target = escort(alpha, q)
    np.testing.assert_allclose(flow_minimiser(alpha, q, 1e7), target, atol=1e-9)
    np.testing.assert_allclose(constrained_minimiser(alpha, q), target, atol=1e-7)


def test_flow_is_the_gradient_of_the_score():
    """CategoricalScore.flow = ∇_w S_q(softmax(w)), against central finite differences."""
    alpha, q, w = np.array([0.4, 0.35, 0.25]), 0.4, np.array([0.3, -0.2, 0.5])
    model, h = CategoricalScore(alpha), 1e-6
    numeric = [(expected_score(model.success_prob(w + h * e), alpha, q)
                - expected_score(model.success_prob(w - h * e), alpha, q)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(model.flow(w, q), numeric, atol=1e-9)


def test_escort_limits():
    alpha = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(escort(alpha, 1.0), alpha, rtol=1e-15)
    assert escort(alpha, 0.02)[0] > 1 - 1e-10  # q -> 0: the mode
    with pytest.raises(ValueError):
        escort(alpha, 0.0)
