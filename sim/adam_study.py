"""Escape from cold start under SGD and Adam, per q: does an adaptive optimiser substitute for q (Section 5.2)?

Every (optimiser setting, q, repeat) is one run of :func:`sim.optimisers.ascend`, all advanced together.

* :func:`escape_steps`: one prompt (a toy with exact P: one logit or K arms) from P = p0; steps until
  P ≥ 1/2 with the exact gradient P^(-q) ∇P or a Monte Carlo estimator (``sim.estimator_study`` keys, M
  samples per step). Under SGD the ratio T_0/T_1 follows the flow (exact) or the small-M law M^q (1 - 1/M)
  (:mod:`sim.stochastic`); under Adam the common scalar P^(-q) cancels (see :mod:`sim.optimisers`).
* :func:`prompts_study`: N prompts sharing a linear softmax from unequal p0, exact gradient
  (1/N) Σ_n P_n^(-q) ∇P_n; records the mean P̄, the dispersion Var_D(P) at P̄ = 1/2 (as in
  :mod:`sim.dispersion`) and the steps until the hardest prompts' mean success reaches 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.dispersion import variance_at_mean
from sim.estimator_study import estimator_weights
from sim.optimisers import OptimiserSetting, ascend, first_crossing
from sim.policies import LinearSoftmaxPrompts

TARGET = 0.5


def run_grid(settings: list[OptimiserSetting], qs: tuple[float, ...], repeats: int = 1
             ) -> tuple[list[OptimiserSetting], np.ndarray]:
    """The runs of a (setting, q, repeat) grid, in that nesting order: one setting per run and q as (R, 1)."""
    runs = [(s, q) for s in settings for q in qs for _ in range(repeats)]
    return [s for s, _ in runs], np.array([q for _, q in runs])[:, None]


def escape_steps(policy, p0: float, qs: tuple[float, ...], settings: list[OptimiserSetting], num_steps: int,
                 estimator: str | None = None, m: int = 8, repeats: int = 1,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Steps from P = p0 to P ≥ 1/2, shape (settings, qs, repeats) (NaN where not reached in ``num_steps``).

    ``estimator`` None uses the exact ascent direction ``policy.flow``; otherwise ``m`` on-policy samples per run
    and step, weighted by that estimator (draws from ``rng``)."""
    run_settings, q = run_grid(settings, qs, repeats)
    if estimator is None:
        gradient = lambda theta: policy.flow(theta, q)  # noqa: E731
    else:
        if rng is None:
            raise ValueError("an estimator needs a generator rng")

        def gradient(theta: np.ndarray) -> np.ndarray:
            rewards, scores = policy.sample(theta, rng, m)  # (R, M), (R, M, D)
            return np.einsum("rm,rmd->rd", estimator_weights(estimator, rewards, q, rng), scores)

    theta0 = np.repeat(np.asarray(policy.theta_for(p0))[None], len(run_settings), axis=0)
    history = ascend(gradient, theta0, run_settings, num_steps, policy.success_prob,
                     done=lambda p: bool(np.all(p >= TARGET)))
    return first_crossing(history, TARGET).reshape(len(settings), len(qs), repeats)


@dataclass(frozen=True)
class PromptsStudy:
    """Per (setting, q), shape (S, Q): steps until P̄ ≥ 1/2, Var_D(P) when P̄ reaches 1/2, and steps until the
    mean success of the ``hard`` prompts (lowest p0) reaches 1/2 (NaN where not reached)."""

    mean_escape: np.ndarray
    variance_at_half: np.ndarray
    hard_escape: np.ndarray


def prompts_study(toy: LinearSoftmaxPrompts, theta0: np.ndarray, qs: tuple[float, ...],
                  settings: list[OptimiserSetting], num_steps: int, num_hard: int) -> PromptsStudy:
    """Exact-gradient ascent of J_Q on the multi-prompt toy from ``theta0`` (D,), every setting and q."""
    run_settings, q = run_grid(settings, qs)
    hard = np.argsort(toy.success_prob(theta0))[:num_hard]
    start = np.repeat(np.asarray(theta0, dtype=np.float64)[None], len(run_settings), axis=0)
    history = ascend(lambda theta: toy.flow(theta, q), start, run_settings, num_steps, toy.success_prob,
                     done=lambda p: bool(np.all(p.mean(axis=-1) >= TARGET) and np.all(p[:, hard].mean(axis=-1) >= TARGET)))
    mean, var = history.mean(axis=-1), history.var(axis=-1)  # (n, R)
    at_half = np.array([variance_at_mean(mean[:, r], var[:, r], np.array([TARGET]))[0] for r in range(len(run_settings))])
    shape = (len(settings), len(qs))
    return PromptsStudy(mean_escape=first_crossing(mean, TARGET).reshape(shape), variance_at_half=at_half.reshape(shape),
                        hard_escape=first_crossing(history[:, :, hard].mean(axis=-1), TARGET).reshape(shape))
