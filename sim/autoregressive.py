"""A small autoregressive policy whose P_θ is exact: every one of the V^L sequences is enumerated.

Model
-----
Tokens z_1..z_L in {0..V-1}, z_0 = BOS (index V). Position l draws z_l from a softmax over a table
row chosen by the previous token::

    p_θ(z) = Π_l softmax(θ[l, z_{l-1}, :])[z_l],          θ of shape (L, V+1, V), flattened to D

so log p_θ(z) = Σ_l θ[l, z_{l-1}, z_l] - Σ_l logsumexp θ[l, z_{l-1}, :], and the score is

    ∂ log p_θ(z) / ∂θ[l, a, b] = 1[z_{l-1} = a] (1[z_l = b] - softmax(θ[l, a, :])[b]).

The verifier accepts a sequence when at least ``min_count`` of its tokens equal ``answer``
(a property of the whole trajectory, as a final-answer check is). Then, by enumeration,

    P = Σ_z p_θ(z) r(z),    ∇P = Σ_z p_θ(z) r(z) ∇log p_θ(z),

exact up to floating point; V^L is kept <= 10^5.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from tsallis.qlog import amplification

MAX_SEQUENCES = 100_000


def _log_softmax(table: np.ndarray) -> np.ndarray:
    """log softmax over the last axis (plain numpy: scipy's logsumexp costs ~0.1 ms a call in this loop)."""
    shifted = table - table.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class AutoregressivePolicy:
    """Tabular bigram-by-position policy over V tokens and L positions, verifier "≥ min_count tokens = answer"."""

    vocab: int = 3
    length: int = 6
    answer: int = 0
    min_count: int = 4
    sequences: np.ndarray = field(init=False, repr=False)  # (S, L) every sequence
    rewards: np.ndarray = field(init=False, repr=False)  # (S,) r(z)
    transitions: np.ndarray = field(init=False, repr=False)  # (S, D) one-hot of (l, z_{l-1}, z_l)
    contexts: np.ndarray = field(init=False, repr=False)  # (S, L, V+1) one-hot of z_{l-1} per position
    visited: np.ndarray = field(init=False, repr=False)  # (S, L) flat index of (l, z_{l-1}, z_l) in θ

    def __post_init__(self) -> None:
        if self.vocab < 2 or self.length < 1:
            raise ValueError(f"need vocab >= 2 and length >= 1, got vocab={self.vocab}, length={self.length}")
        if self.vocab**self.length > MAX_SEQUENCES:
            raise ValueError(f"V^L = {self.vocab ** self.length} exceeds {MAX_SEQUENCES}: enumeration too large")
        if not 0 <= self.answer < self.vocab or not 1 <= self.min_count <= self.length:
            raise ValueError(f"answer must be in [0, {self.vocab}) and min_count in [1, {self.length}], "
                             f"got answer={self.answer}, min_count={self.min_count}")
        v, length = self.vocab, self.length
        seqs = np.array(list(itertools.product(range(v), repeat=length)), dtype=np.int64)  # (S, L)
        prev = np.hstack([np.full((len(seqs), 1), v), seqs[:, :-1]])  # (S, L), BOS = V
        contexts = np.zeros((len(seqs), length, v + 1))
        np.put_along_axis(contexts, prev[:, :, None], 1.0, axis=2)  # (S, L, V+1)
        # transitions[s, (l, a, b)] = 1[prev_l = a, z_l = b]
        trans = (contexts[:, :, :, None] * np.eye(v)[seqs][:, :, None, :]).reshape(len(seqs), -1)  # (S, L·(V+1)·V)
        object.__setattr__(self, "sequences", seqs)
        object.__setattr__(self, "rewards", ((seqs == self.answer).sum(axis=1) >= self.min_count).astype(np.float64))
        object.__setattr__(self, "transitions", trans)
        object.__setattr__(self, "contexts", contexts)
        positions = np.arange(length)[None, :]
        object.__setattr__(self, "visited", (positions * (v + 1) + prev) * v + seqs)

    @property
    def dim(self) -> int:
        return self.length * (self.vocab + 1) * self.vocab

    def _table(self, theta: np.ndarray) -> np.ndarray:
        return np.asarray(theta, dtype=np.float64).reshape(theta.shape[:-1] + (self.length, self.vocab + 1, self.vocab))

    def log_probs(self, theta: np.ndarray) -> np.ndarray:
        """log p_θ(z) = Σ_l log softmax(θ[l, z_{l-1}])[z_l] of every sequence, shape (..., S), for θ (..., D).

        A gather of the L table entries each sequence visits (no dense (S, D) product)."""
        log_policy = _log_softmax(self._table(theta)).reshape(np.shape(theta))  # (..., D)
        return log_policy[..., self.visited].sum(axis=-1)  # (..., S, L) -> (..., S)

    def success_prob(self, theta: np.ndarray) -> np.ndarray:
        """P = Σ_z p_θ(z) r(z) by enumeration, shape (...)."""
        return np.exp(self.log_probs(theta)) @ self.rewards

    def scores(self, theta: np.ndarray, index: np.ndarray) -> np.ndarray:
        """∇ log p_θ(z) for the sequences ``index`` (..., M) under θ (..., D): shape (..., M, D)."""
        policy = np.exp(_log_softmax(self._table(theta)))  # (..., L, V+1, V)
        ctx = self.contexts[index]  # (..., M, L, V+1)
        expected = ctx[..., None] * policy[..., None, :, :, :]  # (..., M, L, V+1, V)
        return self.transitions[index] - expected.reshape(expected.shape[:-3] + (-1,))

    def grad_success(self, theta: np.ndarray) -> np.ndarray:
        """∇P = Σ_z p(z) r(z) ∇log p(z), for a single θ of shape (D,).

        With w_z = p(z) r(z) and the score written out: ∇P[l, a, b] = Σ_z w_z 1[z_{l-1}=a, z_l=b]
        - (Σ_z w_z 1[z_{l-1}=a]) softmax(θ[l, a])[b], two matrix-vector products over the enumeration.
        """
        return self._success_and_grad(theta)[1]

    def _success_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        log_policy = _log_softmax(self._table(theta))  # (L, V+1, V)
        weights = np.exp(log_policy.reshape(-1)[self.visited].sum(axis=-1)) * self.rewards  # p(z) r(z), (S,)
        visits = weights @ self.contexts.reshape(len(self.sequences), -1)  # (L·(V+1),)
        grad = weights @ self.transitions - (visits.reshape(log_policy.shape[:-1])[..., None] * np.exp(log_policy)).ravel()
        return float(weights.sum()), grad

    def flow(self, theta: np.ndarray, q: float) -> np.ndarray:
        """∇ ln_q P = P^(-q) ∇P for a single θ (D,)."""
        p, grad = self._success_and_grad(theta)
        return amplification(p, q) * grad

    def score_moments(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(∇P, Var[s | r=1], Var[s | r=0]) per coordinate, by enumeration."""
        probs = np.exp(self.log_probs(theta))  # (S,)
        s = self.scores(theta, np.arange(len(self.sequences)))  # (S, D)
        moments = []
        for mask in (self.rewards, 1.0 - self.rewards):
            w = probs * mask / np.sum(probs * mask)
            mean = w @ s
            moments.append(w @ (s * s) - mean * mean)
        return self.grad_success(theta), moments[0], moments[1]

    def sample(self, theta: np.ndarray, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        """M sequences per instance by inverse CDF over the enumeration: rewards (..., M), scores (..., M, D)."""
        theta = np.asarray(theta, dtype=np.float64)
        batch = theta.shape[:-1]
        probs = np.exp(self.log_probs(theta)).reshape(-1, len(self.sequences))  # (B, S)
        cdf = np.cumsum(probs, axis=1)
        cdf /= cdf[:, -1:]
        rows = np.arange(len(cdf))[:, None]
        u = rng.random((len(cdf), m))  # (B, M)
        # one global searchsorted: row b's CDF is shifted by b so the rows never overlap
        flat = np.searchsorted((cdf + rows).ravel(), (u + rows).ravel(), side="right").reshape(len(cdf), m)
        index = np.minimum(flat - rows * len(self.sequences), len(self.sequences) - 1).reshape(batch + (m,))
        return self.rewards[index], self.scores(theta, index)

    def theta_for(self, p0: float) -> np.ndarray:
        """A cold start with P = p0: uniform tables except logit -b on the answer token, b found by brentq."""
        def table(bias: float) -> np.ndarray:
            theta = np.zeros((self.length, self.vocab + 1, self.vocab))
            theta[:, :, self.answer] = -bias
            return theta.ravel()

        low, high = -10.0, 30.0
        if not self.success_prob(table(high)) < p0 < self.success_prob(table(low)):
            raise ValueError(f"p0={p0!r} is out of the reachable range of the cold-start family")
        bias = brentq(lambda b: self.success_prob(table(b)) - p0, low, high, xtol=1e-12)
        return table(bias)
