"""Exact moments of the estimators by enumerating every pool of M samples of the latent-rationale toy.

Setting
-------
On :class:`sim.latent.LatentRationale` a pool is M i.i.d. draws from a finite set of outcomes with
probabilities ρ_1..ρ_L: rationales z (L = K, the likelihood form) or (rationale, answer correct?) pairs
(L = 2K, the sampled-answer form). Every estimator here is a symmetric function of the pool, so it is
enough to visit each multiset once, i.e. each composition n of M into L parts, with probability::

    Pr(n) = M! / Π_l n_l! · Π_l ρ_l^(n_l)

(C(M + L - 1, L - 1) pools). The estimate of a pool is computed by the core
(:func:`tsallis.compute_likelihood_weights` or :func:`tsallis.compute_weights`) on the pool laid out
in sorted order, then multiplied by the toy's exact score vectors::

    likelihood form:  ĝ = Σ_m score_m ∇log π(z_m) + answer_m ∇log w(z_m)
    sampled answer:   ĝ = Σ_m weight_m [∇log π(z_m) + ∇log p(ŷ_m | z_m)],   r_m = 1[ŷ_m = y*]

so E[ĝ] = Σ_n Pr(n) ĝ(n) and the total variance tr Cov(ĝ) = Σ_n Pr(n) |ĝ(n) - E ĝ|² are exact up to
floating point. PAFT's resampling is integrated out in closed form (:func:`paft_conditional`): given the pool, its K multinomial
draws have E[n_m] = K w_m / Σw and Cov(n) = K (diag(p) - p pᵀ), p_m = w_m / Σw (Proposition D.3's
identity and the law of total variance of Proposition D.4).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from sim.latent import LatentRationale
from tsallis import EstimatorOptions, compute_likelihood_weights, compute_weights


@dataclass(frozen=True)
class Pools:
    """Every multiset of M draws from L outcomes: ``outcome`` (C, M) sorted outcome indices, ``prob`` (C,)."""

    outcome: np.ndarray
    prob: np.ndarray


def enumerate_pools(outcome_probs: np.ndarray, m: int) -> Pools:
    """All C(M + L - 1, L - 1) pools of M i.i.d. draws from ``outcome_probs`` (L,) with their probabilities."""
    probs = np.asarray(outcome_probs, dtype=np.float64)
    outcome = np.array(list(itertools.combinations_with_replacement(range(len(probs)), m)), dtype=np.int64)  # (C, M)
    counts = np.stack([np.sum(outcome == l, axis=1) for l in range(len(probs))], axis=1)  # (C, L)
    log_coefficient = math.lgamma(m + 1) - np.sum([[math.lgamma(c + 1) for c in row] for row in counts], axis=1)
    with np.errstate(divide="ignore"):
        log_prob = log_coefficient + np.sum(np.where(counts > 0, counts * np.log(probs), 0.0), axis=1)
    return Pools(outcome=outcome, prob=np.exp(log_prob))


@dataclass(frozen=True)
class PoolMoments:
    """Exact mean (D,) and total variance tr Cov of an estimator over every pool."""

    mean: np.ndarray
    variance: float


def moments(estimates: np.ndarray, prob: np.ndarray, conditional_variance: np.ndarray | None = None) -> PoolMoments:
    """Mean and total variance of per-pool estimates (C, D) with probabilities (C,); ``conditional_variance`` (C,)
    adds E[tr Var(ĝ | pool)] (the law of total variance) for an estimator with its own randomness given the pool."""
    mean = prob @ estimates
    variance = float(prob @ np.sum((estimates - mean) ** 2, axis=1))
    if conditional_variance is not None:
        variance += float(prob @ conditional_variance)
    return PoolMoments(mean=mean, variance=variance)


def _options(q: float, **settings) -> EstimatorOptions:
    return EstimatorOptions(q=q, **settings)


def likelihood_estimates(toy: LatentRationale, psi: np.ndarray, pools: Pools, estimator: str, q: float,
                         **settings) -> np.ndarray:
    """ĝ (C, D) of the likelihood form of ``estimator`` on every pool of rationales (core coefficients)."""
    z = pools.outcome  # (C, M)
    score, answer = compute_likelihood_weights(estimator, toy.log_answer_likelihood(psi)[z], _options(q, **settings))
    return (np.einsum("cm,cmd->cd", score, toy.score_rationale(psi)[z])
            + np.einsum("cm,cmd->cd", answer, toy.score_answer(psi)[z]))


def paft_conditional(toy: LatentRationale, psi: np.ndarray, pools: Pools, q: float, num_resamples: int,
                     normalize: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Mean and per-coordinate variance (C, D) each of likelihood-form PAFT given each pool, over its K multinomial
    resamples (Eq. 14).

    Given the pool, ĝ = a Σ_m n_m f_m with a = w̄^(1-q)/(N_q K), f_m = ∇log p(z_m, y*) and
    n ~ Multinomial(K, p), p = w/Σw: E[ĝ | pool] = a K Σ_m p_m f_m, which is the plug-in GARL (Proposition D.3),
    and Var(ĝ_d | pool) = a² K (Σ_m p_m f_md² - (Σ_m p_m f_md)²).
    """
    z = pools.outcome
    w = toy.answer_likelihood(psi)[z]  # (C, M)
    f = toy.score_rationale(psi)[z] + toy.score_answer(psi)[z]  # (C, M, D)
    m = z.shape[1]
    p = w / w.sum(axis=1, keepdims=True)
    norm = m**q if normalize == "m_q" else 1.0
    a = (w.mean(axis=1) ** (1.0 - q) / (norm * num_resamples))[:, None]  # (C, 1)
    posterior_mean = np.einsum("cm,cmd->cd", p, f)
    variance = a**2 * num_resamples * (np.einsum("cm,cmd->cd", p, f**2) - posterior_mean**2)
    return a * num_resamples * posterior_mean, variance


def paft_moments(toy: LatentRationale, psi: np.ndarray, pools: Pools, q: float, num_resamples: int,
                 normalize: str = "none") -> PoolMoments:
    """Exact mean and total variance of likelihood-form PAFT over every pool and its resampling: the law of total
    variance over :func:`paft_conditional` (Proposition D.4: Var(PAFT) = Var(GARL) + E[Var(PAFT | pool)])."""
    mean, variance = paft_conditional(toy, psi, pools, q, num_resamples, normalize)
    return moments(mean, pools.prob, variance.sum(axis=1))


def answer_outcomes(toy: LatentRationale, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sampled-answer outcomes (z, ŷ correct?) of the toy: probabilities (2K,) = (π w, π (1 - w)), rewards
    (2K,) = (1, 0) and joint scores (2K, D) = ∇log π(z) + ∇log p(ŷ | z)."""
    pi, w = toy.prior(psi), toy.answer_likelihood(psi)
    probs = np.concatenate([pi * w, pi * (1.0 - w)])
    rewards = np.concatenate([np.ones(toy.k), np.zeros(toy.k)])
    rationale = toy.score_rationale(psi)
    scores = np.concatenate([rationale + toy.score_answer(psi, correct=True),
                             rationale + toy.score_answer(psi, correct=False)])
    return probs, rewards, scores


def sampled_answer_moments(toy: LatentRationale, psi: np.ndarray, m: int, estimator: str, q: float,
                           **settings) -> PoolMoments:
    """Exact moments of the sampled-answer form (core ``compute_weights`` on 0/1 rewards) over every pool of M
    (rationale, answer) draws."""
    probs, rewards, scores = answer_outcomes(toy, psi)
    pools = enumerate_pools(probs, m)
    weights = compute_weights(estimator, rewards[pools.outcome], _options(q, **settings))  # (C, M)
    return moments(np.einsum("cm,cmd->cd", weights, scores[pools.outcome]), pools.prob)


def weight_moments(toy: LatentRationale, psi: np.ndarray) -> tuple[float, np.ndarray]:
    """(Var(w), Cov(w f, w)) of one draw, the inputs of Theorem 6.1: w = w_z, f = ∇log p(z, y*), z ~ π."""
    pi, w = toy.prior(psi), toy.answer_likelihood(psi)
    p = float(pi @ w)
    f = toy.score_rationale(psi) + toy.score_answer(psi)  # (K, D)
    grad_p = (pi * w) @ f
    return float(pi @ w**2 - p**2), (pi * w**2) @ f - p * grad_p
