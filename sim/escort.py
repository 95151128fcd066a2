"""The escort minimiser of J_Q in the categorical model (Theorem 3.1, Corollaries B.2 and B.3).

Maths
-----
One input, N outputs, model θ ∈ Δ_N, data frequencies α_j > 0. The paper's loss (Eq. 2) is

    L_q(θ) = Σ_j α_j (-ln_q θ_j),      ln_q u = (u^(1-q) - 1) / (1-q),

and this package maximises the objective S_q(θ) = -L_q(θ) = Σ_j α_j ln_q θ_j (the expected q-log score).
Theorem 3.1: for q ∈ (0, 1] the unique minimiser of L_q (maximiser of S_q) is the escort distribution

    θ*_j(q) = α_j^(1/q) / Σ_k α_k^(1/q)                                         (Eq. 4)

(Lagrange: α_j θ_j^(-q) = μ for every j). Corollary B.2: θ*(1) = α, θ*(q) → the mode as q → 0+, and
θ*_j/θ*_k = (α_j/α_k)^(1/q) rises as q falls when α_j > α_k. Corollary B.3: α maximises S_q only at q = 1.

Two numerical routes to the minimiser, independent of each other and of Eq. 4:

* :class:`CategoricalScore` is a policy for :func:`sim.flow.integrate_flow`: θ = softmax(w), and the flow
  dw/dt = ∇_w S_q = Σ_j α_j θ_j^(-q) ∇_w θ_j = Σ_j α_j θ_j^(1-q) (e_j - θ) (its rest points are the
  θ with α_j θ_j^(-q) equal for every j);
* :func:`constrained_minimiser` minimises L_q directly on the simplex with scipy's SLSQP (equality
  constraint Σ θ_j = 1, bounds θ_j ≥ 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from sim.flow import integrate_flow
from sim.policies import softmax
from tsallis.qlog import amplification, jq_objective


def escort(alpha: np.ndarray, q: float) -> np.ndarray:
    """The escort distribution of order 1/q, α^(1/q) / Σ α^(1/q) (Eq. 4), for q ∈ (0, 1]; computed in
    log space so that small q does not underflow."""
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must lie in (0, 1], got q={q!r}")
    log_alpha = np.log(np.asarray(alpha, dtype=np.float64))
    return softmax(log_alpha / q)


def expected_score(theta: np.ndarray, alpha: np.ndarray, q: float) -> float:
    """S_q(θ) = Σ_j α_j ln_q θ_j, the objective this package maximises (minus the paper's loss L_q)."""
    return float(np.dot(alpha, jq_objective(np.asarray(theta, dtype=np.float64), q)))


@dataclass(frozen=True)
class CategoricalScore:
    """The categorical model θ = softmax(w) with data frequencies ``alpha``, as a flow policy (see module)."""

    alpha: np.ndarray

    @property
    def dim(self) -> int:
        return int(np.asarray(self.alpha).shape[0])

    def success_prob(self, w: np.ndarray) -> np.ndarray:
        """θ = softmax(w), the model's distribution over the N outputs."""
        return softmax(np.asarray(w, dtype=np.float64))

    def flow(self, w: np.ndarray, q: float) -> np.ndarray:
        """∇_w S_q = Σ_j α_j θ_j^(1-q) (e_j - θ) = α θ^(1-q) - θ Σ_k α_k θ_k^(1-q)."""
        theta = self.success_prob(w)
        weight = self.alpha * amplification(theta, q) * theta
        return weight - theta * weight.sum(axis=-1, keepdims=True)


def flow_minimiser(alpha: np.ndarray, q: float, t_max: float) -> np.ndarray:
    """θ(t_max) under the softmax flow of S_q from the uniform distribution (w = 0), LSODA rtol 1e-10."""
    model = CategoricalScore(np.asarray(alpha, dtype=np.float64))
    result = integrate_flow(model, np.zeros(model.dim), q, t_max=t_max, target=None, t_eval=np.array([t_max]),
                            rtol=1e-10, atol=1e-12)
    if not result.success:
        raise RuntimeError(f"categorical flow failed at q={q}: {result.message}")
    return model.success_prob(result.theta[-1])


def constrained_minimiser(alpha: np.ndarray, q: float) -> np.ndarray:
    """argmin over Δ_N of L_q(θ) = Σ_j α_j (-ln_q θ_j) by SLSQP, from the uniform distribution, with the
    analytic gradient -α_j θ_j^(-q) and bounds θ_j ≥ 1e-14 (the gradient is infinite at 0)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    n = alpha.shape[0]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return -expected_score(theta, alpha, q), -alpha * theta ** (-q)

    result = minimize(loss, np.full(n, 1.0 / n), jac=True, method="SLSQP", bounds=[(1e-14, 1.0)] * n,
                      constraints=[{"type": "eq", "fun": lambda t: t.sum() - 1.0, "jac": lambda t: np.ones(n)}],
                      options={"ftol": 1e-16, "maxiter": 1000})
    if not result.success:
        raise RuntimeError(f"SLSQP failed at q={q}: {result.message}")
    return result.x
