"""One training step's estimator weights and diagnostics, shared by the TRL and verl plug-ins.

Maths. A step brings G groups of M rewards r_gm in [0, 1] (G prompts × M completions). With the Tsallis
index q_t = schedule(t) at global step t, the estimator's weights are::

    w = tsallis.estimators.compute_weights(estimator, r, options(q = q_t))            # (G, M)
    A_gm = M · w_gm                                                                    # per sequence

and an engine whose loss is the mean over the G·M sequences of -A_i log p(z_i) (TRL's ``luspo`` with
token-level importance sampling, verl's ``seq-mean-token-sum``) minimises exactly
-(1/G) Σ_g Σ_m w_gm log p(z_gm), the gradient estimator of ``tsallis``: for GARL
ĝ = (1/G) Σ_g P̂_g^(-q) (1/M) Σ_m (r_gm - b_gm) ∇log p(z_gm).

PAFT draws its resampling from a generator seeded by (seed, t) alone, not by the rank, so every rank of
a DDP/FSDP/DeepSpeed launch, given the same gathered rewards, draws the same resampled sequences.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from llm.seeding import derive_seed
from tsallis.diagnostics import group_diagnostics
from tsallis.estimators import EstimatorOptions, compute_weights
from tsallis.registry import ESTIMATORS, estimator_spec, uses_q
from tsallis.schedules import QSchedule, make_schedule

ROLLOUT_ESTIMATORS = tuple(name for name in ESTIMATORS if not estimator_spec(name).trains_on_targets)
"""Registered estimators that turn rollout rewards into weights (SFT trains on gold targets instead)."""
Q_ESTIMATORS = tuple(name for name in ROLLOUT_ESTIMATORS if uses_q(name))
"""Those that read q (GARL, PAFT, capped GARL, ...); the others ignore it and log q = 0."""
PAFT_STREAM = 1
"""Stream number of PAFT's resampling seed, derive_seed(seed, step, PAFT_STREAM)."""


def check_estimator(name: str) -> str:
    """``name`` if it is a rollout estimator of ``tsallis``; a ValueError naming the valid ones otherwise."""
    if name not in ROLLOUT_ESTIMATORS:
        raise ValueError(f"estimator must be one of {ROLLOUT_ESTIMATORS}, got estimator={name!r}")
    return name


def resolve_options(options: EstimatorOptions | dict[str, Any] | None) -> EstimatorOptions:
    """An :class:`EstimatorOptions` from itself, a dict of its fields, or None (the defaults).

    ``generator`` must be left unset: the plug-ins seed PAFT's resampling per step (:func:`resampling_seed`).
    """
    if options is None:
        options = EstimatorOptions()
    elif isinstance(options, dict):
        names = {f.name for f in dataclasses.fields(EstimatorOptions)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ValueError(f"unknown estimator option(s) {unknown}; EstimatorOptions has {sorted(names)}")
        options = EstimatorOptions(**options)
    elif not isinstance(options, EstimatorOptions):
        raise ValueError(f"estimator_options must be an EstimatorOptions, a dict or None; got {options!r}")
    if options.generator is not None:
        raise ValueError(
            "estimator_options.generator must be None: the plug-in seeds PAFT's resampling itself, from "
            "(seed, global step), identically on every rank"
        )
    return options


def resolve_schedule(q_schedule: float | dict[str, Any] | QSchedule | None, options: EstimatorOptions) -> QSchedule:
    """The q schedule: ``q_schedule`` (a number, ``{"kind": ...}`` dict or callable), else constant ``options.q``."""
    if q_schedule is None:
        if not isinstance(options.q, (int, float)):
            raise ValueError(f"estimator_options.q must be a number when no q_schedule is given, got q={options.q!r}")
        return make_schedule(float(options.q))
    return make_schedule(q_schedule)


def resampling_seed(seed: int, step: int) -> int:
    """PAFT's resampling seed at global step ``step``: derive_seed(seed, step, PAFT_STREAM), the same on every rank."""
    return derive_seed(int(seed), int(step), PAFT_STREAM)


def step_q(estimator: str, schedule: QSchedule, step: int) -> float:
    """q_t = schedule(t) for estimators that read q; 0 for the others (so the logged amplification is 1)."""
    return float(schedule(int(step))) if uses_q(estimator) else 0.0


def step_weights(estimator: str, rewards: torch.Tensor, options: EstimatorOptions, q: float, seed: int,
                 step: int) -> torch.Tensor:
    """Weights w (G, M), float64 on the CPU, of ``estimator`` for ``rewards`` (G, M) at global step ``step``.

    w = compute_weights(estimator, r, options with q = ``q`` and, for a random estimator (PAFT), a torch
    generator seeded by :func:`resampling_seed`). Rewards outside [0, 1] raise the core's ValueError.
    """
    rewards = torch.as_tensor(rewards).detach().to("cpu", torch.float64)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must have shape (G, M), got shape {tuple(rewards.shape)}")
    random = estimator_spec(estimator).needs_generator
    generator = torch.Generator().manual_seed(resampling_seed(seed, step)) if random else None
    return compute_weights(estimator, rewards, dataclasses.replace(options, q=q, generator=generator))


def step_diagnostics(rewards: torch.Tensor, q: float, estimator: str | None = None) -> dict[str, float]:
    """This project's per-step reward diagnostics, as the trainer logs them: :func:`tsallis.diagnostics.group_diagnostics`
    (P̂ summary and quartiles, ``groups/frac_no_success``, the amplification P̂^(-q), PAFT's ESS; only what applies to
    ``estimator``) and ``algo/q``."""
    r = np.asarray(torch.as_tensor(rewards).detach().to("cpu", torch.float64))
    return {"algo/q": float(q), **group_diagnostics(r, q, estimator)}
