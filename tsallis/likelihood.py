"""The paper's estimators: GARL and PAFT with likelihood weights w_m = p_θ(y* | x*, z_m) (Section 6).

Setting
-------
For each of G prompts x*_g with gold answer y*_g, M rationales z_gm ~ p_θ(· | x*_g) are sampled and the
gold answer is teacher-forced after each, giving the likelihood weights::

    w_m = p_θ(y* | x*, z_m) in [0, 1],   w̄ = (1/M) Σ_m w_m  (unbiased for P_θ = p_θ(y* | x*)),
    w̄_¬m = (1/(M - 1)) Σ_{j≠m} w_j        (the leave-one-out mean)

Input is ``log_w`` (G, M) = log w_m (<= 0, -inf for an answer the policy cannot produce). Since
∇ log p(z_m, y* | x*) = ∇ log p(z_m | x*) + ∇ log p(y* | x*, z_m), every estimator here is returned as
two (G, M) coefficient arrays, :class:`LikelihoodWeights` ``(score, answer)``, and the estimate of
∇ ln_q P for group g (an ascent direction; the paper's ĝ is its negative, a descent direction on
ℓ_q = -ln_q P) is::

    ĝ_g = Σ_m score[g, m] · ∇ log p_θ(z_gm | x*_g) + answer[g, m] · ∇ log p_θ(y*_g | x*_g, z_gm)

so a trainer minimises -(1/G) Σ_g Σ_m [score · log p(z | x) + answer · log p(y* | x, z)] with the
coefficients detached.

* GARL (Eqs. 9 and 12, Algorithm 1): the plug-in w̄^(-q) (1/M) Σ_m w_m ∇ log p(z_m, y* | x*), whose
  score coefficient w_m / w̄^q may be centred by a baseline that does not depend on z_m: "loo"
  subtracts (w̄_¬m)^(1-q) (Eq. 12, the paper's RLOO control variate; Proposition 6.2: the expectation
  is unchanged for every M), "none" keeps the plug-in (Eq. 9/20). The pathwise coefficient is
  w_m / w̄^q either way (``pathwise=False`` zeroes it: the ablation the paper names in Section 7.3).
* PAFT (Eq. 14, Algorithm 2): K indices r_k drawn with probabilities w_m / Σ_j w_j, then SFT on
  (z_{r_k}, y*) scaled by w̄^(1-q) / K: score = answer = n_m w̄^(1-q) / K with n_m the resample counts.
  E[PAFT | pool] = plug-in GARL exactly (Proposition D.3).
* Normalisation: Algorithms 1 and 2 divide by N_q = M^q (``normalize="m_q"``), which bounds the effective
  reward w_m / (M^q w̄^q) = w_m / (Σ_j w_j)^q by 1 and acts as a q-dependent learning-rate rescaling;
  ``normalize="none"`` gives the mathematical estimators of Eqs. 12 and 14.

Numerics: everything is computed from log w: log w̄ by a max-shifted logsumexp, w_m / (N_q w̄^q) as
exp(log w_m - q log(N_q w̄)), the leave-one-out means by a logsumexp over the other samples, so there is
no overflow, NaN or lost signal for log w down to -1e4 or -inf in float64, float32 and (computed in
float32) float16/bfloat16. A group whose weights are all -inf (w̄ = 0) gets all-zero coefficients.
Coefficients never carry the input's autograd graph.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from tsallis._arrays import (
    as_like,
    as_working_array,
    check_choice,
    check_flag,
    check_group_q,
    check_integer,
    to_dtype,
    to_numpy,
)
from tsallis.resampling import resample_counts

LIKELIHOOD_BASELINES = ("loo", "none")
"""Baselines that keep GARL's expectation with likelihood weights (b_m independent of z_m)."""
NORMALIZATIONS = ("m_q", "none")
"""N_q = M^q (Algorithms 1 and 2) or 1 (Eqs. 12 and 14)."""


class LikelihoodWeights(NamedTuple):
    """Coefficients (G, M) of ∇ log p_θ(z_m | x*) (``score``) and of ∇ log p_θ(y* | x*, z_m) (``answer``)."""

    score: Any
    answer: Any


def check_log_weights(log_w: Any, name: str = "log_w") -> tuple[Any, Any, Any]:
    """(log_w detached, in at least float32; its namespace; the dtype to return in), or ``ValueError``.

    ``log_w`` must have shape (G, M) with M >= 1 and entries in [-inf, 0]: NaN, +inf or a positive
    entry (a probability above 1) is refused with the offending value.
    """
    log_w, xp, dtype = as_working_array(log_w, name)
    if hasattr(log_w, "detach"):
        log_w = log_w.detach()
    shape = tuple(log_w.shape)
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"{name} must have shape (groups, M) with M >= 1, got shape {shape}")
    values = to_numpy(log_w)
    bad = (values != values) | (values > 0.0)  # NaN, or log of a probability above 1 (+inf included)
    if bad.any():
        raise ValueError(f"{name} must hold log-probabilities <= 0 (or -inf), got {name}={float(values[bad].flat[0])!r}")
    return log_w, xp, dtype


def log_sum(log_w: Any, xp: Any) -> Any:
    """log Σ_m exp(log_w[g, m]) per row (G, M) -> (G, 1), -inf for a row of -inf, by a max-shifted sum."""
    peak = xp.max(log_w, axis=1, keepdims=True)  # (G, 1)
    finite = peak > -math.inf
    shift = xp.where(finite, peak, xp.zeros_like(peak))
    total = xp.sum(xp.exp(log_w - shift), axis=1, keepdims=True)  # >= 1 where finite
    safe = xp.where(finite, total, xp.ones_like(total))
    return xp.where(finite, xp.log(safe) + shift, peak)


def leave_one_out_log_sum(log_w: Any, xp: Any) -> Any:
    """log Σ_{j≠m} exp(log_w[g, j]) for every m (G, M) -> (G, M); -inf when the others are all -inf.

    Computed as a logsumexp over the M - 1 others (an O(M²) mask), never as log(Σ - w_m), which cancels
    when w_m dominates the group.
    """
    g, m = log_w.shape
    eye = as_like(np.eye(m), log_w, xp)  # (M, M)
    hide = xp.where(eye > 0, xp.full_like(eye, -math.inf), xp.zeros_like(eye))  # -inf on the diagonal
    others = log_w[:, None, :] + hide[None, :, :]  # (G, M, M): row m holds log w_j for j != m
    return xp.reshape(log_sum(xp.reshape(others, (g * m, m)), xp), (g, m))


def _log_norm(m: int, q: Any, normalize: str) -> Any:
    """log N_q: q log M for "m_q", 0 for "none"."""
    check_choice("normalize", normalize, NORMALIZATIONS)
    return q * math.log(m) if normalize == "m_q" else q * 0.0


def _power(log_base: Any, exponent: Any, xp: Any) -> Any:
    """exp(exponent · log_base) = base^exponent, with 0^0 = 1 and 0^e = 0 for e > 0 (log_base = -inf)."""
    finite = log_base > -math.inf
    inside = xp.exp(xp.where(finite, log_base, xp.zeros_like(log_base)) * exponent)
    at_zero = xp.astype(exponent == 0, log_base.dtype) + xp.zeros_like(log_base)  # 1 where e = 0, else 0
    return xp.where(finite, inside, at_zero)


def garl_likelihood(log_w: Any, q: Any, baseline: str = "loo", normalize: str = "m_q", pathwise: bool = True) -> LikelihoodWeights:
    """GARL with likelihood weights (Eq. 12 with ``baseline="loo"``, Eq. 9 with ``"none"``; Algorithm 1).

    Formulation, per group, with N_q = M^q ("m_q") or 1 ("none")::

        answer_m = (w_m / w̄^q) / (M N_q)                     (pathwise; 0 with pathwise=False)
        score_m  = c_m / (M N_q),   c_m = w_m / w̄^q - b_m,
        b_m = (w̄_¬m)^(1-q)  ("loo"; 0 when M = 1)   or   b_m = 0  ("none")

    Special cases (Proposition D.2): q = 0 with "none" is Rao–Blackwellized REINFORCE (score = answer =
    w_m / M), with "loo" RB-RLOO (score (w_m - w̄_¬m)/M); q = 1 is IWAE / self-normalised importance
    sampling, answer_m = w_m / Σ_j w_j, and with "loo" the centred weights w_m / w̄ - 1 sum to 0. With
    binary w (a verifier's 0/1 reward on a deterministic answer) the score coefficient with "none" is
    the sampled-answer GARL weight r_m P̂^(-q) / M. Bias: Theorem 6.1 (see :mod:`tsallis.bias`).

    Parameters
    ----------
    log_w : (G, M) log p_θ(y* | x*, z_m), <= 0, -inf allowed.
    q : float, or array of shape (G, 1) (one q per group), in [0, 1].
    baseline : "loo" (the paper's) or "none".
    normalize : "m_q" (Algorithm 1) or "none" (Eq. 12).
    pathwise : keep the gold-answer term (True) or zero it (the pathwise-zeroed ablation).

    Returns
    -------
    LikelihoodWeights of two (G, M) arrays in ``log_w``'s type and dtype; all-zero for a group of -inf.
    """
    log_w, xp, dtype = check_log_weights(log_w)
    check_group_q(q, log_w.shape[0])
    if baseline == "mean":
        raise ValueError('baseline="mean" does not keep GARL\'s expectation with likelihood weights (w̄ depends on '
                         'w_m); use "loo" (Eq. 12) or "none" (Eq. 9)')
    check_choice("baseline", baseline, LIKELIHOOD_BASELINES)
    check_flag("pathwise", pathwise)
    m = log_w.shape[1]
    q_arr = as_like(q, log_w, xp)
    log_total = log_sum(log_w, xp)  # (G, 1) log Σ w
    alive = log_total > -math.inf  # (G, 1): some w > 0
    log_mean = xp.where(alive, log_total - math.log(m), xp.zeros_like(log_total))  # log w̄ (0 where w̄ = 0)
    log_m_norm = _log_norm(m, q_arr, normalize) + math.log(m)  # log(M N_q)
    log_scale = q_arr * log_mean + log_m_norm  # log(M N_q w̄^q)
    amplified = xp.where(alive, xp.exp(log_w - log_scale), xp.zeros_like(log_w))  # w_m / (M N_q w̄^q)
    score = amplified
    if baseline == "loo" and m > 1:
        log_loo_mean = leave_one_out_log_sum(log_w, xp) - math.log(m - 1)  # (G, M) log w̄_¬m
        b = _power(log_loo_mean, 1.0 - q_arr, xp)  # (w̄_¬m)^(1-q), 1 at q = 1
        score = xp.where(alive, amplified - b * xp.exp(-log_m_norm), xp.zeros_like(log_w))
    answer = amplified if pathwise else xp.zeros_like(amplified)
    return LikelihoodWeights(to_dtype(score, dtype, xp), to_dtype(answer, dtype, xp))


def paft_likelihood(log_w: Any, q: Any, num_resamples: int | None, generator: Any, resampling: str = "multinomial",
                    normalize: str = "m_q") -> LikelihoodWeights:
    """PAFT with likelihood weights (Eq. 14, Algorithm 2): importance-resampled SFT on (z, y*).

    Formulation, per group::

        r_1..r_K ~ Categorical(w_1/Σw, ..., w_M/Σw),   n_m = #{k : r_k = m}
        score_m = answer_m = n_m · w̄^(1-q) / (N_q K)

    with N_q = M^q ("m_q", Algorithm 2) or 1 ("none", Eq. 14); K = ``num_resamples`` (None: K = M, as
    in the paper). Conditional on the pool, E[n_m] = K w_m / Σw, so E[PAFT | pool] is the plug-in GARL
    (no baseline, pathwise on) exactly (Proposition D.3), and Var(PAFT) >= Var(GARL) (Proposition D.4).
    q = 1 is EM / TRICE (uniform SFT on the resampled rationales), q = 0 SFT scaled by w̄. The
    resampling probabilities are computed as exp(log w_m - max_j log w_j), so a group of tiny weights
    still resamples; a group of -inf gets zero counts and zero coefficients.

    Parameters
    ----------
    log_w : (G, M) log p_θ(y* | x*, z_m), <= 0, -inf allowed.
    q : float or (G, 1) array in [0, 1].
    num_resamples : K >= 1, or None for K = M.
    generator : numpy Generator or torch.Generator supplying the resampling uniforms.
    resampling : "multinomial" or "systematic" (:mod:`tsallis.resampling`).
    normalize : "m_q" or "none".
    """
    log_w, xp, dtype = check_log_weights(log_w)
    check_group_q(q, log_w.shape[0])
    m = log_w.shape[1]
    k = m if num_resamples is None else num_resamples
    check_integer("num_resamples", k, 1)
    if generator is None:
        raise ValueError("paft needs generator= (a numpy Generator or torch.Generator) for its resampling, got None")
    q_arr = as_like(q, log_w, xp)
    log_total = log_sum(log_w, xp)  # (G, 1)
    alive = log_total > -math.inf
    peak = xp.max(log_w, axis=1, keepdims=True)
    ratios = xp.where(alive, xp.exp(log_w - xp.where(alive, peak, xp.zeros_like(peak))), xp.zeros_like(log_w))
    counts = resample_counts(ratios, k, generator, resampling, xp)  # (G, M), rows sum to K (0 if dead)
    log_mean = log_total - math.log(m)  # -inf where w̄ = 0: then the counts are 0
    attenuation = _power(log_mean, 1.0 - q_arr, xp) * xp.exp(-_log_norm(m, q_arr, normalize))  # w̄^(1-q) / N_q
    coefficient = xp.where(alive, counts * attenuation / k, xp.zeros_like(log_w))
    coefficient = to_dtype(coefficient, dtype, xp)
    return LikelihoodWeights(coefficient, coefficient)
