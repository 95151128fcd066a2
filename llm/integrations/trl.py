"""GARL, PAFT and the other ``tsallis`` estimators as a TRL ``GRPOTrainer`` (TRL 1.16).

Usage (a GRPO script changes its trainer class and passes two more arguments)::

    from llm.integrations.trl import TsallisGRPOTrainer, tsallis_grpo_config

    args = tsallis_grpo_config(output_dir="out", num_generations=16, ...)   # a GRPOConfig, loss fixed
    trainer = TsallisGRPOTrainer(model="Qwen/Qwen2.5-1.5B", reward_funcs=my_reward, args=args,
                                 train_dataset=dataset, estimator="garl",
                                 estimator_options={"baseline": "mean"}, q_schedule=0.75)
    trainer.train()

Importing this module needs no TRL; ``TsallisGRPOTrainer`` imports it on first access.

Maths. For the G·M completions of one generation batch (G prompts, M = ``num_generations``) with rewards
r_gm in [0, 1] (the weighted sum of the reward functions, as TRL forms it), at global step t::

    w = compute_weights(estimator, r, options(q = q_schedule(t)))      (G, M), from ``tsallis``
    A_gm = M · w_gm                                                    replaces TRL's GRPO advantage

TRL's ``luspo`` loss with ``importance_sampling_level="token"`` is, per micro-batch of B sequences and
gradient-accumulation window of k micro-batches,

    L = -(1/(B k)) Σ_i Σ_t min(ρ_it A_i, clip(ρ_it, 1-ε, 1+ε_hi) A_i),   ρ_it = exp(ℓ_it - ℓ^old_it)

and DDP averages it over the R ranks. On-policy (ρ = 1, the first of ``num_iterations`` passes) its
gradient is -(1/(B k R)) Σ_i A_i Σ_t ∇ℓ_it, and with ``steps_per_generation`` = k one optimizer step sees
B k R = G M sequences, so

    ∇L = -(1/(G M)) Σ_i M w_i ∇log p(z_i) = -(1/G) Σ_g Σ_m w_gm ∇log p(z_gm),

the ``tsallis`` estimator, the same as this project's trainer with the ``seq-sum`` aggregation. (Other
loss types normalise by tokens or by sequence length and give a different, length-weighted estimator;
``importance_sampling_level="sequence"`` replaces Σ_t ∇ℓ_it by its mean over tokens.)

How. TRL 1.16 has no advantage hook: GRPO advantages are computed inside
``_generate_and_score_completions`` from the rewards that ``_calculate_rewards`` gathers from every rank.
This subclass keeps those gathered rewards, recomputes ``out["advantages"]`` from them before TRL
shuffles and splits the batch, and logs this project's diagnostics (``tsallis/…``) through TRL's
metrics, which TRL averages per logging step and sends to its ``report_to`` loggers. Every rank sees
the same gathered rewards and seeds PAFT's resampling from (seed, global step) only, so all ranks
compute the same weights and keep their own slice, exactly as TRL slices its advantages: DDP,
DeepSpeed and FSDP launches work as they do for GRPOTrainer.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch

from llm.integrations.core import (
    check_estimator,
    resolve_options,
    resolve_schedule,
    step_diagnostics,
    step_q,
    step_weights,
)
from llm.seeding import derive_seed
from tsallis.registry import unused_options

logger = logging.getLogger(__name__)

TRL_VERSION = "1.16.0"
"""The TRL release the plug-in is tested against (it overrides two private GRPOTrainer methods)."""
INSTALL_HINT = 'pip install ".[trl]"   (trl==1.16.0)'
REQUIRED_ARGS = {"loss_type": "luspo", "importance_sampling_level": "token", "multi_objective_aggregation": "sum_then_normalize"}
"""GRPOConfig values the exact estimator needs (see the module docstring)."""
METRIC_PREFIX = "tsallis/"
EVAL_STREAM = 2
"""Seed stream of PAFT's resampling during TRL evaluation (training uses the run seed itself)."""


def tsallis_grpo_config(**kwargs: Any):
    """A ``trl.GRPOConfig`` with the loss that makes TRL's gradient the estimator's (:data:`REQUIRED_ARGS`).

    Every other keyword goes to ``GRPOConfig`` unchanged; giving one of :data:`REQUIRED_ARGS` a different
    value raises ValueError.
    """
    GRPOConfig = _import_trl().GRPOConfig
    for name, value in REQUIRED_ARGS.items():
        if kwargs.setdefault(name, value) != value:
            raise ValueError(f"the tsallis plug-in needs {name}={value!r}, got {name}={kwargs[name]!r}")
    return GRPOConfig(**kwargs)


def check_grpo_args(args: Any) -> list[str]:
    """Raise ValueError for GRPOConfig settings that change the estimator; return warnings for those that
    only make the update PPO-like or add a regulariser (one string each)."""
    for name, value in REQUIRED_ARGS.items():
        if getattr(args, name) != value:
            raise ValueError(
                f"TsallisGRPOTrainer needs {name}={value!r} so that the loss is -(1/G) Σ w log p(z); got "
                f"{name}={getattr(args, name)!r} (build the config with tsallis_grpo_config)"
            )
    if args.top_entropy_quantile < 1.0:
        raise ValueError(f"top_entropy_quantile={args.top_entropy_quantile} masks tokens out of the estimator; use 1.0")
    if args.off_policy_mask_threshold is not None:
        raise ValueError(
            f"off_policy_mask_threshold={args.off_policy_mask_threshold} drops sequences by the sign of their "
            "advantage, which is not an advantage here; use None"
        )
    notes = []
    if args.num_iterations > 1:
        notes.append(f"num_iterations={args.num_iterations}: passes after the first are PPO-clipped surrogates")
    if args.steps_per_generation != args.gradient_accumulation_steps:
        notes.append(
            f"steps_per_generation={args.steps_per_generation} != gradient_accumulation_steps="
            f"{args.gradient_accumulation_steps}: each optimizer step sees a random part of the G·M sequences"
        )
    if args.beta != 0.0:
        notes.append(f"beta={args.beta}: a k3 KL term is added (use_bias_correction_kl={args.use_bias_correction_kl})")
    if args.entropy_coef != 0.0 or args.use_adaptive_entropy:
        notes.append("an entropy bonus is added to the loss")
    return notes


def rewards_from_functions(rewards_per_func: torch.Tensor, reward_weights: torch.Tensor) -> torch.Tensor:
    """r_i = Σ_k λ_k r_ik over the reward functions k (TRL's weighted sum), (N, K) -> (N,).

    A completion no function could score (all NaN) gets r = 0: it counts as a failure, as a verifier that
    finds no answer scores it.
    """
    return (rewards_per_func * reward_weights.to(rewards_per_func.device)[None, :]).nansum(dim=1)


def _import_trl():
    try:
        import trl
    except ImportError as err:
        raise ImportError(f"the TRL plug-in needs TRL: {INSTALL_HINT}") from err
    if trl.__version__ != TRL_VERSION:
        warnings.warn(
            f"llm.integrations.trl is tested with trl=={TRL_VERSION}, found trl=={trl.__version__}; it overrides "
            "GRPOTrainer._calculate_rewards and _generate_and_score_completions, which may have changed",
            stacklevel=3,
        )
    return trl


def _build_trainer_class():
    GRPOTrainer = _import_trl().GRPOTrainer

    class TsallisGRPOTrainer(GRPOTrainer):
        """``trl.GRPOTrainer`` trained with a ``tsallis`` estimator: loss -(1/G) Σ_g Σ_m w_gm log p(z_gm).

        Parameters (besides GRPOTrainer's, all keyword-only)
        ----------
        estimator : a registered ``tsallis`` estimator that learns from rollouts
            (``llm.integrations.core.ROLLOUT_ESTIMATORS``: "garl" (default), "paft", "capped_garl", and the
            references "grpo", "rloo", "reinforce"). GARL's
            w_m = P̂^(-q) (r_m - b_m)/M; PAFT's w_m = c_m P̂^(1-q)/K with c the counts of K resampled successes.
        estimator_options : ``tsallis.EstimatorOptions`` or a dict of its fields (``baseline`` of GARL:
            "none" / "mean" / "loo"; ``num_resamples`` K and ``resampling`` of PAFT; ``cap``; GRPO's ``eps``
            ...). ``generator`` must stay unset; ``q`` is the constant q when ``q_schedule`` is None. Options
            the estimator ignores are reported in a warning.
        q_schedule : a number, a ``tsallis.make_schedule`` dict such as
            ``{"kind": "step", "switch_step": 100}`` (SFT-then-RLVR), or a callable step -> q. q at global
            step t is ``q_schedule(t)``, t = ``state.global_step`` when the batch is generated (0 first).
        resampling_seed : seed of PAFT's resampling; None = ``args.seed``. Step t draws from
            derive_seed(seed, t, 1) on every rank.

        ``args`` must have :data:`REQUIRED_ARGS` (build it with :func:`tsallis_grpo_config`). Logged per
        step, under ``tsallis/``: ``algo/q``, the P̂ summary and quartiles, ``groups/frac_no_success``,
        ``amplification/mean``/``max`` (P̂^(-q) over groups with a success), ``paft/ess_mean`` and
        ``weights/nonzero_frac``. The completions table shows these advantages A = M·w.
        """

        def __init__(self, *args: Any, estimator: str = "garl", estimator_options: Any = None,
                     q_schedule: Any = None, resampling_seed: int | None = None, **kwargs: Any) -> None:
            self.tsallis_estimator = check_estimator(estimator)
            self.tsallis_options = resolve_options(estimator_options)
            self.tsallis_schedule = resolve_schedule(q_schedule, self.tsallis_options)
            ignored = [o for o in unused_options(estimator, self.tsallis_options) if o != "q"]
            if ignored:
                logger.warning("TsallisGRPOTrainer: estimator %r ignores the option(s) %s", estimator, ignored)
            super().__init__(*args, **kwargs)
            for note in check_grpo_args(self.args):
                logger.warning("TsallisGRPOTrainer: %s", note)
            self.tsallis_seed = int(self.args.seed if resampling_seed is None else resampling_seed)
            self._tsallis_rewards: torch.Tensor | None = None

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            # TRL returns the rewards of every rank's completions, (N_global, K); keep them for the weights
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._tsallis_rewards = rewards_per_func
            return rewards_per_func

        def _generate_and_score_completions(self, inputs):
            self._tsallis_rewards = None
            out = super()._generate_and_score_completions(inputs)
            if self._tsallis_rewards is None:
                raise RuntimeError(
                    "GRPOTrainer._generate_and_score_completions did not call _calculate_rewards; this TRL "
                    f"version is not supported by the tsallis plug-in (tested: trl=={TRL_VERSION})"
                )
            mode = "train" if self.model.training else "eval"
            m = self.num_generations if mode == "train" else self.num_generations_eval
            rewards = rewards_from_functions(self._tsallis_rewards, self.reward_weights).reshape(-1, m)  # (G, M)
            step = int(self.state.global_step)
            seed = self.tsallis_seed if mode == "train" else derive_seed(self.tsallis_seed, EVAL_STREAM)
            q = step_q(self.tsallis_estimator, self.tsallis_schedule, step)
            weights = step_weights(self.tsallis_estimator, rewards, self.tsallis_options, q, seed, step)  # (G, M)
            advantages = (m * weights).reshape(-1)  # (G·M,) in TRL's global order
            local = out["advantages"]
            start = self.accelerator.process_index * local.shape[0]
            out["advantages"] = advantages[start : start + local.shape[0]].to(local.device, local.dtype)

            metrics = self._metrics[mode]
            for key, value in step_diagnostics(rewards, q, self.tsallis_estimator).items():
                metrics[METRIC_PREFIX + key].append(value)
            metrics[METRIC_PREFIX + "weights/nonzero_frac"].append(float((weights != 0).double().mean()))
            logged = self._logs["advantages"]  # TRL logged its GRPO advantages for the completions table
            for _ in range(min(advantages.numel(), len(logged))):
                logged.pop()
            logged.extend(advantages.tolist())
            return out

    TsallisGRPOTrainer.__module__ = __name__
    return TsallisGRPOTrainer


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``TsallisGRPOTrainer`` is built (and TRL imported) on first access."""
    if name == "TsallisGRPOTrainer":
        if name not in _CLASSES:
            _CLASSES[name] = _build_trainer_class()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
