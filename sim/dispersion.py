"""The dispersion penalty of J_Q across examples (Proposition B.1, Section 3.1).

Maths
-----
With the paper's loss h_q(P) = -ln_q P = (1 - P^(1-q))/(1-q), strictly convex for q > 0
(h_q'' = q P^(-q-1)), Jensen's inequality gives, over the examples of a data set D with mean P̄,

    L_q = E_D[-ln_q P] ≥ -ln_q(P̄),   equality iff P is constant on D           (Proposition B.1)

(for the objective this package maximises, E_D[ln_q P] ≤ ln_q P̄). The excess Δ = E_D[h_q(P)] - h_q(P̄)
is, to second order in the spread (Section 3.1),

    Δ ≈ (q/2) P̄^(-q-1) Var_D(P).

For the symmetric two-point spread P = P̄(1 ± c) the odd terms cancel and the next term is the fourth,
h_q''''(P̄) (P̄c)^4 / 4!, with h_q'''' = q(q+1)(q+2) P^(-q-3); so the second-order formula's relative error is

    Δ / Δ_2 - 1 = (q+1)(q+2) c² / 12 + O(c⁴),

which says where the expansion stops holding: at a coefficient of variation c of order 1, sooner for larger q.
"""

from __future__ import annotations

import numpy as np

from sim.flow import integrate_flow
from tsallis.qlog import jq_objective


def dispersion_excess(p: np.ndarray, q: float) -> float:
    """Δ = E[-ln_q P] - (-ln_q P̄) over the last axis of ``p`` (equal weights), the exact excess loss."""
    p = np.asarray(p, dtype=np.float64)
    return float(jq_objective(p.mean(), q) - np.mean(jq_objective(p, q)))


def second_order_excess(p: np.ndarray, q: float) -> float:
    """Δ_2 = (q/2) P̄^(-q-1) Var(P), the second-order excess (population variance)."""
    p = np.asarray(p, dtype=np.float64)
    return float(0.5 * q * p.mean() ** (-q - 1.0) * p.var())


def two_point_relative_error(q: float, cv: np.ndarray | float) -> np.ndarray:
    """Leading relative error (q+1)(q+2)c²/12 of Δ_2 for P = P̄(1 ± c), the fourth-order term over the second."""
    return (q + 1.0) * (q + 2.0) * np.asarray(cv, dtype=np.float64) ** 2 / 12.0


def dispersion_along_flow(toy, theta0: np.ndarray, q: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance over prompts of P_n along the exact flow of J_Q on a multi-prompt toy, at ``times``."""
    result = integrate_flow(toy, theta0, q, t_max=float(times[-1]), target=None, t_eval=times, rtol=1e-8, atol=1e-10)
    if not result.success:
        raise RuntimeError(f"flow failed at q={q}: {result.message}")
    p = np.array([toy.success_prob(th) for th in result.theta])  # (n, N)
    return p.mean(axis=1), p.var(axis=1)


def variance_at_mean(mean_p: np.ndarray, var_p: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Var_D(P) when the mean P̄ first reaches each of ``levels`` (linear interpolation between recorded
    times; NaN for a level not reached)."""
    out = np.full(len(levels), np.nan)
    for i, level in enumerate(levels):
        above = np.flatnonzero(mean_p >= level)
        if above.size and above[0] > 0:
            k = above[0]
            w = (level - mean_p[k - 1]) / (mean_p[k] - mean_p[k - 1])
            out[i] = var_p[k - 1] + w * (var_p[k] - var_p[k - 1])
    return out
