"""Noise memorisation on the multi-prompt toy: how much probability each q puts on corrupted labels.

Setting: :class:`sim.policies.LinearSoftmaxPrompts`, N prompts sharing W, a share ε of gold labels
replaced by a wrong answer. J_Q = (1/N) Σ_n ln_q P_n weights prompt n's gradient by P_n^(-q): a
corrupted prompt, whose label goes against its features, has low P_n and is amplified most at high q.
Two regimes, as in the paper's Proposition C.2 and Section 3 (training dynamics, and the minimiser):

* **along training** (:func:`track_flow`): a policy able to fit every label (d >= N); the flow
  eventually memorises all of them for every q, so what matters is *when*: the noise mass
  (mean π_n[y_n] over corrupted prompts) at the moment clean prompts are learned, and at a fixed time.
* **near the optimum** (:func:`optimum`): a policy too small to fit every label (d << N); the
  maximiser of J_Q itself depends on q (as for Generalized Cross Entropy, Zhang & Sabuncu 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from sim.flow import integrate_flow
from sim.policies import LinearSoftmaxPrompts
from tsallis.qlog import jq_objective


@dataclass(frozen=True)
class MemorisationTrace:
    """Metrics along the flow, each of shape (n,) at times ``t``.

    clean_p: mean P_n over clean prompts; clean_accuracy: share of clean prompts whose argmax is the
    gold answer; noise_mass: mean π_n[corrupted label] over corrupted prompts; true_mass_on_noisy: mean
    π_n[uncorrupted label] over corrupted prompts. ``escape_time``: first t with clean_p >= 1/2 (NaN if none).
    """

    t: np.ndarray
    clean_p: np.ndarray
    clean_accuracy: np.ndarray
    noise_mass: np.ndarray
    true_mass_on_noisy: np.ndarray
    escape_time: float
    status: int
    message: str


def metrics(toy: LinearSoftmaxPrompts, theta: np.ndarray) -> dict[str, float]:
    """The four memorisation metrics of :class:`MemorisationTrace` at one θ."""
    pi = toy.probs(theta)  # (N, K)
    rows = np.arange(len(toy.labels))
    clean, noisy = ~toy.noisy, toy.noisy
    return {
        "clean_p": float(pi[rows, toy.labels][clean].mean()),
        "clean_accuracy": float((pi.argmax(axis=1) == toy.clean_labels)[clean].mean()),
        "noise_mass": float(pi[rows, toy.labels][noisy].mean()) if noisy.any() else 0.0,
        "true_mass_on_noisy": float(pi[rows, toy.clean_labels][noisy].mean()) if noisy.any() else 0.0,
    }


def track_flow(toy: LinearSoftmaxPrompts, q: float, times: np.ndarray, rtol: float = 1e-6) -> MemorisationTrace:
    """Integrate the exact flow of J_Q from W = 0 (the cold start set by the toy's offset) and record metrics."""
    clean = ~toy.noisy

    def clean_p(theta: np.ndarray) -> float:
        return float(toy.success_prob(theta)[clean].mean())

    result = integrate_flow(toy, np.zeros(toy.dim), q, t_max=float(times[-1]), target=None, t_eval=times,
                            measure=clean_p, rtol=rtol, atol=1e-9)
    if not result.success:
        raise RuntimeError(f"memorisation flow failed at q={q}: {result.message}")
    table = [metrics(toy, th) for th in result.theta]
    columns = {key: np.array([row[key] for row in table]) for key in table[0]}
    # the escape time exactly, from a second solve that stops at the event clean_p = 1/2
    escape = integrate_flow(toy, np.zeros(toy.dim), q, t_max=float(times[-1]), target=0.5, measure=clean_p,
                            rtol=rtol, atol=1e-9)
    return MemorisationTrace(t=result.t, escape_time=escape.escape_time, status=result.status, message=result.message,
                             **columns)


@dataclass(frozen=True)
class OptimumResult:
    """Maximiser of J_Q found by L-BFGS: θ, J_Q there, the gradient norm, scipy's success/message, metrics."""

    theta: np.ndarray
    objective: float
    grad_norm: float
    success: bool
    message: str
    metrics: dict[str, float]


def optimum(toy: LinearSoftmaxPrompts, q: float, theta0: np.ndarray | None = None, gtol: float = 1e-9) -> OptimumResult:
    """Maximise J_Q(θ) = (1/N) Σ_n ln_q P_n(θ) with L-BFGS (gradient: ``toy.flow``), from ``theta0`` (default W = 0).

    ln_q of a softmax is not concave for q < 1, so this is a local maximum reached from the cold start,
    the one gradient training would reach.
    """
    start = np.zeros(toy.dim) if theta0 is None else np.asarray(theta0, dtype=np.float64)

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value = float(np.mean(jq_objective(toy.success_prob(theta), q)))
        return -value, -toy.flow(theta, q)

    res = minimize(negative, start, jac=True, method="L-BFGS-B", options={"gtol": gtol, "maxiter": 20000})
    return OptimumResult(theta=res.x, objective=-float(res.fun), grad_norm=float(np.linalg.norm(res.jac)),
                         success=bool(res.success), message=str(res.message), metrics=metrics(toy, res.x))
