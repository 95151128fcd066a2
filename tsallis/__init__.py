"""The verified core of the Tsallis loss continuum.

J_Q(θ) = E_x[ln_q P_θ(x)] with ln_q(u) = (u^(1-q) - 1)/(1-q): q = 0 is RL from verifiable rewards,
q = 1 is log marginal likelihood over latent chains of thought, and ∇ ln_q P = P^(-q) ∇P.

Modules: :mod:`tsallis.qlog` (q-log, q-exp, J_Q, amplification), :mod:`tsallis.estimators`
(REINFORCE, RLOO, GRPO, GARL, PAFT, SFT as functions from rewards (G, M) to weights (G, M), each
registered with its description), :mod:`tsallis.likelihood` (the paper's GARL and PAFT from likelihood
weights log p(y*|x, z_m) (G, M) to score and answer coefficients; ``compute_likelihood_weights``), :mod:`tsallis.registry` (what a trainer, CLI or docs table derives
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
    capped_garl,
    compute_likelihood_weights,
    compute_weights,
    estimator_spec,
    garl,
    get_estimator,
    grpo,
    likelihood_form,
    paft,
    reinforce,
    rloo,
    sft,
)
from tsallis.likelihood import LikelihoodWeights, garl_likelihood, paft_likelihood
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
    "LikelihoodWeights",
    "LinearQ",
    "QSchedule",
    "StepQ",
    "amplification",
    "capped_garl",
    "compute_likelihood_weights",
    "compute_weights",
    "estimator_spec",
    "garl",
    "garl_likelihood",
    "get_estimator",
    "grpo",
    "jq_derivative",
    "jq_objective",
    "likelihood_form",
    "make_schedule",
    "markdown_table",
    "option_specs",
    "paft",
    "paft_likelihood",
    "qexp",
    "qlog",
    "reinforce",
    "rloo",
    "sft",
    "unused_options",
    "uses_q",
]
