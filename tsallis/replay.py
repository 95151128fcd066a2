"""PAFT with a replay buffer: the importance weights of fresh samples and stored successes under one mixture.

Setting
-------
For one prompt, M fresh samples z_1..z_M ~ p_θ are drawn at this step and a buffer holds B stored
sequences y_1..y_B (past successes), fixed *before* the fresh draws. PAFT resamples from their union
u_1..u_N, N = M + B (columns 0..M-1 fresh, M..N-1 stored).

The proposal
------------
The union is the balance-heuristic multiple-importance sample (Veach and Guibas 1995; Owen and Zhou
2000) of the mixture of the policy and the buffer's empirical pmf::

    q(z) = α p_θ(z) + (1 - α) b(z),   α = M / N,   b(z) = n(z) / B,   n(z) = #{b : y_b = z}
         = (M p_θ(z) + n(z)) / N

and every element, fresh or stored, gets the importance ratio::

    ρ(u) = p_θ(u) / q(u) = N p_θ(u) / (M p_θ(u) + n(u))            in (0, N/M]

where n(u) counts the buffer's copies of u's sequence by exact match: a fresh sample that equals a
stored sequence has n >= 1 too (dropping that match biases everything below). A fresh sample not in
the buffer has ρ = N/M whatever its probability; only the current p_θ of the stored sequences (and of
fresh samples that match them) is needed, never the probabilities of the old policies that made them.

Identity (exact, for any fixed buffer, any M >= 1 and any f)::

    E[(1/N) Σ_i ρ(u_i) f(u_i)] = M Σ_z p_θ f / (M p_θ + n) + Σ_z n p_θ f / (M p_θ + n) = Σ_z p_θ(z) f(z)

(the fresh part is random, the stored part is not). With the reward r and the score s = ∇ log p_θ:

    P̂ = (1/N) Σ_i ρ_i r_i,          E[P̂] = P                (returned as ``p_hat``)
    Ĝ = (1/N) Σ_i ρ_i r_i s_i,      E[Ĝ] = ∇P

PAFT on the union (``tsallis.estimators.paft`` with ``proposal_logw = log ρ`` and ``p_hat = P̂``)
resamples K elements with probabilities ω_i / Σω, ω_i = ρ_i r_i, and scales by P̂^(1-q)/K, so
ĝ = P̂^(1-q) (1/K) Σ_k s(ũ_k) and E[ĝ | union] = P̂^(-q) Ĝ (Σω = N P̂). What it estimates:

* q = 0: E[ĝ] = ∇P exactly, for every buffer (the mixture estimate of P is what makes this hold; the
  self-normalised Σω / Σρ, PAFT's default, would not).
* q > 0: E[ĝ] = E[P̂^(-q) Ĝ], biased for P^(-q) ∇P like on-policy PAFT. With h(z) = p_θ r / (M p_θ + n),
  P̂ = Σ_m h(z_m) + Σ_b h(y_b), so Var P̂ = M Var_p[h] and Cov(P̂, Ĝ) = M Cov_p[h, h s], and the delta
  method gives E[ĝ] ≈ P^(-q) ∇P - q P^(-q-1) Cov(P̂, Ĝ) + q (q+1)/2 · P^(-q-2) Var(P̂) ∇P. An empty
  buffer (h = r/M) gives back the on-policy bias -q(1-q)(1-P)/(2 M P^(q+1)) ∇P. A buffer that holds
  the successes makes h = O(p_θ) instead of O(1/M) on them: P̂ is nearly deterministic, the bias
  vanishes and the amplification is no longer capped at M^q. For one correct sequence y* that is
  stored, P̂ = (S + 1) P / (M P + 1) with S ~ Binomial(M, P), and E[ĝ] / (P^(-q) ∇P) =
  E[((S + 1) / (M P + 1))^(1-q)] -> 1 as M P -> 0, against (M P)^q for on-policy PAFT
  (``sim.replay`` checks these by enumeration).
* B = 0 is on-policy PAFT exactly: ρ = 1 and P̂ = mean(r).
* P̂ is an importance estimate: it lies in [0, N/M · max r] and can exceed 1 (the attenuation then
  exceeds 1); it is 0 only when no element has r ρ > 0.

Requirements: the buffer must not depend on this step's fresh draws (add the step's successes after
the weights are computed); log p_θ must be the log-probability of the distribution the fresh samples
were drawn from (temperature-scaled, no top-p truncation) and the same quantity for stored sequences,
equal for equal sequences. Everything is computed in float64: a stored sequence with log p_θ below
about -745 contributes 0 to P̂.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from tsallis._arrays import as_float_array, as_like, check_groups, to_numpy


@dataclass(frozen=True)
class ReplayProposal:
    """The inputs PAFT needs for a union of fresh samples and stored successes (see the module docstring)."""

    proposal_logw: Any
    """(G, N) float64: log ρ_i = log p_θ(u_i) - log q(u_i); an empty slot gets its row's largest value (it is
    never resampled and leaves PAFT's per-row normalisation unchanged). Pass as ``proposal_logw``."""
    p_hat: Any
    """(G, 1) float64: P̂_g = (1/N_g) Σ_i ρ_i r_i, unbiased for P. Pass as ``p_hat``."""
    multiplicity: Any
    """(G, N) float64: n(u_i), the buffer's copies of element i's sequence (0 in empty slots)."""


def _integer_ids(sequence_ids: Any, shape: tuple[int, ...]) -> np.ndarray:
    if array_api_compat.is_torch_array(sequence_ids):
        import torch

        if sequence_ids.dtype == torch.bool or sequence_ids.is_floating_point() or sequence_ids.is_complex():
            raise ValueError(f"sequence_ids must be integers, got dtype {sequence_ids.dtype}")
        ids = sequence_ids.detach().cpu().numpy()
    else:
        ids = np.asarray(sequence_ids)
        if ids.dtype == np.bool_ or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"sequence_ids must be integers, got dtype {ids.dtype}")
    if ids.shape != shape:
        raise ValueError(f"sequence_ids must have the rewards' shape {shape}, got {ids.shape}")
    return ids.astype(np.int64)


def _valid_mask(valid: Any, shape: tuple[int, ...], num_fresh: int) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    mask = valid.detach().cpu().numpy() if array_api_compat.is_torch_array(valid) else np.asarray(valid)
    if mask.dtype != np.bool_:
        raise ValueError(f"valid must be a boolean mask, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"valid must have the rewards' shape {shape}, got {mask.shape}")
    if not mask[:, :num_fresh].all():
        raise ValueError(f"the {num_fresh} fresh columns must all be valid; only stored slots may be empty")
    return mask


def replay_proposal(rewards: Any, logp: Any, sequence_ids: Any, num_fresh: int, valid: Any = None) -> ReplayProposal:
    """Importance ratios and the estimate of P for PAFT on the union of M fresh samples and B stored ones.

    Formulation (module docstring): with N_g = M + B_g valid elements in row g and n_i the number of valid
    stored elements whose sequence id equals element i's::

        log ρ_i = log N_g + log p_i - log(M p_i + n_i)       (computed as a logaddexp: no overflow)
        P̂_g     = (1/N_g) Σ_i valid_i · r_i ρ_i

    Parameters
    ----------
    rewards : (G, N) array or tensor in [0, 1]
        Columns 0..M-1: the fresh samples' rewards; M..N-1: the stored sequences' rewards; 0 in empty slots.
    logp : (G, N) array or tensor, finite
        log p_θ(u) under the current policy: the fresh samples' (the sampling distribution's) and the stored
        sequences' recomputed this step. Empty slots: any finite value (ignored).
    sequence_ids : (G, N) integers
        Equal within a row exactly when the token sequences are equal (across rows they mean nothing).
    num_fresh : int, 1 <= M <= N
        M, the number of fresh columns.
    valid : optional (G, N) bool
        False marks an empty stored slot (rows have different buffer sizes B_g); fresh columns must be True.
        None: every slot is filled.

    Returns
    -------
    :class:`ReplayProposal` in the rewards' backend (and device), float64. G = 0 gives (0, N) and (0, 1).
    """
    values, xp = as_float_array(rewards, "rewards")
    check_groups(values)
    shape = tuple(values.shape)
    if isinstance(num_fresh, bool) or not isinstance(num_fresh, numbers.Integral) or not 1 <= num_fresh <= shape[1]:
        raise ValueError(f"num_fresh must be an integer in [1, {shape[1]}] (the rewards' columns), got {num_fresh!r}")
    log_p = to_numpy(as_float_array(logp, "logp")[0])
    if log_p.shape != shape:
        raise ValueError(f"logp must have the rewards' shape {shape}, got {log_p.shape}")
    ids = _integer_ids(sequence_ids, shape)
    mask = _valid_mask(valid, shape, num_fresh)
    r = to_numpy(values)
    nonzero = np.argwhere(~mask & (r != 0))
    if nonzero.size:
        g, i = (int(v) for v in nonzero[0])
        raise ValueError(f"rewards must be 0 in empty slots (valid False), got rewards[{g}, {i}]={float(r[g, i])!r}")
    if not np.all(np.isfinite(log_p[mask])):
        raise ValueError("logp must be finite in the filled slots, got a NaN or inf entry")

    log_p = np.where(mask, log_p, 0.0)
    stored_ids, stored_mask = ids[:, num_fresh:], mask[:, num_fresh:]  # (G, B)
    count = np.sum((ids[:, :, None] == stored_ids[:, None, :]) & stored_mask[:, None, :], axis=2)  # n_i, (G, N)
    count = np.where(mask, count, 0).astype(np.float64)
    size = num_fresh + stored_mask.sum(axis=1, keepdims=True).astype(np.float64)  # N_g, (G, 1)
    with np.errstate(divide="ignore"):  # log 0 = -inf for n = 0: logaddexp(a, -inf) = a
        log_q = np.logaddexp(np.log(num_fresh) + log_p, np.log(count))  # log(M p + n), (G, N)
    log_rho = np.log(size) + log_p - log_q  # (G, N)
    p_hat = np.sum(np.where(mask, r * np.exp(log_rho), 0.0), axis=1, keepdims=True) / size  # (G, 1)
    row_max = np.max(np.where(mask, log_rho, -np.inf), axis=1, keepdims=True)  # (G, 1); fresh columns are valid
    log_w = np.where(mask, log_rho, row_max)
    like = values if values.dtype == xp.float64 else xp.astype(values, xp.float64)
    return ReplayProposal(as_like(log_w, like, xp), as_like(p_hat, like, xp), as_like(count, like, xp))
