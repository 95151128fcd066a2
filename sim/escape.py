"""Escape from cold start: closed-form escape times (sympy), measured ones (ODE) and log-log slopes.

Maths
-----
One-logit toy, P = σ(θ), flow dθ/dt = P^(-q) dP/dθ. Since dP/dθ = P(1-P),

    dP/dt = (dP/dθ) dθ/dt = P^(-q) (P(1-P))^2 = P^(2-q) (1-P)^2,

so the time to go from p0 to a target p* is the exact integral

    T(p0; q) = ∫_{p0}^{p*} P^(q-2) (1-P)^(-2) dP,

which sympy evaluates in closed form for every rational q (logs and arctangents). Near P = 0 the
integrand is P^(q-2)(1 + O(P)), so the small-p0 asymptotics is

    T ≈ ∫_{p0}^{p*} P^(q-2) dP = (p0^(q-1) - p*^(q-1)) / (1-q)   (q < 1),     ln(p*/p0)   (q = 1):

Θ(1/p0) at q = 0, Θ(p0^(-(1-q))/(1-q)) for 0 < q < 1 and Θ(log 1/p0) at q = 1, i.e. a log-log slope
of -(1-q). K-armed softmax with one correct arm and equal wrong arms: dP/dt = K/(K-1) · P^(2-q)(1-P)^2,
so T_K = (K-1)/K · T.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp

from sim.flow import integrate_flow

P, p0_sym = sp.symbols("P p0", positive=True)


def _rational(value: float) -> sp.Rational:
    r = sp.nsimplify(value, rational=True)
    if not (0 <= r <= 1):
        raise ValueError(f"q must lie in [0, 1], got q={value!r}")
    return r


def _integral_from_p0(integrand: sp.Expr, q: float, target: float) -> sp.Expr:
    """∫_{p0}^{target} integrand dP = F(target) - F(p0) in ``p0_sym``, with F sympy's antiderivative (the
    integrands here are continuous on (0, 1), so the fundamental theorem of calculus applies; a third of the
    time of sympy's definite integral)."""
    antiderivative = sp.integrate(integrand, P)
    if antiderivative.has(sp.Integral):
        raise ArithmeticError(f"sympy found no antiderivative of {integrand} at q={q}")
    tr = sp.nsimplify(target, rational=True)
    return antiderivative.subs(P, tr) - antiderivative.subs(P, p0_sym)


@lru_cache(maxsize=None)
def escape_time_expr(q: float, target: float = 0.5) -> sp.Expr:
    """Exact T(p0; q) = ∫_{p0}^{target} P^(q-2)(1-P)^(-2) dP as a sympy expression in ``p0_sym``.

    sympy writes the antiderivative with log(P - 1), so the expression is complex-valued with a
    constant imaginary part that cancels between the limits; :func:`closed_form_escape_time` takes
    the real part and checks that the imaginary part vanishes.
    """
    qr = _rational(q)
    return _integral_from_p0(P ** (qr - 2) * (1 - P) ** (-2), q, target)


@lru_cache(maxsize=None)
def asymptotic_expr(q: float, target: float = 0.5) -> sp.Expr:
    """Small-p0 asymptotics ∫_{p0}^{target} P^(q-2) dP (the integrand's leading term), in ``p0_sym``."""
    return _integral_from_p0(P ** (_rational(q) - 2), q, target)


@lru_cache(maxsize=None)
def _lambdified(q: float, target: float, which: str):
    expr = escape_time_expr(q, target) if which == "exact" else asymptotic_expr(q, target)
    return sp.lambdify(p0_sym, expr, "numpy")


def closed_form_escape_time(p0: np.ndarray | float, q: float, target: float = 0.5) -> np.ndarray:
    """Evaluate the sympy closed form T(p0; q) of the one-logit toy (float array like ``p0``)."""
    p0 = np.asarray(p0, dtype=np.float64)
    if np.any((p0 <= 0) | (p0 >= target)):
        raise ValueError(f"p0 must lie in (0, target={target}), got p0={p0!r}")
    value = np.asarray(_lambdified(q, target, "exact")(p0.astype(np.complex128)), dtype=np.complex128)
    if np.any(np.abs(value.imag) > 1e-9 * np.maximum(np.abs(value.real), 1.0)):
        raise ArithmeticError(f"closed form for q={q} has a non-vanishing imaginary part: {value.imag!r}")
    return value.real


def asymptotic_escape_time(p0: np.ndarray | float, q: float, target: float = 0.5) -> np.ndarray:
    """The small-p0 asymptotic form (p0^(q-1) - target^(q-1))/(1-q), or ln(target/p0) at q = 1."""
    p0 = np.asarray(p0, dtype=np.float64)
    return np.asarray(_lambdified(q, target, "asymptotic")(p0), dtype=np.float64)


def karmed_escape_time(p0: np.ndarray | float, q: float, num_arms: int, target: float = 0.5) -> np.ndarray:
    """T_K = (K-1)/K · T for the K-armed softmax with equal wrong arms (see the module docstring)."""
    return (num_arms - 1) / num_arms * closed_form_escape_time(p0, q, target)


def predicted_slope(q: float) -> float:
    """Predicted small-p0 slope of log T against log p0: -(1-q) (0 at q = 1, where T grows like log 1/p0)."""
    return -(1.0 - q)


def measure_escape_time(
    policy, p0: float, q: float, target: float = 0.5, rtol: float = 1e-10, theta0: np.ndarray | None = None
) -> float:
    """Escape time of the exact flow from P = p0 to ``target`` (NaN if not reached within 100/p0).

    The flow starts at ``policy.theta_for(p0)``, or at ``theta0`` when given (a start with P = p0).
    """
    theta0 = policy.theta_for(p0) if theta0 is None else theta0
    result = integrate_flow(policy, theta0, q, t_max=100.0 / p0, target=target, rtol=rtol, atol=1e-12)
    if not result.success:
        raise RuntimeError(f"flow failed for q={q}, p0={p0}: {result.message}")
    return result.escape_time


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x, the exponent a in y ∝ x^a."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares fit of log T = slope · log p0 + intercept (or T = slope · ln(1/p0) + c, ``log_scale``)."""

    q: float
    slope: float
    predicted: float
    log_scale: bool

    @property
    def error(self) -> float:
        return self.slope - self.predicted


def fit_slope(p0s: np.ndarray, times: np.ndarray, q: float) -> SlopeFit:
    """Fit the small-p0 scaling: log-log slope for q < 1 (predicted -(1-q)); for q = 1 the slope of T
    against ln(1/p0) (predicted 1, log scaling)."""
    p0s, times = np.asarray(p0s, dtype=np.float64), np.asarray(times, dtype=np.float64)
    if q >= 1.0:
        slope = np.polyfit(np.log(1.0 / p0s), times, 1)[0]
        return SlopeFit(q=q, slope=float(slope), predicted=1.0, log_scale=True)
    return SlopeFit(q=q, slope=loglog_slope(p0s, times), predicted=predicted_slope(q), log_scale=False)
