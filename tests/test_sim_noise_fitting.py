"""The two-label noise model (Eq. 16, Proposition C.2): rest point, rate and time to contamination."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from sim.noise_fitting import (
    TwoLabelNoise,
    contamination_path,
    contamination_time,
    crossing_times,
    eq17_contamination,
    escort_contamination,
    leading_contamination_time,
)


@pytest.mark.parametrize("q", [sp.Rational(1, 2), sp.Integer(1)])
@pytest.mark.parametrize("eps", [sp.Rational(1, 10), sp.Rational(1, 4)])
def test_escort_rest_point_solves_the_stationarity_equation(q, eps):
    """J'(p) = 0, i.e. ε p̃^(-q) = (1-ε)(1-p̃)^(-q), solved by sympy, is the escort rest point."""
    x = sp.Symbol("x", positive=True)
    roots = [r for r in sp.solve(sp.Eq(eps * x ** (-q), (1 - eps) * (1 - x) ** (-q)), x) if 0 < r < 1]
    assert len(roots) == 1
    assert escort_contamination(float(eps), float(q)) == pytest.approx(float(roots[0]), rel=1e-12)


@pytest.mark.parametrize("parameterisation", ["direct", "logit"])
@pytest.mark.parametrize("q", [0.3, 1.0])
def test_flow_settles_at_the_escort_from_below_and_above(parameterisation, q):
    model = TwoLabelNoise(0.2, parameterisation)
    rest = escort_contamination(0.2, q)
    for start in (rest / 100, min(0.9, 10 * rest)):
        settled = contamination_path(model, q, start, np.array([0.0, 1e5]))[-1]
        assert settled == pytest.approx(rest, rel=1e-7)


def test_eq17_is_the_small_flip_rate_limit():
    for q in (0.5, 1.0):
        ratios = [escort_contamination(eps, q) / eq17_contamination(eps, q) for eps in (1e-2, 1e-4, 1e-6)]
        assert abs(ratios[-1] - 1) < 1e-5 and abs(ratios[0] - 1) > abs(ratios[1] - 1) > abs(ratios[2] - 1)


@pytest.mark.parametrize("parameterisation", ["direct", "logit"])
def test_rate_is_eq16_along_the_path(parameterisation):
    """Central differences of the ODE path equal Eq. 16's dp̃/dt."""
    model, q = TwoLabelNoise(0.1, parameterisation), 0.5
    times = np.linspace(0.0, 1e-3 if parameterisation == "direct" else 50.0, 4001)
    path = contamination_path(model, q, 1e-3, times)
    numeric = np.gradient(path, times)[1:-1]
    np.testing.assert_allclose(numeric, model.contamination_rate(path, q)[1:-1], rtol=1e-4)


def test_time_to_eta_flow_against_integral_and_leading_law():
    model, eps, q = TwoLabelNoise(0.1, "direct"), 0.1, 0.5
    etas = np.array([1e-9, 1e-7])
    lead = leading_contamination_time(etas, eps, q)
    times = np.logspace(np.log10(lead[0] / 10), np.log10(lead[-1] * 10), 1500)
    measured = crossing_times(contamination_path(model, q, 1e-20, times), times, etas)
    exact = np.array([contamination_time(e, eps, q) for e in etas])
    np.testing.assert_allclose(measured, exact, rtol=1e-5)
    np.testing.assert_allclose(exact / lead, 1.0, rtol=5e-3)  # Eq. 18 with constant 1 as η/p̃* → 0 (p̃* = 0.012)


@pytest.mark.parametrize("parameterisation", ["direct", "logit"])
def test_q_zero_lowers_contamination_everywhere(parameterisation):
    grid = np.linspace(0.001, 0.999, 99)
    assert np.all(TwoLabelNoise(0.3, parameterisation).contamination_rate(grid, 0.0) < 0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        TwoLabelNoise(0.5)
    with pytest.raises(ValueError):
        TwoLabelNoise(0.1, "tanh")
    with pytest.raises(ValueError):
        contamination_time(0.5, 0.1, 1.0)  # above the rest point p̃* = 0.1
