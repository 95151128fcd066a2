"""Stochastic training of the latent-rationale toy with the paper's likelihood-weight estimators and with
the sampled-answer ones, R runs at once.

Maths
-----
:class:`sim.latent.LatentRationale` has ψ = (θ, φ), prior π = softmax(θ) over K rationales and gold-answer
likelihoods w_z = σ(φ_z), P = Σ_z π_z w_z. Each step draws M rationales z_1..z_M ~ π per run and moves

* ``form="likelihood"`` (GARL of Eq. 12, Algorithm 1; :func:`tsallis.estimators.compute_likelihood_weights`)::

      w_m = w_{z_m} (teacher forcing),   (score_m, answer_m) = GARL coefficients of log w (G = R groups)
      ψ ← ψ + η Σ_m [score_m ∇log π_{z_m} + answer_m ∇log w_{z_m}]

  with score_m = c_m / (M N_q), c_m = w_m / w̄^q − (w̄_¬m)^(1−q) (``baseline="loo"``), answer_m =
  (w_m / w̄^q) / (M N_q) (0 with ``pathwise=False``), N_q = M^q (``normalize="m_q"``) or 1 (``"none"``).
  Every pool carries signal (w_m > 0); its amplification is w̄^(−q), which tracks P^(−q) when the w_z are
  spread (w̄ ≈ P in every pool) and is capped at M^q when one rare rationale holds all the likelihood
  (w̄ = 1/M on the pools that draw it, ≈ 0 elsewhere: the sampled-answer cap of :mod:`sim.stochastic`).
* ``form="sampled"`` (the verifier-only variant; :func:`tsallis.estimators.compute_weights` through
  :func:`sim.estimator_study.estimator_weights`)::

      ŷ_m ~ p(· | z_m),  r_m = 1[ŷ_m = y*] ~ Bernoulli(w_{z_m}),  ω = weights of r (GARL, GRPO, ...)
      ψ ← ψ + η Σ_m ω_m [∇log π_{z_m} + ∇log p(ŷ_m | z_m)]

  where ∇_φ log p(ŷ | z) = (1 − w_z) e_z for a right answer and −w_z e_z for a wrong one: the gradient of the
  joint log-probability of the rationale and the sampled answer. A pool with no right answer moves nothing.

The monitor is the paper's (Fig. 3): the maximum amplified advantage max_m c_m / M^q of each step's pool, with
c_m = M N_q score_m the centred weight of the estimator trained with (Eq. 12's c_m = w_m / w̄^q − (w̄_¬m)^(1−q)
for likelihood GARL with the "loo" baseline; :func:`amplified_advantage`).

In flow time t = Σ η both forms are noisy Euler schemes for dψ/dt = E[ĝ]; the likelihood form with spread
weights follows the exact flow ∇ln_q P = P^(−q) ∇P of :meth:`LatentRationale.flow` (up to Theorem 6.1's ratio
bias, O(q Var(w) / (M P^(q+1)))), whatever M.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.estimator_study import ESTIMATOR_SPECS, estimator_weights
from sim.latent import LatentRationale
from sim.stochastic import STATUS_MESSAGES, StochasticResult
from tsallis.estimators import EstimatorName, EstimatorOptions, compute_likelihood_weights

FORMS = ("likelihood", "sampled")


@dataclass(frozen=True)
class LatentTrainingOptions:
    """How :func:`train_latent` estimates the gradient; every field is checked on construction.

    form : "likelihood" (the paper's GARL, Eq. 12) or "sampled" (a verifier's 0/1 reward on a sampled answer).
    m : group size M (rationales per run and step).
    baseline, normalize, pathwise : the likelihood form's GARL options (:class:`EstimatorOptions`).
    sampled_estimator : the sampled form's estimator, a key of :data:`sim.estimator_study.ESTIMATOR_SPECS`
        ("garl_loo", "garl_mean", "grpo", ...).
    target : a run stops (is frozen) once its exact P reaches it; its escape step is recorded.
    record_every : P and the monitor are recorded every this many steps.
    """

    form: str = "likelihood"
    m: int = 8
    baseline: str = "loo"
    normalize: str = "m_q"
    pathwise: bool = True
    sampled_estimator: str = "garl_loo"
    target: float = 0.5
    record_every: int = 1

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got form={self.form!r}")
        if self.sampled_estimator not in ESTIMATOR_SPECS:
            raise ValueError(f"sampled_estimator must be one of {tuple(ESTIMATOR_SPECS)}, "
                             f"got sampled_estimator={self.sampled_estimator!r}")
        for name in ("m", "record_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target must lie in (0, 1], got target={self.target!r}")
        EstimatorOptions(baseline=self.baseline, normalize=self.normalize, pathwise=self.pathwise)


@dataclass(frozen=True)
class LatentTrainingResult(StochasticResult):
    """:class:`sim.stochastic.StochasticResult` plus the paper's monitor and the silent steps.

    monitor : (n, R) mean of max_m c_m / M^q over the steps since the previous record (NaN at step 0 and
        for a run frozen throughout the window).
    silent_steps : (R,) steps, up to escape, whose update was exactly zero (no signal in the pool).
    """

    monitor: np.ndarray
    silent_steps: np.ndarray


def _gather(per_rationale: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Entries of (R, K, ...) at rationales z (R, M): (R, M, ...)."""
    return per_rationale[np.arange(z.shape[0])[:, None], z]


def garl_options(q: np.ndarray, options: LatentTrainingOptions) -> EstimatorOptions:
    """The core's options of likelihood GARL for runs with Tsallis indices q (R,)."""
    return EstimatorOptions(q=q[:, None], baseline=options.baseline, normalize=options.normalize,
                            pathwise=options.pathwise)


def likelihood_step(toy: LatentRationale, psi: np.ndarray, z: np.ndarray,
                    garl: EstimatorOptions) -> tuple[np.ndarray, np.ndarray]:
    """The direction Σ_m score_m ∇log π_{z_m} + answer_m ∇log w_{z_m} (R, D) with GARL's likelihood
    coefficients (Eq. 12, Algorithm 1; ``garl`` from :func:`garl_options`), and the score coefficients (R, M)."""
    log_w = _gather(toy.log_answer_likelihood(psi), z)  # (R, M) log p(y* | x, z_m)
    coefficients = compute_likelihood_weights(EstimatorName.GARL, log_w, garl)
    direction = (np.einsum("rm,rmd->rd", coefficients.score, _gather(toy.score_rationale(psi), z))
                 + np.einsum("rm,rmd->rd", coefficients.answer, _gather(toy.score_answer(psi), z)))
    return direction, coefficients.score


def sampled_step(toy: LatentRationale, psi: np.ndarray, z: np.ndarray, q: np.ndarray,
                 options: LatentTrainingOptions, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The direction Σ_m ω_m [∇log π_{z_m} + ∇log p(ŷ_m | z_m)] (R, D) with ŷ_m sampled and ω the reward-form
    weights (R, M), and ω."""
    rewards = toy.sample_answers(psi, z, rng)  # (R, M)
    if not rewards.any():
        return np.zeros_like(psi), np.zeros_like(rewards)
    weights = estimator_weights(options.sampled_estimator, rewards, q[:, None], rng)  # (R, M)
    answer_scores = np.where(rewards[..., None] > 0, _gather(toy.score_answer(psi, correct=True), z),
                             _gather(toy.score_answer(psi, correct=False), z))
    return np.einsum("rm,rmd->rd", weights, _gather(toy.score_rationale(psi), z) + answer_scores), weights


def amplified_advantage(score: np.ndarray, q: np.ndarray, options: LatentTrainingOptions) -> np.ndarray:
    """The monitor max_m c_m / M^q (R,) from the score coefficients (R, M) = c_m / (M N_q) of a step.

    With the likelihood form and the "loo" baseline, c_m = w_m / w̄^q − (w̄_¬m)^(1−q) is the centred weight of
    Eq. 12 and this is the paper's maximum amplified advantage (Fig. 3), in [−1, 1]; with the sampled form c_m is
    the reward-form weight times M (GARL: P̂^(−q)(r_m − b_m); GRPO: its advantage).
    """
    m = options.m
    normalised = options.form == "likelihood" and options.normalize == "m_q"
    return m * np.max(score, axis=1) * (1.0 if normalised else m ** -q)


def train_latent(toy: LatentRationale, psi0: np.ndarray, q: float | np.ndarray, lr: float | np.ndarray,
                 num_steps: int, rng: np.random.Generator, options: LatentTrainingOptions) -> LatentTrainingResult:
    """Train R runs from ``psi0`` (R, 2K) for at most ``num_steps`` steps; each stops once its P >= target.

    ``q`` and ``lr`` are scalars or (R,) arrays. Escape times are in flow time, escape_step · η.
    """
    psi = np.array(psi0, dtype=np.float64)
    runs = psi.shape[0]
    q_runs = np.broadcast_to(np.asarray(q, dtype=np.float64), (runs,))
    lr_runs = np.broadcast_to(np.asarray(lr, dtype=np.float64), (runs,))
    escape = np.full(runs, np.nan)
    silent = np.zeros(runs)
    active = toy.success_prob(psi) < options.target
    escape[~active] = 0.0
    window_sum, window_count = np.zeros(runs), np.zeros(runs)
    steps, history, monitor = [0], [toy.success_prob(psi)], [np.full(runs, np.nan)]
    garl = None  # the core's options for the active runs, rebuilt when the active set shrinks
    for step in range(1, num_steps + 1):  # sequential in time; runs and samples within a step are vectorised
        idx = np.flatnonzero(active)
        if idx.size:
            z = toy.sample_rationales(psi[idx], rng, options.m)  # (A, M)
            if options.form == "likelihood":
                if garl is None or garl.q.shape[0] != idx.size:
                    garl = garl_options(q_runs[idx], options)
                direction, score = likelihood_step(toy, psi[idx], z, garl)
            else:
                direction, score = sampled_step(toy, psi[idx], z, q_runs[idx], options, rng)
            window_sum[idx] += amplified_advantage(score, q_runs[idx], options)
            window_count[idx] += 1
            silent[idx] += ~np.any(direction != 0, axis=1)
            psi[idx] += lr_runs[idx, None] * direction
            done = idx[toy.success_prob(psi[idx]) >= options.target]
            escape[done] = step
            active[done] = False
        finished = not active.any()
        if step % options.record_every == 0 or step == num_steps or finished:
            steps.append(step)
            history.append(toy.success_prob(psi))
            with np.errstate(invalid="ignore"):
                monitor.append(window_sum / window_count)
            window_sum[:], window_count[:] = 0.0, 0.0
        if finished:
            break
    status = int(np.all(np.isfinite(escape)))
    return LatentTrainingResult(steps=np.array(steps), p=np.array(history), escape_step=escape,
                                escape_time=escape * lr_runs, status=status, message=STATUS_MESSAGES[status],
                                monitor=np.array(monitor), silent_steps=silent)
