"""Analytic bias and variance of GARL and PAFT for one group of M Bernoulli(P) rewards.

Model
-----
M iid samples z_m ~ p_θ with binary rewards r_m, S = Σ r_m ~ Binomial(M, P), P̂ = S/M, and a scalar
score s_m = ∂ log p_θ(z_m)/∂θ (one coordinate of the gradient). Given the rewards the z_m are
independent with z_m ~ p_θ(· | r_m), so only the conditional moments of s enter::

    μ1 = E[s | r=1] = ∇P / P,     μ0 = E[s | r=0] = -∇P / (1-P)     (because E[s] = 0, E[r s] = ∇P)
    v1 = Var[s | r=1],            v0 = Var[s | r=0]

The target is P^(-q) ∇P = P^(1-q) μ1. Conditioning on S (x = P̂ = S/M) every estimator has a closed
conditional mean h(x) and variance c(x), derived below as sympy expressions; a group with S = 0
contributes 0 to both.

* Exact finite-M moments: E[ĝ] = Σ_S Bin(S; M, P) h(S/M) and
  Var[ĝ] = Σ_S Bin(S; M, P) (c(S/M) + h(S/M)²) - E[ĝ]², summed over S = 1..M.
* Delta method (P̂ has mean P and variance P(1-P)/M):
  E[ĝ] ≈ h(P) + h''(P) P(1-P)/(2M),  Var[ĝ] ≈ h'(P)² P(1-P)/M + c(P) + c''(P) P(1-P)/(2M),
  expanded to first order in 1/M.

Result (see :func:`leading_bias`): for GARL without a baseline, and for PAFT (same expectation),

    E[ĝ] - P^(-q) ∇P  ≈  -q(1-q)(1-P) / (2 M P^(q+1)) · ∇P.

So the bias of the *amplification* that multiplies ∇P is O(q/(M P^(q+1))), the paper's first form;
when ∇P = Θ(P), as for softmax policies near cold start (∇P = P μ1 with μ1 = O(1)), the bias of the
*gradient* is O(q/(M P^q)), the later form. Both hold, for different quantities. The delta method
needs M P >> 1: for M P << 1 most groups have S = 0 and the exact sum shows the M^q cap instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp
from scipy.stats import binom

from tsallis._arrays import check_q

ESTIMATOR_KEYS = ("garl_none", "garl_mean", "garl_loo", "paft")

x, P, q, M, K = sp.symbols("x P q M K", positive=True)
mu1, mu0, v1, v0, grad = sp.symbols("mu1 mu0 v1 v0 g", real=True)
eps = sp.symbols("epsilon", positive=True)  # 1/M in the expansions
_ARGS = (x, M, q, mu1, mu0, v1, v0, K)


def conditional_moments(estimator: str) -> tuple[sp.Expr, sp.Expr]:
    """(h(x), c(x)): mean and variance of the estimate given P̂ = x = S/M (S >= 1), as sympy expressions.

    Derivation, with weights w_m from :mod:`tsallis.estimators` and ĝ = Σ_m w_m s_m:

    * garl_none: w = x^(-q) r/M            -> h = x^(1-q) μ1,                 c = x^(1-2q) v1 / M
    * garl_mean: w = x^(-q) (r - x)/M      -> h = x^(1-q)(1-x)(μ1-μ0),        c = x^(1-2q)(1-x)((1-x)v1 + x v0)/M
    * garl_loo:  r - b = M(1-x)/(M-1) on a success, -Mx/(M-1) on a failure
                                           -> h = M/(M-1) x^(1-q)(1-x)(μ1-μ0), c = M/(M-1)² x^(1-2q)(1-x)((1-x)v1 + x v0)
    * paft (multinomial, K draws among the S successes): mean of K draws with replacement from S iid
      scores -> h = x^(1-q) μ1,  c = x^(2-2q) v1 (1/S + (S-1)/(S K)) with S = M x.
    """
    success_sum = M * x  # S
    if estimator == "garl_none":
        terms = [(success_sum, x ** (-q) / M, mu1, v1)]
    elif estimator == "garl_mean":
        terms = [(success_sum, x ** (-q) * (1 - x) / M, mu1, v1), (M - success_sum, -(x ** (1 - q)) / M, mu0, v0)]
    elif estimator == "garl_loo":
        terms = [
            (success_sum, x ** (-q) * M * (1 - x) / ((M - 1) * M), mu1, v1),
            (M - success_sum, -(x ** (-q)) * M * x / ((M - 1) * M), mu0, v0),
        ]
    elif estimator == "paft":
        mean = x ** (1 - q) * mu1
        var = x ** (2 - 2 * q) * v1 * (1 / success_sum + (success_sum - 1) / (success_sum * K))
        return sp.simplify(mean), sp.simplify(var)
    else:
        raise ValueError(f"estimator must be one of {ESTIMATOR_KEYS}, got estimator={estimator!r}")
    # n samples share the weight w: they add n·w·μ to the mean and n·w²·v to the variance.
    mean = sum(n * w * mu for n, w, mu, _ in terms)
    var = sum(n * w**2 * v for n, w, _, v in terms)
    return sp.simplify(mean), sp.simplify(var)


def _substitute_scores(expr: sp.Expr) -> sp.Expr:
    """Write μ1, μ0 through ∇P: μ1 = g/P, μ0 = -g/(1-P)."""
    return expr.subs({mu1: grad / P, mu0: -grad / (1 - P)})


def target() -> sp.Expr:
    """The estimand P^(-q) ∇P."""
    return P ** (-q) * grad


@lru_cache(maxsize=None)
def delta_expansion(estimator: str) -> tuple[sp.Expr, sp.Expr]:
    """Delta-method (mean, variance) of the estimate to first order in 1/M, in P, q, M, g, v1, v0, K."""
    h, c = conditional_moments(estimator)
    spread = P * (1 - P) / M  # Var[P̂]
    mean = h.subs(x, P) + sp.diff(h, x, 2).subs(x, P) * spread / 2
    var = sp.diff(h, x).subs(x, P) ** 2 * spread + c.subs(x, P) + sp.diff(c, x, 2).subs(x, P) * spread / 2
    first_order = []
    for expr in (mean, var):
        series = sp.series(_substitute_scores(expr).subs(M, 1 / eps), eps, 0, 2).removeO()
        first_order.append(sp.simplify(series.subs(eps, 1 / M)))
    return first_order[0], first_order[1]


@lru_cache(maxsize=None)
def leading_bias(estimator: str) -> sp.Expr:
    """The O(1/M) bias term of the delta method, E[ĝ] - P^(-q) ∇P ≈ leading_bias(estimator), in P, q, M, g."""
    mean, _ = delta_expansion(estimator)
    return sp.factor(sp.simplify(mean - target()))


@dataclass(frozen=True)
class ScoreModel:
    """Conditional moments of the scalar score: ∇P (which fixes μ1, μ0) and Var[s | r] on success/failure."""

    grad_p: float
    var_success: float = 0.0
    var_failure: float = 0.0

    @classmethod
    def one_logit(cls, p: float) -> "ScoreModel":
        """P = σ(θ), z ~ Bernoulli(P), r = z: s = z - P, so ∇P = P(1-P) and both conditional variances are 0."""
        return cls(grad_p=p * (1.0 - p))


@dataclass(frozen=True)
class Moments:
    """Mean and variance of an estimate of the target P^(-q) ∇P."""

    mean: float
    variance: float
    target: float

    @property
    def bias(self) -> float:
        return self.mean - self.target


def _check(estimator: str, p: float, qv: float, m: int, num_resamples: int) -> None:
    if estimator not in ESTIMATOR_KEYS:
        raise ValueError(f"estimator must be one of {ESTIMATOR_KEYS}, got estimator={estimator!r}")
    if not 0.0 < p < 1.0:
        raise ValueError(f"P must lie in (0, 1), got P={p!r}")
    check_q(qv)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"M must be an integer >= 1, got M={m!r}")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"num_resamples must be an integer >= 1, got num_resamples={num_resamples!r}")


@lru_cache(maxsize=None)
def _conditional_functions(estimator: str) -> tuple[Any, Any]:
    h, c = conditional_moments(estimator)
    return sp.lambdify(_ARGS, h, "numpy"), sp.lambdify(_ARGS, c, "numpy")


def exact_moments(
    estimator: str, p: float, q_value: float, m: int, score: ScoreModel | None = None, num_resamples: int = 1
) -> Moments:
    """Exact finite-M mean and variance of the estimate of P^(-q) ∇P, summing over S ~ Binomial(M, P).

    ``score`` defaults to the one-logit model; ``num_resamples`` is PAFT's K. With M = 1 the LOO
    baseline is 0, so "garl_loo" equals "garl_none".
    """
    _check(estimator, p, q_value, m, num_resamples)
    score = score if score is not None else ScoreModel.one_logit(p)
    if estimator == "garl_loo" and m == 1:
        estimator = "garl_none"
    h, c = _conditional_functions(estimator)
    successes = np.arange(1, m + 1, dtype=np.float64)
    xs = successes / m
    args = (m, q_value, score.grad_p / p, -score.grad_p / (1.0 - p), score.var_success, score.var_failure, num_resamples)
    pmf = binom.pmf(successes, m, p)
    cond_mean = np.broadcast_to(h(xs, *args), xs.shape)
    cond_var = np.broadcast_to(c(xs, *args), xs.shape)
    mean = float(np.sum(pmf * cond_mean))
    second = float(np.sum(pmf * (cond_var + cond_mean**2)))
    return Moments(mean=mean, variance=max(second - mean**2, 0.0), target=p ** (-q_value) * score.grad_p)


@lru_cache(maxsize=None)
def _delta_functions(estimator: str) -> tuple[Any, Any]:
    mean, var = delta_expansion(estimator)
    args = (P, q, M, grad, v1, v0, K)
    return sp.lambdify(args, mean, "numpy"), sp.lambdify(args, var, "numpy")


def delta_moments(
    estimator: str, p: float, q_value: float, m: int, score: ScoreModel | None = None, num_resamples: int = 1
) -> Moments:
    """Delta-method mean and variance of the estimate to first order in 1/M (valid for M P >> 1)."""
    _check(estimator, p, q_value, m, num_resamples)
    score = score if score is not None else ScoreModel.one_logit(p)
    mean_fn, var_fn = _delta_functions(estimator)
    args = (p, q_value, m, score.grad_p, score.var_success, score.var_failure, num_resamples)
    return Moments(mean=float(mean_fn(*args)), variance=float(var_fn(*args)), target=p ** (-q_value) * score.grad_p)


def cold_start_gain(estimator: str, q: float, m: int, **options: Any) -> float:
    """E[ĝ] / ∇P in deep cold start, P → 0 at fixed M: M × the weight of the success in a group with one.

    Maths: with P → 0 a group has no success with probability 1 - M P + O(P²) (zero weights for every
    estimator here), exactly one with probability M P + O(P²), more with O(P²). On a one-success group the
    success's score has mean ∇P/P and a failure's -∇P/(1-P), so::

        E[ĝ] = M P · (w_success ∇P / P) + O(P) ∇P  →  M · w_success · ∇P

    with w_success the estimator's weight of the success in rewards (1, 0, ..., 0). Closed forms (eps → 0):
    GARL mean baseline M^q (1 - 1/M); GARL none or LOO M^q; PAFT M^q (its K resamples all pick the success);
    GRPO with the Bessel std (1 - 1/M)/(M^(-1/2) + eps) ≈ √M (1 - 1/M), i.e. GARL at q = 1/2; RLOO and
    REINFORCE 1 (unbiased). While P ≪ 1/M the stochastic escape time is the q = 0 flow time divided by this
    gain (``sim.stochastic.small_m_escape_time``).

    Parameters
    ----------
    estimator : a registered name (``tsallis.estimators.ESTIMATORS``) other than ``sft``.
    q : Tsallis q in [0, 1] (ignored by estimators without q).
    m : M >= 2, samples per group.
    **options : further :class:`~tsallis.estimators.EstimatorOptions` fields (``baseline``, ``eps``, ...).
    """
    from tsallis.estimators import EstimatorOptions, compute_weights

    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise ValueError(f"cold_start_gain: m must be an integer >= 2, got m={m!r}")
    if estimator == "sft":
        raise ValueError("cold_start_gain: sft trains on given targets, not on sampled successes")
    check_q(q)
    rewards = np.zeros((1, int(m)))
    rewards[0, 0] = 1.0
    settings = {"q": q, "num_resamples": 1, "generator": np.random.default_rng(0), **options}
    return float(m * compute_weights(estimator, rewards, EstimatorOptions(**settings))[0, 0])


def likelihood_leading_bias(q: float, m: int, p: float, grad_p: Any, var_w: float, cov_wf_w: Any) -> Any:
    """Theorem 6.1's leading O(1/M) bias of the plug-in GARL with likelihood weights (Appendix D), ascent form.

    With w_m = p(y*|x, z_m), f_m = ∇log p(z_m, y*|x) and the paper's g_m = -w_m f_m, ℓ_q = -ln_q P::

        E[ĝ] - ∇ℓ_q = q/(M P^(q+1)) [ (q+1)/2 ∇ℓ_1 Var(w) - Cov(g, w) ] + O(M^-2)

    for the descent estimate ĝ; for the ascent estimate of ∇ ln_q P = P^(-q) ∇P used throughout this
    package (the negative), with ∇ℓ_1 = -∇P/P and Cov(g, w) = -Cov(w f, w)::

        E[ĝ] - P^(-q) ∇P ≈ q/(M P^(q+1)) [ (q+1)/2 · Var(w) ∇P / P - Cov(w f, w) ]

    With Bernoulli w (w² = w: Var(w) = P(1-P), Cov(w f, w) = (1-P) ∇P) this is the sampled-answer
    value -q(1-q)(1-P)/(2 M P^(q+1)) ∇P of :func:`leading_bias`. ``grad_p`` and ``cov_wf_w`` are
    numbers or arrays of one shape (one entry per gradient coordinate).
    """
    check_q(q)
    grad_p, cov = np.asarray(grad_p, dtype=np.float64), np.asarray(cov_wf_w, dtype=np.float64)
    return q / (m * p ** (q + 1.0)) * ((q + 1.0) / 2.0 * var_w * grad_p / p - cov)
