"""Training toys with the *stochastic* estimators: θ ← θ + η ĝ, ĝ from one group of M samples per step.

Maths
-----
For R independent runs (vectorised: run r is group r of the estimator call)::

    θ_r ← θ_r + η_r Σ_m w_rm ∇log p_θ(z_rm),   z_rm ~ p_θr,   w = compute_weights(estimator, r, q_r)

In flow time t = Σ η this is a noisy Euler scheme for dθ/dt = E[ĝ]. Near cold start (P << 1/M)
almost every group has at most one success, P̂ = 1/M on it, and for the one-logit toy

    E[ĝ] ≈ M^q (1 - 1/M) ∇P     (GARL, mean baseline),      ≈ √M (1 - 1/M) ∇P   (GRPO, Bessel std)

so the stochastic escape time is the q = 0 flow time Θ(1/p0) divided by M^q (1 - 1/M), and GRPO with
TRL's Bessel-corrected std matches GARL at q = 1/2 on every group with exactly one success. With
M >> 1/P the estimate concentrates and the escape follows the exact flow of ∇ ln_q P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.escape import closed_form_escape_time
from sim.estimator_study import ESTIMATOR_SPECS, estimator_weights
from tsallis.estimators import estimator_spec


def small_m_escape_time(p0: float | np.ndarray, q: float, m: int) -> np.ndarray:
    """Predicted stochastic escape time (flow time) of the one-logit toy while P << 1/M:
    T_flow(p0; q = 0) / (M^q (1 - 1/M)), the q = 0 closed form sped up by the capped amplification
    (GARL with a mean baseline; GRPO with q = 1/2)."""
    return closed_form_escape_time(p0, 0.0) / (m**q * (1.0 - 1.0 / m))


STATUS_MESSAGES = {0: "budget exhausted before every run reached the target", 1: "every run reached the target"}


@dataclass(frozen=True)
class StochasticResult:
    """Result of :func:`train_stochastic`.

    Attributes
    ----------
    steps : (n,) steps at which P was recorded.
    p : (n, R) exact success probability of each run at those steps.
    escape_step : (R,) first step with P >= target (NaN for runs that did not get there); without
        ``stop_at_target`` the first *recorded* step, a multiple of ``record_every``.
    escape_time : (R,) flow time at escape, escape_step · η (NaN likewise).
    status : 1 if every run escaped, 0 if the budget ran out first; ``message`` says which.
    """

    steps: np.ndarray
    p: np.ndarray
    escape_step: np.ndarray
    escape_time: np.ndarray
    status: int
    message: str

    @property
    def frac_escaped(self) -> float:
        return float(np.mean(np.isfinite(self.escape_step)))


def train_stochastic(
    policy,
    theta0: np.ndarray,
    estimator: str,
    q: float | np.ndarray,
    m: int,
    lr: float | np.ndarray,
    num_steps: int,
    rng: np.random.Generator,
    target: float = 0.5,
    stop_at_target: bool = True,
    record_every: int = 1,
    num_resamples: int = 1,
) -> StochasticResult:
    """Run R stochastic-gradient trainings at once from ``theta0`` (R, D).

    ``q`` and ``lr`` are scalars or (R,) arrays (one per run). With ``stop_at_target`` a run is frozen
    once its exact P reaches ``target`` (escape-time studies; the loop ends when all have); without it
    every run trains for ``num_steps`` (training curves). P is recorded every ``record_every`` steps.
    """
    theta = np.array(theta0, dtype=np.float64)
    runs = theta.shape[0]
    q_runs = np.broadcast_to(np.asarray(q, dtype=np.float64), (runs,))
    lr_runs = np.broadcast_to(np.asarray(lr, dtype=np.float64), (runs,))
    escape = np.full(runs, np.nan)
    steps, history = [0], [policy.success_prob(theta)]
    current_p = history[0]  # success_prob(theta), None once theta has moved since it was computed
    active = np.ones(runs, dtype=bool)
    # A step in which no run has a success gives every deterministic estimator zero weights ("no success, no
    # signal"), so theta stays as it is and the step is only its draws; a random estimator (PAFT) still draws
    # its resampling uniforms then, so it always runs.
    spec = ESTIMATOR_SPECS.get(estimator)  # an unknown key reaches estimator_weights, which names the known ones
    skip_silent_steps = spec is not None and not estimator_spec(spec[0]).needs_generator
    for step in range(1, num_steps + 1):  # sequential in time; samples within a step are vectorised
        idx = np.flatnonzero(active)
        rewards, scores = policy.sample(theta[idx], rng, m)  # (A, M), (A, M, D)
        moved = not (skip_silent_steps and not rewards.any())
        if moved:
            weights = estimator_weights(estimator, rewards, q_runs[idx, None], rng, num_resamples)  # (A, M)
            theta[idx] += lr_runs[idx, None] * np.einsum("am,amd->ad", weights, scores)
            current_p = None
        if stop_at_target and (moved or step == 1):
            p_active = policy.success_prob(theta[idx])
            done = idx[p_active >= target]
            escape[done] = step
            active[done] = False
        finished = not active.any()  # every run escaped (only with stop_at_target)
        if step % record_every == 0 or step == num_steps or finished:
            if current_p is None:
                current_p = policy.success_prob(theta)
            steps.append(step)
            history.append(current_p)
            if not stop_at_target:
                newly = np.isnan(escape) & (history[-1] >= target)
                escape[newly] = step
        if finished:
            break
    status = int(np.all(np.isfinite(escape)))
    return StochasticResult(
        steps=np.array(steps),
        p=np.array(history),
        escape_step=escape,
        escape_time=escape * lr_runs,
        status=status,
        message=STATUS_MESSAGES[status],
    )
