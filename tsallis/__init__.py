"""The verified core of the Tsallis loss continuum.

J_Q(θ) = E_x[ln_q P_θ(x)] with ln_q(u) = (u^(1-q) - 1)/(1-q): q = 0 is RL from verifiable rewards,
q = 1 is log marginal likelihood over latent chains of thought, and ∇ ln_q P = P^(-q) ∇P.

Modules: :mod:`tsallis.qlog` (q-log, q-exp, J_Q, amplification), :mod:`tsallis.estimators`
(REINFORCE, RLOO, GRPO, GARL, PAFT, SFT as functions from rewards (G, M) to weights (G, M), with a
registry), :mod:`tsallis.resampling` (PAFT's importance resampling), :mod:`tsallis.schedules`
(q over training steps), :mod:`tsallis.diagnostics` (batch statistics) and :mod:`tsallis.bias`
(exact and delta-method bias/variance of GARL and PAFT). numpy arrays and torch tensors alike;
nothing here imports ``sim``, ``llm`` or ``figures``.
"""

from tsallis.estimators import (
    ESTIMATORS,
    EstimatorName,
    EstimatorOptions,
    compute_weights,
    garl,
    get_estimator,
    grpo,
    paft,
    reinforce,
    rloo,
    sft,
)
from tsallis.qlog import amplification, jq_derivative, jq_objective, qexp, qlog
from tsallis.schedules import ConstantQ, CosineQ, LinearQ, QSchedule, StepQ, make_schedule

__all__ = [
    "ESTIMATORS",
    "ConstantQ",
    "CosineQ",
    "EstimatorName",
    "EstimatorOptions",
    "LinearQ",
    "QSchedule",
    "StepQ",
    "amplification",
    "compute_weights",
    "garl",
    "get_estimator",
    "grpo",
    "jq_derivative",
    "jq_objective",
    "make_schedule",
    "paft",
    "qexp",
    "qlog",
    "reinforce",
    "rloo",
    "sft",
]
