"""Convergence near the optimum is the same for every q (Proposition C.1).

Maths
-----
Write ε = 1 - P. Along the flow, Eq. 6 gives dε/dt = -(1-ε)^(2-q) ‖s‖², so when ‖s‖² = h(P) depends on θ
only through P the time from P = 1 - ε0 to P = 1 - ε1 (ε1 < ε0) is

    T_q = ∫_{ε1}^{ε0} dε / ((1-ε)^(2-q) h(1-ε)),

and the integrands of two indices q < q' differ by the factor (1-ε)^(q-q') ∈ [1, (1-ε0)^(-(q'-q))], so

    1 ≤ T_q / T_q' ≤ (1-ε0)^(-(q'-q)) = 1 + (q'-q) ε0 + O(ε0²)                (Proposition C.1).

One logit (P = σ(θ), ‖s‖² = (1-P)² = ε², Eq. 15): T_q = ∫_{ε1}^{ε0} dε / ((1-ε)^(2-q) ε²), computed by
:func:`one_logit_time` with adaptive quadrature in u = ln ε.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad

from sim.flow import integrate_flow


def one_logit_time(eps0: float, eps1: float, q: float) -> float:
    """T_q from P = 1 - eps0 to 1 - eps1 on the one-logit toy, ∫ e^(-u) (1 - e^u)^(q-2) du over [ln eps1, ln eps0]."""
    if not 0.0 < eps1 < eps0 < 1.0:
        raise ValueError(f"need 0 < eps1 < eps0 < 1, got eps0={eps0!r}, eps1={eps1!r}")
    value, _ = quad(lambda u: np.exp(-u) * (1.0 - np.exp(u)) ** (q - 2.0), np.log(eps1), np.log(eps0),
                    epsabs=0.0, epsrel=1e-13, limit=200)
    return float(value)


def ratio_bound(eps0: float | np.ndarray, q: float, q_prime: float) -> np.ndarray:
    """Upper bound (1 - ε0)^(-|q' - q|) of T_min(q,q') / T_max(q,q') from Proposition C.1's proof."""
    return (1.0 - np.asarray(eps0, dtype=np.float64)) ** (-abs(q_prime - q))


def measure_near_optimum_time(policy, theta0: np.ndarray, q: float, eps1: float) -> float:
    """Flow time from ``theta0`` until P reaches 1 - eps1 (LSODA rtol 1e-11, terminal event)."""
    result = integrate_flow(policy, theta0, q, t_max=100.0 / eps1, target=1.0 - eps1, rtol=1e-11, atol=1e-13)
    if not result.reached_target:
        raise RuntimeError(f"flow at q={q} did not reach P = 1 - {eps1}: {result.message}")
    return result.escape_time
