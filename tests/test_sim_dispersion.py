"""The dispersion penalty (Proposition B.1): Jensen's bound over random P vectors, and its second-order excess."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.dispersion import dispersion_excess, second_order_excess, two_point_relative_error, variance_at_mean

probabilities = arrays(np.float64, st.integers(1, 40), elements=st.floats(1e-6, 1.0))
qs = st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(p=probabilities, q=qs)
def test_excess_is_nonnegative(p, q):
    """J_Q ≥ -ln_q(P̄) (up to rounding, scaled by the size of the terms)."""
    assert dispersion_excess(p, q) >= -1e-12 * max(1.0, float(np.max(p ** -q)))


@settings(max_examples=200, deadline=None)
@given(p=probabilities, q=st.floats(0.05, 1.0))
def test_excess_is_zero_only_for_constant_p(p, q):
    excess = dispersion_excess(p, q)
    if np.ptp(p) == 0:
        assert abs(excess) <= 1e-13
    elif np.ptp(p) > 1e-3:
        assert excess > 0


@settings(max_examples=100, deadline=None)
@given(p=arrays(np.float64, 5, elements=st.floats(1e-3, 1.0)))
def test_q_zero_has_no_penalty(p):
    """-ln_0 P = 1 - P is linear, so J_0 = 1 - P̄ whatever the spread."""
    assert dispersion_excess(p, 0.0) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("q", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("p_bar", [0.05, 0.4])
def test_second_order_and_fourth_order_terms(q, p_bar):
    """Δ/Δ_2 - 1 = (q+1)(q+2)c²/12 + O(c⁴) for P = P̄(1 ± c): the error shrinks like c⁴ (ratio of errors ~ 16)."""
    def error(c):
        p = p_bar * np.array([1 - c, 1 + c])
        return dispersion_excess(p, q) / second_order_excess(p, q) - 1.0 - two_point_relative_error(q, c)
    assert abs(error(0.02)) <= 1e-6
    assert error(0.04) / error(0.02) == pytest.approx(16.0, rel=0.05)


def test_variance_at_mean_interpolates_first_crossing():
    mean_p, var_p = np.array([0.1, 0.3, 0.5, 0.4, 0.7]), np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(variance_at_mean(mean_p, var_p, np.array([0.2, 0.45, 0.9])), [0.5, 1.75, np.nan])
