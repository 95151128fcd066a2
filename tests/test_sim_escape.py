"""Gradient flow and escape times: ODE vs the sympy closed form, asymptotics, slopes, solver results."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sim.escape import (
    asymptotic_escape_time,
    closed_form_escape_time,
    escape_time_expr,
    fit_slope,
    karmed_escape_time,
    measure_escape_time,
    p0_sym,
    predicted_slope,
)
from sim.flow import gradient_steps, integrate_flow
from sim.policies import KArmedSoftmax, OneLogit

# Stated tolerances: the ODE (LSODA, rtol 1e-10) reproduces the closed form to a relative error of 1e-6
# (measured: ~2e-8); fitted slopes over p0 in [1e-10, 1e-6] lie within 0.02 of -(1-q) (measured: <= 0.017).
REL_TOL = 1e-6
SLOPE_TOL = 0.02


@pytest.mark.parametrize("q", [0.0, 0.5, 0.75, 1.0])
def test_ode_escape_time_equals_closed_form(q):
    p0s = np.array([1e-1, 1e-3, 1e-6])
    measured = np.array([measure_escape_time(OneLogit(), p0, q) for p0 in p0s])
    np.testing.assert_allclose(measured, closed_form_escape_time(p0s, q), rtol=REL_TOL)


@pytest.mark.parametrize("q", [0.0, 1.0])
def test_karmed_escape_time_is_k_minus_one_over_k_of_one_logit(q):
    toy = KArmedSoftmax(num_arms=4)
    for p0 in (1e-2, 1e-5):
        assert measure_escape_time(toy, p0, q) == pytest.approx(float(karmed_escape_time(p0, q, 4)), rel=REL_TOL)


def test_closed_form_hand_values():
    """q = 1: T = ∫ dP/(P(1-P)^2) = [ln(P/(1-P)) + 1/(1-P)]; q = 0: T = [-1/P + 2 ln(P/(1-P)) + 1/(1-P)]."""
    p0 = 0.1
    q1 = (np.log(1.0) + 2.0) - (np.log(p0 / (1 - p0)) + 1 / (1 - p0))
    q0 = (-2.0 + 0.0 + 2.0) - (-1 / p0 + 2 * np.log(p0 / (1 - p0)) + 1 / (1 - p0))
    assert closed_form_escape_time(p0, 1.0) == pytest.approx(q1, rel=1e-12)
    assert closed_form_escape_time(p0, 0.0) == pytest.approx(q0, rel=1e-12)


def test_closed_form_derivative_is_the_flow_rate():
    """dT/dp0 = -1/(dP/dt) = -1/(p0^(2-q)(1-p0)^2): the sympy integral differentiates back to the ODE."""
    for q in (0.0, 0.5):
        derivative = sp.lambdify(p0_sym, sp.diff(escape_time_expr(q), p0_sym), "numpy")
        for p0 in (0.01, 0.3):
            assert complex(derivative(complex(p0))).real == pytest.approx(-1 / (p0 ** (2 - q) * (1 - p0) ** 2), rel=1e-10)


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
def test_asymptotics_is_leading_order(q):
    """T / asymptotic -> 1 as p0 -> 0 (slowly, logarithmically, at q = 1)."""
    ratios = [float(closed_form_escape_time(p0, q) / asymptotic_escape_time(p0, q)) for p0 in (1e-4, 1e-8, 1e-12)]
    errors = np.abs(np.array(ratios) - 1)
    assert np.all(np.diff(errors) < 0)
    assert errors[-1] < (0.2 if q == 1 else 1e-4)


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_fitted_slope_matches_prediction(q):
    p0s = np.logspace(-6, -10, 3)
    times = np.array([measure_escape_time(OneLogit(), p0, q) for p0 in p0s])
    fit = fit_slope(p0s, times, q)
    assert fit.predicted == (1.0 if q == 1 else predicted_slope(q))
    assert abs(fit.error) <= SLOPE_TOL


def test_flow_result_reports_status_like_scipy():
    toy = OneLogit()
    reached = integrate_flow(toy, toy.theta_for(0.1), 0.5, t_max=100.0)
    assert reached.status == 1 and reached.success and reached.reached_target
    assert reached.p[-1] == pytest.approx(0.5, abs=1e-9)
    short = integrate_flow(toy, toy.theta_for(0.1), 0.5, t_max=0.1)
    assert short.status == 0 and short.success and not short.reached_target
    assert np.isnan(short.escape_time) and "t_max" in short.message
    with pytest.raises(ValueError, match="method"):
        integrate_flow(toy, toy.theta_for(0.1), 0.5, t_max=1.0, method="euler")
    with pytest.raises(ValueError, match="t_max"):
        integrate_flow(toy, toy.theta_for(0.1), 0.5, t_max=0.0)


def test_gradient_steps_converge_to_the_flow_at_first_order():
    toy, q, t_end = OneLogit(), 0.5, 20.0
    errors = []
    for lr in (1.0, 0.5, 0.25):
        n = int(t_end / lr)
        steps = toy.success_prob(gradient_steps(toy, toy.theta_for(0.02), q, lr, n))
        ref = integrate_flow(toy, toy.theta_for(0.02), q, t_max=lr * n, target=None, t_eval=lr * np.arange(n + 1))
        errors.append(np.max(np.abs(steps - ref.p)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.15)  # halving η halves the error: Euler is O(η)


def test_closed_form_rejects_p0_outside_range():
    with pytest.raises(ValueError, match="p0"):
        closed_form_escape_time(0.7, 0.5)
