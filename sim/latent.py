"""A toy with a latent rationale and an exact answer likelihood: the setting of the paper's estimators.

Model
-----
K rationales z with prior π = softmax(θ), then the gold answer y* with probability w_z = σ(φ_z); the
parameters are ψ = (θ, φ) in R^(2K). Exactly (the paper's Section 2 with a finite Z)::

    P = p(y* | x) = Σ_z π_z w_z
    ∇_θ log π_z = e_z - π,          ∇_φ log w_z = (1 - w_z) e_z,          ∇_φ log(1 - w_z) = -w_z e_z
    ∇P = Σ_z π_z w_z (∇ log π_z + ∇ log w_z)

so the likelihood weight of a sampled rationale is w_m = w_{z_m} (teacher forcing the gold answer),
and a verifier that samples the answer sees r_m ~ Bernoulli(w_{z_m}) instead. With w_z in {0, 1} the
toy is the K-armed softmax of :mod:`sim.policies` (the answer is a function of z); with equal w_z the
rationale carries no information and P = w.

Everything is vectorised over leading "run" axes of ψ (..., 2K), as in :mod:`sim.policies`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from sim.policies import softmax
from tsallis.qlog import amplification


@dataclass(frozen=True)
class LatentRationale:
    """K rationales with prior softmax(θ) and gold-answer likelihoods w_z = σ(φ_z); ψ = (θ, φ) of shape (..., 2K)."""

    k: int

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an integer >= 1, got k={self.k!r}")

    @property
    def dim(self) -> int:
        return 2 * self.k

    def split(self, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(θ, φ), each (..., K)."""
        psi = np.asarray(psi, dtype=np.float64)
        return psi[..., : self.k], psi[..., self.k:]

    def prior(self, psi: np.ndarray) -> np.ndarray:
        """π = softmax(θ), (..., K)."""
        return softmax(self.split(psi)[0])

    def answer_likelihood(self, psi: np.ndarray) -> np.ndarray:
        """w_z = p(y* | x, z) = σ(φ_z), (..., K)."""
        return expit(self.split(psi)[1])

    def log_answer_likelihood(self, psi: np.ndarray) -> np.ndarray:
        """log w_z = log σ(φ_z), (..., K), accurate for very negative φ (no log of an underflowed 0)."""
        return log_expit(self.split(psi)[1])

    def success_prob(self, psi: np.ndarray) -> np.ndarray:
        """P = Σ_z π_z w_z, shape ψ.shape[:-1]."""
        return np.sum(self.prior(psi) * self.answer_likelihood(psi), axis=-1)

    def score_rationale(self, psi: np.ndarray) -> np.ndarray:
        """∇_ψ log π_z for every z: (..., K, 2K), rows (e_z - π, 0)."""
        pi = self.prior(psi)
        theta_part = np.eye(self.k) - pi[..., None, :]  # (..., K, K)
        return np.concatenate([theta_part, np.zeros_like(theta_part)], axis=-1)

    def score_answer(self, psi: np.ndarray, correct: bool = True) -> np.ndarray:
        """∇_ψ log p(y | z) for every z: (..., K, 2K), rows (0, (1 - w_z) e_z) for y = y*, (0, -w_z e_z) otherwise."""
        w = self.answer_likelihood(psi)
        coefficient = (1.0 - w) if correct else -w  # (..., K)
        phi_part = np.eye(self.k) * coefficient[..., :, None]  # (..., K, K)
        return np.concatenate([np.zeros_like(phi_part), phi_part], axis=-1)

    def grad_success(self, psi: np.ndarray) -> np.ndarray:
        """∇P = Σ_z π_z w_z (∇log π_z + ∇log w_z), shape of ψ."""
        weight = self.prior(psi) * self.answer_likelihood(psi)  # (..., K)
        joint = self.score_rationale(psi) + self.score_answer(psi)  # (..., K, 2K)
        return np.einsum("...k,...kd->...d", weight, joint)

    def flow(self, psi: np.ndarray, q: float | np.ndarray) -> np.ndarray:
        """The exact ascent direction ∇ ln_q P = P^(-q) ∇P, shape of ψ."""
        amp = amplification(self.success_prob(psi), np.asarray(q, dtype=np.float64))
        return amp[..., None] * self.grad_success(psi)

    def sample_rationales(self, psi: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
        """M rationale indices per run, (..., M), z ~ π (inverse-cdf sampling, one uniform per draw)."""
        cdf = np.cumsum(self.prior(psi), axis=-1)  # (..., K)
        u = rng.random(cdf.shape[:-1] + (m,))  # (..., M)
        return np.minimum(np.sum(cdf[..., None, :] <= u[..., :, None], axis=-1), self.k - 1)

    def sample_answers(self, psi: np.ndarray, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A verifier's reward r_m = 1[ŷ_m = y*] with ŷ_m ~ p(· | z_m): Bernoulli(w_{z_m}), shape of z."""
        w = np.take_along_axis(self.answer_likelihood(psi), z, axis=-1)
        return (rng.random(z.shape) < w).astype(np.float64)

    @staticmethod
    def parameters(prior: np.ndarray, likelihood: np.ndarray) -> np.ndarray:
        """ψ = (log π, logit w) for a given prior π (..., K) and answer likelihoods w (..., K) in (0, 1)."""
        prior = np.asarray(prior, dtype=np.float64)
        likelihood = np.asarray(likelihood, dtype=np.float64)
        return np.concatenate([np.log(prior), np.log(likelihood) - np.log1p(-likelihood)], axis=-1)
