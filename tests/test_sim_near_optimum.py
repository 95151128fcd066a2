"""Near-optimum convergence time (Proposition C.1) on the one-logit toy: quadrature, sympy and the ODE agree."""

from __future__ import annotations

import pytest

from sim.escape import closed_form_escape_time
from sim.near_optimum import measure_near_optimum_time, one_logit_time, ratio_bound
from sim.policies import OneLogit


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
def test_quadrature_matches_sympy_closed_form(q):
    """∫_{1-ε0}^{1-ε1} P^(q-2)(1-P)^(-2) dP from sympy's antiderivative (sim.escape) equals the quadrature."""
    eps0, eps1 = 0.05, 0.005
    closed = closed_form_escape_time(1.0 - eps0, q, target=1.0 - eps1)
    assert one_logit_time(eps0, eps1, q) == pytest.approx(float(closed), rel=1e-10)


@pytest.mark.parametrize("q", [0.0, 0.75])
def test_ode_matches_quadrature(q):
    toy, eps0, eps1 = OneLogit(), 0.02, 0.002
    measured = measure_near_optimum_time(toy, toy.theta_for(1.0 - eps0), q, eps1)
    assert measured == pytest.approx(one_logit_time(eps0, eps1, q), rel=1e-8)


@pytest.mark.parametrize("eps0", [0.2, 0.01, 1e-4])
def test_ratio_lies_within_the_bound(eps0):
    """1 ≤ T_q/T_q' ≤ (1-ε0)^(-(q'-q)) for q < q' (Proposition C.1's proof)."""
    for q, q_prime in [(0.0, 1.0), (0.25, 0.5), (0.5, 1.0)]:
        ratio = one_logit_time(eps0, eps0 / 10, q) / one_logit_time(eps0, eps0 / 10, q_prime)
        assert 1.0 <= ratio <= ratio_bound(eps0, q, q_prime)


def test_rejects_reversed_limits():
    with pytest.raises(ValueError):
        one_logit_time(0.01, 0.1, 0.5)
