"""Exact moments of PAFT with a replay buffer, by enumeration, on toys whose every sequence is listed.

For a policy over S sequences (a K-armed softmax, or the autoregressive toy's V^L sequences) at a fixed
θ and a fixed buffer y_1..y_B, every one of the S^M fresh draws (z_1..z_M) is listed with its
probability Π_m p_θ(z_m); each gives a union of N = M + B elements whose ratios ρ and estimate P̂
come from :func:`tsallis.replay.replay_proposal`, and every one of the N^K outcomes of PAFT's
multinomial resampling (K iid draws with probabilities ω_i / Σω, ω = ρ r) is listed with its
probability. The estimate of one outcome is::

    ĝ = P̂^(1-q) · (1/K) Σ_k ∇log p_θ(ũ_k)                  (0 when Σω = 0)

so E[ĝ] and Var[ĝ] (per coordinate) are finite sums, exact up to rounding. They are compared, in
``tests/test_replay.py``, with values derived without the enumeration:

* E[P̂] = P and E[Ĝ] = ∇P for every buffer (the mixture identity of :mod:`tsallis.replay`);
* at q = 0, E[ĝ] = ∇P and the closed-form variance of :func:`q0_moments`;
* with an empty buffer, the binomial sums of :func:`tsallis.bias.exact_moments` (on-policy PAFT);
* with one correct sequence that is stored, the one-dimensional sum of :func:`single_success_moments`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import log_softmax
from scipy.stats import binom

from sim.autoregressive import AutoregressivePolicy
from sim.policies import KArmedSoftmax
from tsallis.qlog import amplification
from tsallis.replay import replay_proposal

MAX_OUTCOMES = 2_000_000
"""The largest number of (fresh draw, resampling outcome) pairs an enumeration may list."""


@dataclass(frozen=True)
class FinitePolicy:
    """A policy over S listed sequences at one θ."""

    logp: np.ndarray
    """(S,) log p_θ(z)."""
    rewards: np.ndarray
    """(S,) r(z) in [0, 1]."""
    scores: np.ndarray
    """(S, D) ∇_θ log p_θ(z)."""

    @classmethod
    def of(cls, policy: KArmedSoftmax | AutoregressivePolicy, theta: np.ndarray) -> FinitePolicy:
        """The listed form of a K-armed softmax (arms are the sequences) or of the autoregressive toy."""
        theta = np.asarray(theta, dtype=np.float64)
        if isinstance(policy, KArmedSoftmax):
            pi = policy.probs(theta)
            return cls(log_softmax(theta), policy.mask, np.eye(policy.num_arms) - pi)
        if isinstance(policy, AutoregressivePolicy):
            every = np.arange(len(policy.sequences))
            return cls(policy.log_probs(theta), policy.rewards, policy.scores(theta, every))
        raise ValueError(f"policy must be a KArmedSoftmax or an AutoregressivePolicy, got {type(policy).__name__}")

    @property
    def probs(self) -> np.ndarray:
        return np.exp(self.logp)

    @property
    def success(self) -> float:
        """P = Σ_z p(z) r(z)."""
        return float(self.probs @ self.rewards)

    @property
    def grad(self) -> np.ndarray:
        """∇P = Σ_z p(z) r(z) ∇log p(z), (D,)."""
        return (self.probs * self.rewards) @ self.scores

    def target(self, q: float) -> np.ndarray:
        """P^(-q) ∇P, (D,)."""
        return self.success ** (-q) * self.grad

    def buffer_counts(self, buffer: Sequence[int]) -> np.ndarray:
        """n(z), the buffer's copies of each sequence, (S,)."""
        counts = np.zeros(len(self.logp))
        np.add.at(counts, np.asarray(buffer, dtype=np.int64), 1.0)
        return counts


@dataclass(frozen=True)
class ReplayMoments:
    """Exact moments of PAFT on the union of fresh draws and a fixed buffer."""

    mean: np.ndarray
    """(D,) E[ĝ]."""
    variance: np.ndarray
    """(D,) Var[ĝ] per coordinate (fresh draws and resampling)."""
    p_hat_mean: float
    """E[P̂]."""
    p_hat_variance: float
    """Var[P̂]."""
    g_hat_mean: np.ndarray
    """(D,) E[Ĝ], Ĝ = (1/N) Σ_i ρ_i r_i ∇log p(u_i)."""


def union_moments(
    weights: np.ndarray,
    rewards: np.ndarray,
    logp: np.ndarray,
    sequence_ids: np.ndarray,
    scores: np.ndarray,
    num_fresh: int,
    q: float,
    num_resamples: int,
    p_hat: np.ndarray | None = None,
) -> ReplayMoments:
    """Moments of PAFT over T listed unions, each with probability ``weights[t]``, listing every resampling outcome.

    Parameters
    ----------
    weights : (T,) probabilities of the unions (summing to 1).
    rewards, logp, sequence_ids : (T, N) per element, as :func:`tsallis.replay.replay_proposal` takes them.
    scores : (T, N, D) ∇log p_θ of each element.
    num_fresh : M.
    q : Tsallis index in [0, 1].
    num_resamples : K >= 1.
    p_hat : optional (T, 1) estimate of P for the attenuation instead of the mixture's P̂ (to study others).
    """
    union, n, dim = scores.shape
    outcomes = list(itertools.product(range(n), repeat=num_resamples))  # (R, K) resampled element indices
    if union * len(outcomes) > MAX_OUTCOMES:
        raise ValueError(f"{union} unions x {len(outcomes)} resampling outcomes exceed {MAX_OUTCOMES}")
    proposal = replay_proposal(rewards, logp, sequence_ids, num_fresh)
    ratio = np.exp(proposal.proposal_logw)  # ρ, (T, N)
    omega = ratio * rewards  # (T, N)
    total = omega.sum(axis=1, keepdims=True)
    chance = np.divide(omega, total, out=np.zeros_like(omega), where=total > 0)  # (T, N); 0 when Σω = 0
    estimate = proposal.p_hat if p_hat is None else p_hat  # (T, 1)
    attenuation = estimate * amplification(estimate, q)  # P̂^(1-q), (T, 1)
    index = np.array(outcomes)  # (R, K)
    outcome_prob = np.prod(chance[:, index], axis=2)  # (T, R)
    outcome_score = scores[:, index, :].mean(axis=2)  # (T, R, K, D) -> (T, R, D)
    g = attenuation[:, :, None] * outcome_score  # (T, R, D)
    joint = weights[:, None] * outcome_prob  # (T, R)
    mean = np.einsum("tr,trd->d", joint, g)
    second = np.einsum("tr,trd->d", joint, g * g)
    g_hat = np.einsum("tn,tnd->td", omega, scores) / n  # (T, D)
    p_mean = float(weights @ proposal.p_hat[:, 0])
    return ReplayMoments(
        mean=mean,
        variance=np.maximum(second - mean * mean, 0.0),
        p_hat_mean=p_mean,
        p_hat_variance=max(float(weights @ proposal.p_hat[:, 0] ** 2) - p_mean**2, 0.0),
        g_hat_mean=weights @ g_hat,
    )


def fresh_unions(policy: FinitePolicy, buffer: Sequence[int], num_fresh: int) -> tuple[np.ndarray, np.ndarray]:
    """Every fresh draw followed by the buffer: (probabilities (S^M,), sequence indices (S^M, M + B))."""
    size = len(policy.logp)
    draws = np.array(list(itertools.product(range(size), repeat=num_fresh)), dtype=np.int64)  # (S^M, M)
    weights = np.exp(policy.logp[draws].sum(axis=1))  # Π_m p(z_m)
    stored = np.broadcast_to(np.asarray(buffer, dtype=np.int64), (len(draws), len(buffer)))  # (S^M, B)
    return weights, np.hstack([draws, stored])


def replay_paft_moments(policy: FinitePolicy, buffer: Sequence[int], num_fresh: int, q: float,
                        num_resamples: int = 1) -> ReplayMoments:
    """Exact moments of PAFT with replay: every fresh draw of M sequences, the fixed ``buffer`` (sequence
    indices, repeats allowed), every outcome of the K multinomial resamples."""
    weights, ids = fresh_unions(policy, buffer, num_fresh)
    return union_moments(weights, policy.rewards[ids], policy.logp[ids], ids, policy.scores[ids], num_fresh, q,
                         num_resamples)


def q0_moments(policy: FinitePolicy, buffer: Sequence[int], num_fresh: int,
               num_resamples: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """Closed-form (E[ĝ], Var[ĝ] per coordinate, Var[P̂]) of replay PAFT at q = 0, from sums over the S sequences.

    Derivation. With h(z) = p r / (M p + n) (n = buffer copies), P̂ = Σ_m h(z_m) + Σ_b h(y_b),
    Ĝ = Σ_m h s (z_m) + Σ_b h s (y_b) and Q = Σ_i h_i s_i² likewise; only the M iid fresh terms vary.
    At q = 0, ĝ = P̂ (1/K) Σ_k s(ũ_k) with ũ ~ h / P̂, so E[ĝ | union] = Ĝ and
    Var[ĝ | union] = (P̂ Q - Ĝ²) / K. With E[Ĝ] = ∇P, E[P̂] = P and E[Q] = E_p[r s²] (the mixture
    identity)::

        E[ĝ]   = ∇P
        Var[ĝ] = M Var_p[h s] (1 - 1/K) + (M Cov_p[h, h s²] + P E_p[r s²] - (∇P)²) / K
        Var[P̂] = M Var_p[h]
    """
    p, r, s = policy.probs, policy.rewards, policy.scores
    h = p * r / (num_fresh * p + policy.buffer_counts(buffer))  # (S,)
    hs, hs2 = h[:, None] * s, h[:, None] * s * s  # (S, D)
    var_hs = p @ (hs * hs) - (p @ hs) ** 2
    cov = p @ (h[:, None] * hs2) - (p @ h) * (p @ hs2)
    grad = policy.grad
    variance = num_fresh * var_hs * (1 - 1 / num_resamples) + (
        num_fresh * cov + policy.success * ((p * r) @ (s * s)) - grad * grad) / num_resamples
    return grad, variance, float(num_fresh * (p @ (h * h) - (p @ h) ** 2))


def single_success_moments(p: float, num_fresh: int, q: float, buffered: bool) -> tuple[float, float]:
    """(E, Var) of the attenuation P̂^(1-q) when one sequence y* is the only success, so ĝ = P̂^(1-q) ∇log p(y*).

    Every resample is a copy of y*, so the resampling adds no variance. With S ~ Binomial(M, P) fresh copies
    of y*: on-policy P̂ = S / M; with y* stored once, each copy (fresh or stored) has h = P / (M P + 1) and
    P̂ = (S + 1) P / (M P + 1). Divided by P^(1-q), the mean is E[ĝ] / (P^(-q) ∇P): about (M P)^q
    on-policy and -> 1 with the buffer as M P -> 0.
    """
    s = np.arange(num_fresh + 1)
    pmf = binom.pmf(s, num_fresh, p)
    p_hat = (s + 1) * p / (num_fresh * p + 1) if buffered else s / num_fresh
    value = p_hat * amplification(p_hat, q)
    mean = float(pmf @ value)
    return mean, max(float(pmf @ value**2) - mean**2, 0.0)
