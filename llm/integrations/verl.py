"""GARL (each baseline) and PAFT in verl's advantage-estimator registry (verl 0.9.1).

Usage: import this module in the process that computes verl's advantages (verl 0.9.1's ``TaskRunner``, a
Ray actor), e.g. through verl's own import hook handed to every Ray process, and pick an estimator by name::

    VERL_USE_EXTERNAL_MODULES=llm.integrations.verl python -m verl.trainer.main_ppo \\
        +ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES=llm.integrations.verl \\
        algorithm.adv_estimator=garl +algorithm.tsallis.q=0.75 +algorithm.tsallis.baseline=mean \\
        actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum actor_rollout_ref.rollout.n=16 ...

Importing the module registers :data:`ESTIMATOR_NAMES` (every ``tsallis`` estimator that reads q, and
those with a baseline also once per baseline: garl, garl_none, garl_mean, garl_loo, paft, capped_garl, ...)
when verl is importable, and does nothing otherwise (call :func:`register` to get the ImportError). The
``+algorithm.tsallis.*`` keys (:class:`VerlSettings`): ``q`` (a number) or ``schedule`` (a
``tsallis.make_schedule`` dict), ``seed``, ``start_step``, and the estimator's settings (``baseline``,
``num_resamples``, ``resampling``, ``cap``, ...).

Maths. verl calls a registered estimator once per training step, in its TaskRunner, with
``token_level_rewards`` (B, T), ``response_mask`` (B, T), ``config`` (the ``algorithm`` section) and
``index`` (B,) the prompt uid of each response. With r_i = Σ_t token_level_rewards[i, t] (the outcome
reward, in [0, 1]) grouped by uid into G groups of M::

    w = tsallis.estimators.compute_weights(estimator, r, options(q = q_t))     (G, M)
    advantages[i, t] = returns[i, t] = M · w_i · response_mask[i, t]

verl's actor loss with ``loss_agg_mode="seq-mean-token-sum"`` over a mini-batch of B = G·M sequences is
-(1/B) Σ_i Σ_t ρ_it A_i (PPO-clipped), whose on-policy gradient is -(1/(G M)) Σ_i M w_i ∇log p(z_i) =
-(1/G) Σ_g Σ_m w_gm ∇log p(z_gm): the ``tsallis`` estimator, when one mini-batch holds the whole step
(``ppo_mini_batch_size`` = ``data.train_batch_size``, ``ppo_epochs=1``). verl's default
``token-mean`` divides by the number of tokens instead and weights long responses more.

Step. The estimator is not told verl's global step; it counts its own calls (one per training step),
so q_t = schedule(start_step + number of earlier calls). Set ``start_step`` to the step a resumed run
continues from. PAFT's resampling at step t draws from derive_seed(seed, t, 1); it runs once per step,
in the TaskRunner, before the batch is sent to the workers, so every worker trains on the same resampling.

What PAFT needs in verl. These advantages give PAFT's exact gradient: a sequence drawn c times by the
resampling gets A = M c P̂^(1-q)/K, the others A = 0. What the advantage route cannot do is the point of
PAFT's SFT form: verl still forwards and backpropagates the zero-advantage sequences (and applies the
KL loss to them), and an off-policy proposal (``proposal_logw``) needs the rollout log-probs, which verl
does not pass to an advantage estimator. A PAFT actor in verl would filter the batch between
``compute_advantage`` and ``update_actor`` to the K resampled sequences per group (duplicated by count)
and train them with an SFT loss scaled by P̂^(1-q): a trainer change, not an estimator.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from llm.integrations.core import Q_ESTIMATORS, resolve_schedule, step_diagnostics, step_q, step_weights
from llm.train.config import plain_data
from tsallis.estimators import EstimatorOptions
from tsallis.registry import estimator_spec, option_specs, unused_options

VERL_VERSION = "0.9.1"
INSTALL_HINT = "see docs/integrations.md (verl is not installed with this project: it pins transformers<5.11)"


def _verl_names() -> dict[str, tuple[str, str | None]]:
    """verl name -> (tsallis estimator, baseline fixed by the name or None): every registered estimator that
    reads q under its own name, and those with a baseline also as NAME_none, NAME_mean, NAME_loo."""
    names: dict[str, tuple[str, str | None]] = {}
    baselines = option_specs()["baseline"].choices
    for estimator in Q_ESTIMATORS:
        names[estimator] = (estimator, None)
        if "baseline" in estimator_spec(estimator).options:
            names.update({f"{estimator}_{b}": (estimator, b) for b in baselines})
    return names


ESTIMATOR_NAMES: dict[str, tuple[str, str | None]] = _verl_names()
"""garl, garl_none, garl_mean, garl_loo, paft, capped_garl, capped_garl_none, ... (from the tsallis registry)."""
SETTINGS_KEY = "tsallis"
PLUGIN_KEYS = ("q", "schedule", "seed", "start_step")
OPTION_KEYS = tuple(name for name, spec in option_specs().items() if not spec.per_call and name != "q")
"""EstimatorOptions settings a config may give (baseline, num_resamples, resampling, cap, ...)."""


@dataclasses.dataclass(frozen=True)
class VerlSettings:
    """The ``algorithm.tsallis`` section of a verl config (add its keys with ``+algorithm.tsallis.KEY=VALUE``).

    Besides the four fields, any :data:`OPTION_KEYS` setting of ``tsallis.EstimatorOptions`` (``baseline``,
    ``num_resamples``, ``resampling``, ``cap``, ...) is passed to the estimator; its defaults are
    EstimatorOptions' (GARL's baseline: "mean").
    """

    q: float | None = None
    """Constant Tsallis index q in [0, 1]; give this or ``schedule``."""
    schedule: Any = None
    """A q schedule dict for ``tsallis.make_schedule``, e.g. ``{kind: step, q_before: 1, q_after: 0, switch_step: 100}``."""
    seed: int = 0
    """Seed of PAFT's resampling."""
    start_step: int = 0
    """Schedule step of the first call (a resumed run: the step it continues from)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The EstimatorOptions settings given (key -> value)."""

    @classmethod
    def from_config(cls, config: Any) -> VerlSettings:
        """Read ``config[SETTINGS_KEY]`` (an OmegaConf DictConfig, a verl AlgoConfig, a dict, or None)."""
        section = None if config is None else _get(config, SETTINGS_KEY)
        if section is None:
            return cls()
        values = plain_data(section)
        if not isinstance(values, dict):
            raise ValueError(f"algorithm.{SETTINGS_KEY} must be a mapping, got {values!r}")
        unknown = sorted(set(values) - set(PLUGIN_KEYS) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in algorithm.{SETTINGS_KEY}; valid keys are "
                             f"{sorted(PLUGIN_KEYS + OPTION_KEYS)}")
        options = {k: v for k, v in values.items() if k in OPTION_KEYS}
        return cls(**{k: v for k, v in values.items() if k in PLUGIN_KEYS}, options=options)


def _get(config: Any, key: str) -> Any:
    if isinstance(config, Mapping) or hasattr(config, "get"):
        return config.get(key, None)
    return getattr(config, key, None)


class TsallisAdvantage:
    """One registered estimator: ``fn(token_level_rewards, response_mask, config=None, index=None, **kwargs)``
    returning ``(advantages, returns)``, both (B, T) and equal (see the module docstring)."""

    def __init__(self, verl_name: str) -> None:
        if verl_name not in ESTIMATOR_NAMES:
            raise ValueError(f"verl estimator name must be one of {tuple(ESTIMATOR_NAMES)}, got {verl_name!r}")
        self.verl_name = verl_name
        self.estimator, self.fixed_baseline = ESTIMATOR_NAMES[verl_name]
        self.calls = 0
        self.last_diagnostics: dict[str, float] = {}
        self.__name__ = f"tsallis_{verl_name}_advantage"
        self._warned = False

    def options(self, settings: VerlSettings) -> EstimatorOptions:
        """EstimatorOptions from the settings (q is set per step); invalid values raise the core's ValueError."""
        values = dict(settings.options)
        if self.fixed_baseline is not None:
            if values.get("baseline", self.fixed_baseline) != self.fixed_baseline:
                raise ValueError(
                    f"algorithm.adv_estimator={self.verl_name} fixes the baseline to {self.fixed_baseline!r}, but "
                    f"algorithm.{SETTINGS_KEY}.baseline={values['baseline']!r}; use adv_estimator={self.estimator} "
                    "to choose it by key"
                )
            values["baseline"] = self.fixed_baseline
        ignored = unused_options(self.estimator, values)
        if ignored and not self._warned:
            warnings.warn(f"{self.verl_name} ignores algorithm.{SETTINGS_KEY}.{', '.join(ignored)}", stacklevel=3)
            self._warned = True
        return EstimatorOptions(**values)

    def schedule(self, settings: VerlSettings):
        """The q schedule from ``q`` or ``schedule`` (exactly one of them)."""
        if (settings.q is None) == (settings.schedule is None):
            raise ValueError(
                f"{self.verl_name} needs exactly one of algorithm.{SETTINGS_KEY}.q (a number) and "
                f"algorithm.{SETTINGS_KEY}.schedule (a q schedule dict); got q={settings.q!r}, "
                f"schedule={settings.schedule!r}"
            )
        return resolve_schedule(settings.schedule if settings.schedule is not None else float(settings.q),
                                EstimatorOptions())

    def __call__(self, token_level_rewards: torch.Tensor, response_mask: torch.Tensor, config: Any = None,
                 index: Any = None, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        settings = VerlSettings.from_config(config)
        options = self.options(settings)
        schedule = self.schedule(settings)
        step = settings.start_step + self.calls
        advantages, diagnostics = outcome_advantages(
            self.estimator, token_level_rewards, response_mask, index, options, schedule, step, settings.seed
        )
        self.calls += 1
        self.last_diagnostics = diagnostics
        return advantages, advantages


def group_rows(index: Any, batch: int) -> list[np.ndarray]:
    """Row numbers of each group, in order of first appearance of its uid: index (B,) -> G arrays."""
    if index is None:
        raise ValueError("the tsallis estimators need index= (verl's uid of each response's prompt), got None")
    index = np.asarray(index, dtype=object)
    if index.shape != (batch,):
        raise ValueError(f"index must have shape ({batch},), one uid per response; got shape {index.shape}")
    groups: dict[Any, list[int]] = {}
    for row, uid in enumerate(index.tolist()):
        groups.setdefault(uid, []).append(row)
    return [np.asarray(rows) for rows in groups.values()]


def outcome_advantages(estimator: str, token_level_rewards: torch.Tensor, response_mask: torch.Tensor, index: Any,
                       options: EstimatorOptions, schedule, step: int, seed: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Advantages (B, T) = M · w_i · response_mask and this step's diagnostics (see the module docstring).

    Groups of unequal size (e.g. after verl's group filtering) are handled size by size; each group's
    advantage is its own M times its weights, and the diagnostics describe the most common size.
    """
    if token_level_rewards.shape != response_mask.shape or token_level_rewards.ndim != 2:
        raise ValueError(
            f"token_level_rewards and response_mask must both be (B, T); got {tuple(token_level_rewards.shape)} "
            f"and {tuple(response_mask.shape)}"
        )
    scores = token_level_rewards.detach().sum(dim=-1).to("cpu", torch.float64)  # (B,)
    rows = group_rows(index, scores.shape[0])
    q = step_q(estimator, schedule, step)
    coefficient = torch.zeros_like(scores)  # (B,)
    sizes = [len(r) for r in rows]
    diagnostics: dict[str, float] = {}
    for m in sorted(set(sizes), key=lambda size: (-sizes.count(size), size)):  # most common size first
        members = np.stack([r for r in rows if len(r) == m])  # (G_m, M)
        rewards = scores[torch.as_tensor(members)]  # (G_m, M)
        weights = step_weights(estimator, rewards, options, q, seed, step)
        coefficient[torch.as_tensor(members.reshape(-1))] = (m * weights).reshape(-1)
        if not diagnostics:
            diagnostics = step_diagnostics(rewards, q, estimator)
    advantages = coefficient.to(response_mask.device, torch.float32)[:, None] * response_mask.to(torch.float32)
    return advantages, diagnostics


ADVANTAGE_FUNCTIONS: dict[str, TsallisAdvantage] = {name: TsallisAdvantage(name) for name in ESTIMATOR_NAMES}
"""The callables registered with verl, one per name (each keeps its own step count)."""


def register() -> None:
    """Register :data:`ADVANTAGE_FUNCTIONS` with ``verl.trainer.ppo.core_algos.register_adv_est`` (idempotent)."""
    try:
        from verl.trainer.ppo import core_algos
    except ImportError as err:
        raise ImportError(f"the verl plug-in needs verl=={VERL_VERSION}: {INSTALL_HINT}") from err
    for name, fn in ADVANTAGE_FUNCTIONS.items():
        core_algos.register_adv_est(name)(fn)


if importlib.util.find_spec("verl") is not None:
    try:
        register()
    except ImportError as _err:  # verl is there but does not import (e.g. ray missing): say so, do not break
        warnings.warn(f"verl is installed but does not import, so the tsallis estimators are not registered: {_err}",
                      stacklevel=2)
