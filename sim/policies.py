"""Toy policies whose success probability P_θ and its gradient ∇P are exact.

Every policy exposes the same methods, vectorised over leading "instance" axes of θ:

* ``success_prob(theta)``: P_θ, shape ``theta.shape[:-1]`` (or per prompt for the multi-instance toy).
* ``grad_success(theta)``: ∇_θ P_θ, shape of ``theta`` (of the mean (1/N) Σ_n P_n over the N prompts
  of the multi-prompt toy).
* ``flow(theta, q)``: the exact ascent direction ∇ J_Q = P^(-q) ∇P, shape of ``theta`` (the mean
  (1/N) Σ_n P_n^(-q) ∇P_n over the prompts of the multi-prompt toy).
* ``sample(theta, rng, m)``: M on-policy samples per instance, returned as rewards (..., M) and the
  score vectors ∇ log p_θ(z) (..., M, D), which is what the Monte Carlo estimators consume.
* ``score_moments(theta)`` (single-prompt toys): ∇P and Var[s | r = 1], Var[s | r = 0] per coordinate,
  the inputs of the core's analytic bias/variance (:mod:`tsallis.bias`).

The amplification P^(-q) always comes from :func:`tsallis.qlog.amplification`.

Toys
----
* :class:`OneLogit`: z ~ Bernoulli(σ(θ)), r = z, so P = σ(θ), ∇P = P(1-P), score s = z - P.
* :class:`KArmedSoftmax`: π = softmax(θ) over K arms, r = 1 on a set C of correct arms;
  P = Σ_{c∈C} π_c, ∂P/∂θ_j = π_j (1[j∈C] - P), score of arm a is e_a - π.
* :class:`LinearSoftmaxPrompts`: N prompts with features x_n ∈ R^d share W ∈ R^(K×d),
  π_n = softmax(W x_n + b), each prompt has one gold answer y_n (a fraction of them corrupted);
  P_n = π_n[y_n], ∇_W P_n = P_n (e_{y_n} - π_n) x_nᵀ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from tsallis.qlog import amplification


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(θ - max θ) / Σ exp(θ - max θ) along ``axis``: scipy.special.softmax's formula (the same numbers) in
    plain numpy, as its array-API dispatch costs ~35 µs a call inside the ODE solver's right-hand side."""
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _as_theta(theta: np.ndarray | float) -> np.ndarray:
    return np.asarray(theta, dtype=np.float64)


@dataclass(frozen=True)
class OneLogit:
    """P = σ(θ) with θ of shape (..., 1): the simplest toy, dP/dt = P^(2-q) (1-P)^2 under the flow."""

    dim: int = 1

    def success_prob(self, theta: np.ndarray) -> np.ndarray:
        return expit(_as_theta(theta)[..., 0])

    def grad_success(self, theta: np.ndarray) -> np.ndarray:
        p = expit(_as_theta(theta))
        return p * (1.0 - p)

    def flow(self, theta: np.ndarray, q: float | np.ndarray) -> np.ndarray:
        """∇ ln_q P = P^(-q) ∇P = P^(1-q) (1-P), shape of ``theta``."""
        p = expit(_as_theta(theta))
        return amplification(p, q) * p * (1.0 - p)

    def sample(self, theta: np.ndarray, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (..., M) and scores (..., M, 1): r = z ~ Bernoulli(P), s = z - P."""
        p = self.success_prob(theta)[..., None]  # (..., 1)
        z = (rng.random(p.shape[:-1] + (m,)) < p).astype(np.float64)  # (..., M)
        return z, (z - p)[..., None]

    def score_moments(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(∇P, Var[s | r=1], Var[s | r=0]) per coordinate: s = z - P is fixed given r, so both variances are 0."""
        grad = self.grad_success(theta)
        return grad, np.zeros_like(grad), np.zeros_like(grad)

    @staticmethod
    def theta_for(p0: float | np.ndarray) -> np.ndarray:
        """The θ (shape (..., 1)) with σ(θ) = p0."""
        p0 = np.asarray(p0, dtype=np.float64)
        return np.log(p0 / (1.0 - p0))[..., None]


@dataclass(frozen=True)
class KArmedSoftmax:
    """π = softmax(θ) over K arms; the arms in ``correct`` earn reward 1.

    With one correct arm c, the flow gives dP/dt = ∇P · P^(-q) ∇P = P^(2-q)((1-P)^2 + Σ_{j≠c} π_j^2);
    when the wrong arms start equal they stay equal, Σ_{j≠c} π_j^2 = (1-P)^2/(K-1), and
    dP/dt = K/(K-1) · P^(2-q) (1-P)^2: the one-logit flow sped up by K/(K-1).
    """

    num_arms: int
    correct: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if self.num_arms < 2:
            raise ValueError(f"num_arms must be >= 2, got num_arms={self.num_arms!r}")
        if not self.correct or any(not 0 <= c < self.num_arms for c in self.correct):
            raise ValueError(f"correct must list arms in [0, {self.num_arms}), got correct={self.correct!r}")

    @property
    def dim(self) -> int:
        return self.num_arms

    @property
    def mask(self) -> np.ndarray:
        mask = np.zeros(self.num_arms)
        mask[list(self.correct)] = 1.0
        return mask

    def probs(self, theta: np.ndarray) -> np.ndarray:
        return softmax(_as_theta(theta), axis=-1)

    def success_prob(self, theta: np.ndarray) -> np.ndarray:
        return self.probs(theta) @ self.mask

    def grad_success(self, theta: np.ndarray) -> np.ndarray:
        pi = self.probs(theta)
        return pi * (self.mask - (pi @ self.mask)[..., None])

    def flow(self, theta: np.ndarray, q: float | np.ndarray) -> np.ndarray:
        """∇ ln_q P = P^(-q) ∇P with ∇P_j = π_j (1[j∈C] - P), from one softmax."""
        pi = self.probs(theta)
        p = (pi @ self.mask)[..., None]
        return amplification(p, q) * (pi * (self.mask - p))

    def success_rate(self, theta: np.ndarray, q: float) -> np.ndarray:
        """dP/dt under the flow, by the one-correct-arm formula P^(2-q) ((1-P)^2 + Σ_{j≠c} π_j^2).

        (dP/dt = ∇P · P^(-q) ∇P with ∇P_j = π_j (δ_jc - P): |∇P|^2 = P^2 (1-P)^2 + P^2 Σ_{j≠c} π_j^2.)
        """
        if len(self.correct) != 1:
            raise ValueError(f"the formula holds for one correct arm, got correct={self.correct!r}")
        pi = self.probs(theta)
        p = pi @ self.mask
        wrong = np.sum((pi * (1.0 - self.mask)) ** 2, axis=-1)
        return p ** (2.0 - q) * ((1.0 - p) ** 2 + wrong)

    def sample(self, theta: np.ndarray, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (..., M) and scores e_a - π of shape (..., M, K), arms drawn by inverse CDF."""
        pi = self.probs(theta)  # (..., K)
        cdf = np.cumsum(pi, axis=-1)
        u = rng.random(pi.shape[:-1] + (m,))  # (..., M)
        arms = np.minimum((u[..., :, None] > cdf[..., None, :]).sum(axis=-1), self.num_arms - 1)  # (..., M)
        onehot = np.eye(self.num_arms)[arms]  # (..., M, K)
        return onehot @ self.mask, onehot - pi[..., None, :]

    def score_moments(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(∇P, Var[s_j | r=1], Var[s_j | r=0]) per arm j, exactly.

        s_j = 1[a=j] - π_j, and given r the arm a is drawn from π restricted to C (or to its complement)
        and renormalised, ρ_j = π_j 1[j∈C]/P (or π_j 1[j∉C]/(1-P)); so Var[s_j | r] = ρ_j (1 - ρ_j).
        """
        pi = self.probs(theta)
        p = (pi @ self.mask)[..., None]
        rho1, rho0 = pi * self.mask / p, pi * (1.0 - self.mask) / (1.0 - p)
        return self.grad_success(theta), rho1 * (1.0 - rho1), rho0 * (1.0 - rho0)

    def theta_for(self, p0: float | np.ndarray) -> np.ndarray:
        """Logits (..., K) with P = p0 spread evenly over the correct arms and the rest evenly over the wrong ones."""
        p0 = np.asarray(p0, dtype=np.float64)[..., None]
        n_correct = len(self.correct)
        per_arm = np.where(self.mask > 0, p0 / n_correct, (1.0 - p0) / (self.num_arms - n_correct))
        return np.log(per_arm)


@dataclass(frozen=True)
class LinearSoftmaxPrompts:
    """N prompts share a linear softmax policy π_n = softmax(W x_n + b0) over K answers.

    ``features`` (N, d) and ``labels`` (N,) are the prompts and their (possibly corrupted) gold answers;
    ``clean_labels`` (N,) are the uncorrupted ones, so ``noisy = labels != clean_labels``. ``offset``
    (K,) is a fixed logit offset b0 (not trained) that sets the cold start. θ is W flattened, shape (K·d,).
    The objective is the mean over prompts, J_Q = (1/N) Σ_n ln_q P_n.
    """

    features: np.ndarray
    labels: np.ndarray
    clean_labels: np.ndarray
    offset: np.ndarray
    num_answers: int = field(init=False)

    def __post_init__(self) -> None:
        n, _ = self.features.shape
        object.__setattr__(self, "num_answers", int(self.offset.shape[0]))
        for name in ("labels", "clean_labels"):
            arr = getattr(self, name)
            if arr.shape != (n,) or arr.min() < 0 or arr.max() >= self.num_answers:
                raise ValueError(f"{name} must be {n} integers in [0, {self.num_answers}), got shape {arr.shape}")

    @property
    def dim(self) -> int:
        return self.num_answers * self.features.shape[1]

    @property
    def noisy(self) -> np.ndarray:
        return self.labels != self.clean_labels

    def probs(self, theta: np.ndarray) -> np.ndarray:
        """π (..., N, K) for θ of shape (..., K·d)."""
        theta = _as_theta(theta)
        w = theta.reshape(theta.shape[:-1] + (self.num_answers, -1))  # (..., K, d)
        return softmax(self.features @ np.swapaxes(w, -1, -2) + self.offset, axis=-1)

    def success_prob(self, theta: np.ndarray) -> np.ndarray:
        """P_n = π_n[y_n], shape (..., N)."""
        return self.probs(theta)[..., np.arange(len(self.labels)), self.labels]

    def _weighted_grad(self, theta: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Σ_n weight_n ∇P_n / N with weight of shape (..., N), flattened to (..., K·d)."""
        pi = self.probs(theta)  # (..., N, K)
        p = pi[..., np.arange(len(self.labels)), self.labels]  # (..., N)
        residual = np.eye(self.num_answers)[self.labels] - pi  # (..., N, K)
        coef = (weight * p)[..., None] * residual / len(self.labels)  # (..., N, K)
        grad = np.swapaxes(coef, -1, -2) @ self.features  # (..., K, d)
        return grad.reshape(grad.shape[:-2] + (-1,))  # (..., K·d)

    def grad_success(self, theta: np.ndarray) -> np.ndarray:
        """∇ of the mean success (1/N) Σ_n P_n."""
        return self._weighted_grad(theta, np.ones(len(self.labels)))

    def flow(self, theta: np.ndarray, q: float | np.ndarray) -> np.ndarray:
        """∇ J_Q = (1/N) Σ_n P_n^(-q) ∇P_n (q a number, or (..., 1) for one q per instance)."""
        return self._weighted_grad(theta, amplification(self.success_prob(theta), q))

    @classmethod
    def make(
        cls,
        num_prompts: int,
        num_answers: int,
        num_features: int,
        noise_rate: float,
        cold_logit: float,
        seed: int,
    ) -> "LinearSoftmaxPrompts":
        """A random instance: Gaussian features (plus a constant one), clean labels from a random linear
        rule over answers 1..K-1 (so a linear policy can fit every clean label), and a share
        ``noise_rate`` of prompts relabelled to a different random answer. Answer 0 is never gold; the
        offset puts logit ``cold_logit`` on it, so every P_n starts near 1/(e^cold_logit + K - 1).
        """
        if not 0.0 <= noise_rate < 1.0:
            raise ValueError(f"noise_rate must lie in [0, 1), got noise_rate={noise_rate!r}")
        if num_answers < 3 or num_features < 1:
            raise ValueError(f"need num_answers >= 3 and num_features >= 1, got {num_answers}, {num_features}")
        rng = np.random.default_rng(seed)
        raw = rng.standard_normal((num_prompts, num_features - 1)) / np.sqrt(max(num_features - 1, 1))
        features = np.hstack([raw, np.ones((num_prompts, 1))])  # (N, d)
        rule = rng.standard_normal((num_answers - 1, num_features))  # (K-1, d)
        clean = 1 + np.argmax(features @ rule.T, axis=1)  # (N,) in 1..K-1
        labels = clean.copy()
        noisy_idx = rng.choice(num_prompts, size=int(round(noise_rate * num_prompts)), replace=False)
        shift = rng.integers(1, num_answers - 1, size=noisy_idx.size)  # a different answer in 1..K-1
        labels[noisy_idx] = 1 + (clean[noisy_idx] - 1 + shift) % (num_answers - 1)
        offset = np.zeros(num_answers)
        offset[0] = cold_logit
        return cls(features=features, labels=labels, clean_labels=clean, offset=offset)
