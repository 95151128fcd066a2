"""Monte Carlo study of the gradient estimators on toys whose exact ∇ ln_q P is known.

For a policy at θ, G independent groups of M on-policy samples give rewards r (G, M) and scores
s_gm = ∇ log p_θ(z_gm) (G, M, D). The estimator weights come from
:func:`tsallis.estimators.compute_weights`, and the estimate of group g is::

    ĝ_g = Σ_m w_gm s_gm                                          (G, D)

compared with the target ∇ ln_q P = P^(-q) ∇P:

* bias      = mean_g ĝ_g - P^(-q) ∇P            (with its standard error sd/√G),
* variance  = var_g ĝ_g per coordinate,
* cosine    = cos(ĝ_g, ∇P) averaged over the groups with ĝ_g != 0 (the others carry no direction).

The analytic values these are checked against come from :mod:`tsallis.bias` (exact binomial sum
and delta method), fed with the toy's exact per-coordinate score moments (``policy.score_moments``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsallis.bias import ScoreModel, delta_moments, exact_moments
from tsallis.estimators import EstimatorName, EstimatorOptions, compute_weights

# Study key -> (registered estimator, options other than q / generator / K).
ESTIMATOR_SPECS: dict[str, tuple[EstimatorName, dict]] = {
    "garl_none": (EstimatorName.GARL, {"baseline": "none"}),
    "garl_mean": (EstimatorName.GARL, {"baseline": "mean"}),
    "garl_loo": (EstimatorName.GARL, {"baseline": "loo"}),
    "paft": (EstimatorName.PAFT, {}),
    "grpo": (EstimatorName.GRPO, {"std_ddof": 1, "eps": 1e-4}),  # TRL's convention
}


def estimator_weights(
    key: str, rewards: np.ndarray, q: float | np.ndarray, rng: np.random.Generator, num_resamples: int = 1
) -> np.ndarray:
    """Weights (G, M) of study estimator ``key`` (see ``ESTIMATOR_SPECS``) for rewards (G, M)."""
    if key not in ESTIMATOR_SPECS:
        raise ValueError(f"estimator must be one of {tuple(ESTIMATOR_SPECS)}, got estimator={key!r}")
    name, extra = ESTIMATOR_SPECS[key]
    # q may be one value per group, an array of shape (G, 1): the core broadcasts it against P̂ (G, 1).
    options = EstimatorOptions(q=q, generator=rng, num_resamples=num_resamples, **extra)
    return compute_weights(name, rewards, options)


def sample_gradients(
    policy, theta: np.ndarray, key: str, q: float, m: int, groups: int, rng: np.random.Generator,
    num_resamples: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """G Monte Carlo estimates ĝ (G, D) at ``theta`` (D,), and the rewards (G, M) they came from."""
    flat_rewards, flat_scores = policy.sample(np.asarray(theta, dtype=np.float64), rng, groups * m)  # (G·M,), (G·M, D)
    rewards = flat_rewards.reshape(groups, m)  # (G, M)
    scores = flat_scores.reshape(groups, m, -1)  # (G, M, D)
    weights = estimator_weights(key, rewards, q, rng, num_resamples)  # (G, M)
    return np.einsum("gm,gmd->gd", weights, scores), rewards


@dataclass(frozen=True)
class EstimatorStats:
    """Monte Carlo statistics of one estimator at one (θ, q, M), per coordinate (D,) unless noted."""

    mean: np.ndarray
    std_error: np.ndarray
    variance: np.ndarray
    target: np.ndarray
    total_variance_se: float
    """standard error of tr Cov[ĝ] = mean_g |ĝ_g - mean|², from the spread of |ĝ_g - mean|² (fourth moments)."""
    cosine: float
    frac_zero: float
    groups: int

    @property
    def bias(self) -> np.ndarray:
        return self.mean - self.target


def estimator_stats(
    policy, theta: np.ndarray, key: str, q: float, m: int, groups: int, rng: np.random.Generator,
    num_resamples: int = 1,
) -> EstimatorStats:
    """Bias, variance and cosine to the true gradient of ``key`` from G groups of M samples."""
    grads, _ = sample_gradients(policy, theta, key, q, m, groups, rng, num_resamples)  # (G, D)
    true = np.asarray(policy.grad_success(theta), dtype=np.float64).ravel()  # ∇P (D,)
    p = float(policy.success_prob(theta))
    norms = np.linalg.norm(grads, axis=1)
    nonzero = norms > 0
    cosine = float(np.mean(grads[nonzero] @ true / (norms[nonzero] * np.linalg.norm(true)))) if nonzero.any() else np.nan
    spread = np.sum((grads - grads.mean(axis=0)) ** 2, axis=1)  # (G,)
    return EstimatorStats(
        mean=grads.mean(axis=0),
        std_error=grads.std(axis=0, ddof=1) / np.sqrt(groups),
        variance=grads.var(axis=0, ddof=1),
        target=p ** (-q) * true,
        total_variance_se=float(spread.std(ddof=1) / np.sqrt(groups)),
        cosine=cosine,
        frac_zero=float(np.mean(~nonzero)),
        groups=groups,
    )


def analytic_moments(policy, theta: np.ndarray, key: str, q: float, m: int, num_resamples: int = 1,
                     method: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate (mean, variance) of estimator ``key`` from :mod:`tsallis.bias` (``method`` = "exact"
    for the binomial sum, "delta" for the first-order delta method), using the toy's exact score moments."""
    if method not in ("exact", "delta"):
        raise ValueError(f"method must be 'exact' or 'delta', got method={method!r}")
    moments = exact_moments if method == "exact" else delta_moments
    p = float(policy.success_prob(theta))
    grad, var1, var0 = (np.asarray(a, dtype=np.float64).ravel() for a in policy.score_moments(theta))
    results = [moments(key, p, q, m, ScoreModel(float(g), float(a), float(b)), num_resamples)
               for g, a, b in zip(grad, var1, var0)]
    return np.array([r.mean for r in results]), np.array([r.variance for r in results])
