"""Discrete optimisers on the toys, SGD and Adam, to test whether Adam can stand in for q (Section 5.2).

Maths
-----
With g_k the ascent direction at step k (the exact ∇J_Q = P^(-q) ∇P of a toy, or an estimator's ĝ):

* SGD:   θ_{k+1} = θ_k + η g_k;
* Adam (Kingma & Ba 2014):  m_k = β1 m_{k-1} + (1-β1) g_k,  v_k = β2 v_{k-1} + (1-β2) g_k²,
  θ_{k+1} = θ_k + η m̂_k / (√v̂_k + ε_A),  m̂_k = m_k / (1-β1^k),  v̂_k = v_k / (1-β2^k)  (per coordinate).

Section 5.2 states that the per-instance scalar P^(-q) is "preserved under both minibatch SGD and Adam".
Under SGD it is: the step is η P^(-q) ∇P. Under Adam a scalar common to every coordinate of g and slowly
varying over steps cancels between m̂ and √v̂, so with one prompt (one logit, or K arms whose gradient is
P^(-q) times a q-free vector) the amplification is normalised away; with N prompts sharing parameters
the *relative* weights P_n^(-q) / P_m^(-q) inside g survive, since Adam rescales coordinates, not prompts.

All runs advance together, vectorised over a leading run axis R; each run has its own q, learning rate
and (for Adam) β2, so one loop serves every setting of a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OPTIMISERS = ("sgd", "adam")


@dataclass(frozen=True)
class OptimiserSetting:
    """One optimiser configuration: ``name`` in OPTIMISERS, learning rate, Adam's β1, β2 and ε_A."""

    name: str
    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.name not in OPTIMISERS:
            raise ValueError(f"optimiser must be one of {OPTIMISERS}, got name={self.name!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got lr={self.lr!r}")

    @property
    def label(self) -> str:
        return f"SGD η={self.lr:g}" if self.name == "sgd" else f"Adam η={self.lr:g} β2={self.beta2:g}"


def ascend(
    gradient: Callable[[np.ndarray], np.ndarray],
    theta0: np.ndarray,
    settings: list[OptimiserSetting],
    num_steps: int,
    observe: Callable[[np.ndarray], np.ndarray],
    done: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Run R = len(settings) ascents from ``theta0`` (R, D), run r with ``settings[r]``.

    ``gradient(theta)`` maps (R, D) to the ascent directions (R, D) (it knows each run's q and draws any
    samples); ``observe(theta)`` maps (R, D) to what is recorded, (R, ...). Returns the observations
    (n + 1, R, ...) at steps 0..n, where n = ``num_steps``, or fewer when ``done(observation)`` turns true.
    """
    theta = np.array(theta0, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != len(settings):
        raise ValueError(f"theta0 must have shape (R, D) with R = {len(settings)} settings, got {theta.shape}")
    column = lambda key: np.array([getattr(s, key) for s in settings])[:, None]  # noqa: E731  (R, 1)
    lr, beta1, beta2, eps = column("lr"), column("beta1"), column("beta2"), column("eps")
    adam = np.array([s.name == "adam" for s in settings])[:, None]  # (R, 1)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    history = [observe(theta)]
    for k in range(1, num_steps + 1):  # sequential in time by nature
        g = gradient(theta)
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        adam_step = (m / (1.0 - beta1**k)) / (np.sqrt(v / (1.0 - beta2**k)) + eps)
        theta = theta + lr * np.where(adam, adam_step, g)
        history.append(observe(theta))
        if done is not None and done(history[-1]):
            break
    return np.array(history)


def first_crossing(history: np.ndarray, target: float) -> np.ndarray:
    """First step at which each run's recorded value (history of shape (n, R)) reaches ``target``; NaN if never."""
    reached = history >= target
    return np.where(reached.any(axis=0), np.argmax(reached, axis=0).astype(np.float64), np.nan)
