"""The verified core of the Tsallis loss continuum.

J_Q(θ) = E_x[ln_q P_θ(x)] with ln_q(u) = (u^(1-q) - 1)/(1-q): q = 0 is RL from verifiable rewards,
q = 1 is log marginal likelihood over latent chains of thought, and ∇ ln_q P = P^(-q) ∇P.

Modules: :mod:`tsallis.qlog` (q-log, q-exp, J_Q, amplification), :mod:`tsallis.estimators`
(REINFORCE, RLOO, GRPO, GARL, PAFT, SFT as functions from rewards (G, M) to weights (G, M), each
registered with its description), :mod:`tsallis.registry` (what a trainer, CLI or docs table derives
from the registrations), :mod:`tsallis.resampling` (PAFT's importance resampling), :mod:`tsallis.schedules`
(q over training steps), :mod:`tsallis.diagnostics` (batch statistics) and :mod:`tsallis.bias`
(exact and delta-method bias/variance of GARL and PAFT). numpy arrays and torch tensors alike;
nothing here imports ``sim``, ``llm`` or ``figures``.
"""

from tsallis.estimators import (
    ESTIMATORS,
    EstimatorName,
    EstimatorOptions,
    EstimatorSpec,
    compute_weights,
    estimator_spec,
    garl,
    get_estimator,
    grpo,
    paft,
    reinforce,
    rloo,
    sft,
)
from tsallis.qlog import amplification, jq_derivative, jq_objective, qexp, qlog
from tsallis.registry import markdown_table, option_specs, unused_options, uses_q
from tsallis.schedules import ConstantQ, CosineQ, LinearQ, QSchedule, StepQ, make_schedule

__all__ = [
    "ESTIMATORS",
    "ConstantQ",
    "CosineQ",
    "EstimatorName",
    "EstimatorOptions",
    "EstimatorSpec",
    "LinearQ",
    "QSchedule",
    "StepQ",
    "amplification",
    "compute_weights",
    "estimator_spec",
    "garl",
    "get_estimator",
    "grpo",
    "jq_derivative",
    "jq_objective",
    "make_schedule",
    "markdown_table",
    "option_specs",
    "paft",
    "qexp",
    "qlog",
    "reinforce",
    "rloo",
    "sft",
    "unused_options",
    "uses_q",
]
