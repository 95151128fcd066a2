"""ln_q, exp_q, J_Q and the amplification: limits, identities and properties over random q and u."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tsallis import amplification, jq_derivative, jq_objective, qexp, qlog

qs = st.floats(0.0, 1.0)
us = st.floats(1e-12, 1e6)


@settings(max_examples=1000)
@given(u=us)
def test_q0_is_u_minus_one(u):
    assert float(qlog(u, 0.0)) == pytest.approx(u - 1.0, rel=1e-12, abs=1e-12)


@settings(max_examples=1000)
@given(u=us)
def test_q1_is_log_and_limit_is_continuous(u):
    assert float(qlog(u, 1.0)) == pytest.approx(math.log(u), rel=1e-12, abs=1e-15)
    # q -> 1 with no cancellation: |ln_q u - log u| = O((1-q) log² u), far below 1e-6 here
    near = float(qlog(u, 1.0 - 1e-9))
    assert near == pytest.approx(math.log(u), rel=1e-6, abs=1e-8)


@settings(max_examples=1000)
@given(u=us, v=us, q=qs)
def test_monotone_in_u(u, v, q):
    lo, hi = sorted((u, v))
    assert float(qlog(lo, q)) <= float(qlog(hi, q))


@settings(max_examples=1000)
@given(u=st.floats(1e-6, 1e4), q=qs)
def test_qexp_inverts_qlog(u, q):
    assert float(qexp(qlog(u, q), q)) == pytest.approx(u, rel=1e-9)


@settings(max_examples=500)
@given(u=st.floats(1e-3, 1e3), q=qs)
def test_derivative_is_u_to_minus_q(u, q):
    """Central difference of ln_q equals u^(-q), and jq_derivative returns the same closed form."""
    h = 1e-6 * u
    numeric = (float(qlog(u + h, q)) - float(qlog(u - h, q))) / (2 * h)
    assert numeric == pytest.approx(u**-q, rel=1e-5)
    assert float(jq_derivative(u, q)) == pytest.approx(u**-q, rel=1e-12)


def test_symbolic_derivative_and_limit():
    """sympy: d/du (u^(1-q) - 1)/(1-q) = u^(-q), and the q -> 1 limit is log u."""
    u, q = sp.symbols("u q", positive=True)
    expr = (u ** (1 - q) - 1) / (1 - q)
    assert sp.simplify(sp.diff(expr, u) - u ** (-q)) == 0
    assert sp.simplify(sp.limit(expr, q, 1) - sp.log(u)) == 0


def test_values_at_zero_and_array_q():
    assert float(qlog(0.0, 0.5)) == -2.0
    assert float(qlog(0.0, 1.0)) == -math.inf
    out = qlog(np.array([[0.25], [0.25]]), np.array([[0.0], [1.0]]))
    np.testing.assert_allclose(out.ravel(), [-0.75, math.log(0.25)])
    assert float(qexp(-2.0, 0.5)) == 0.0  # exp_q maps the cut-off back to 0
    assert float(qexp(-5.0, 0.5)) == 0.0


def test_numpy_and_torch_agree_and_keep_type():
    u = np.linspace(0.0, 3.0, 31)
    for q in (0.0, 0.3, 1.0 - 1e-7, 1.0):
        for fn in (qlog, jq_objective, amplification):
            a = fn(u, q)
            b = fn(torch.tensor(u), q)
            assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor) and b.dtype == torch.float64
            np.testing.assert_allclose(a, b.numpy(), rtol=4e-16, atol=0)  # equal to the last ulp (libm pow)
        np.testing.assert_allclose(qexp(u, q), qexp(torch.tensor(u), q).numpy(), rtol=4e-16, atol=0)
    assert qlog(torch.tensor([0.5], dtype=torch.float32), 0.5).dtype == torch.float32


def test_amplification_is_p_to_minus_q_and_zero_at_zero():
    p = np.array([0.0, 1e-8, 0.5, 1.0])
    np.testing.assert_allclose(amplification(p, 0.75), [0.0, 1e-8**-0.75, 0.5**-0.75, 1.0])
    assert np.all(np.isfinite(amplification(p, 1.0)))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_q_names_argument(bad):
    with pytest.raises(ValueError, match=r"q must lie in \[0, 1\], got q="):
        qlog(0.5, bad)


def test_negative_u_rejected():
    with pytest.raises(ValueError, match="u must be non-negative, got u=-1.0"):
        qlog(np.array([-1.0, 2.0]), 0.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(0.0), st.just(5e-324), st.just(float("nan"))), min_size=1,
                max_size=20), st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.1, 0.3, 0.75, 1.0])), st.booleans())
def test_amplification_fast_float64_path_is_bitwise_the_general_one(values, q, per_entry):
    """float64 arrays take a plain-numpy path; a list takes the array-API path: the same bits either way."""
    p = np.asarray(values, dtype=np.float64)
    q_value = np.full(p.shape, q) if per_entry else q
    fast = amplification(p, q_value)
    general = amplification(values, q_value.tolist() if per_entry else q)
    assert fast.dtype == general.dtype == np.float64
    np.testing.assert_array_equal(fast, general)
