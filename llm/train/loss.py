"""The policy loss: one function from token log-probs and per-sequence weights to (loss, metrics).

Maths. For sequence i (a completion z_i of prompt x_i) with completion tokens t ∈ T_i, coefficient A_it
(per sequence, A_it = A_i, or per token), current token log-probs ℓ_it = log p_θ(z_it | x_i, z_i,<t) and rollout log-probs
ℓ^old_it, the per-token objective is::

    o_it = A_it ℓ_it                                       (no clipping: the exact estimator)
    o_it = min(ρ_it A_it, clip(ρ_it, 1-ε_lo, 1+ε_hi) A_it)  (PPO clip), ρ_it = exp(ℓ_it - ℓ^old_it)
    o_it -= β k3_it,  k3_it = exp(ℓ^ref_it - ℓ_it) - (ℓ^ref_it - ℓ_it) - 1   (KL to a reference, β > 0)
    o_it -= β ρ_it k3_it                      (the same, bias-corrected: ``kl_bias_correction=True``)

The bias-corrected KL is TRL's ``use_bias_correction_kl=True`` (TRL's default; DeepSeek-V3.2,
arXiv 2512.02556): each token's k3 is weighted by its importance ratio ρ_it = exp(ℓ_it - ℓ^old_it).
ρ is differentiable, so the gradient differs even on-policy: ∇(ρ k3) = ρ (∇k3 + k3 ∇ℓ). For tokens
drawn from p_θ, E[∇k3] = -E_ref[∇ℓ], the gradient of the forward KL(p_ref ‖ p_θ), while
E[∇k3 + k3 ∇ℓ] = E_θ[(ℓ - ℓ^ref) ∇ℓ], the gradient of the reverse KL(p_θ ‖ p_ref) that k3 estimates.
The plain k3 (the default here) is TRL's ``use_bias_correction_kl=False`` and verl's ``low_var_kl``
(which also clamps k3 to [-10, 10]).

and the loss is  L = -(1/N) Σ_i agg_i(o_i·)  with an aggregation mode (``AGGREGATIONS``):

* ``seq-sum``: Σ_i Σ_t o_it / N, N = number of sequences. With A_i = M w_i (w the ``tsallis``
  estimator weights) and N = G·M this is -(1/G) Σ_g Σ_m w_gm log p(z_gm): the exact GARL/PAFT/SFT
  estimator, since ∇ Σ_t ℓ_it = ∇ log p(z_i). At ρ = 1 the clipped form has the same gradient.
  Per-token coefficients give the paper's likelihood form (Algorithms 1 and 2): a completion is a rationale
  z followed by the gold answer y*, and A_it = M·score on z's sampled tokens, M·answer on y*'s, 0 on tokens
  forced after the budget, so that Σ_t A_it ℓ_it / N = (1/G) Σ_m [score log p(z | x) + answer log p(y* | x, z)]
  (Eqs. 12 and 14 with the coefficients of ``tsallis.compute_likelihood_weights``).
* ``token-sum``: Σ_i Σ_t o_it / N, N = number of completion tokens in the update. TRL's default loss
  ``dapo`` (arXiv 2503.14476); our GRPO default. Long completions weigh more per sequence.
* ``seq-mean-token-mean``: Σ_i (Σ_t o_it / |T_i|) / N, N = number of sequences: the original GRPO
  (arXiv 2402.03300) average, which favours short wrong answers (length bias).
* ``seq-mean-token-sum-norm``: Σ_i Σ_t o_it / N, N = sequences × max_new_tokens: Dr. GRPO
  (arXiv 2503.20783), a constant normaliser.

N always counts the *whole update* (every micro-batch on every rank), so that summing the
micro-batch losses, as gradient accumulation does, gives exactly L; see :func:`normalizer_count`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Aggregation:
    """A named loss aggregation: how one micro-batch's token terms are summed, and what N counts."""

    sum_terms: Callable[[Tensor, Tensor], Tensor]
    """(o (B, T), mask (B, T)) -> scalar numerator of this micro-batch."""
    count: Callable[[Tensor, int], float]
    """(mask (B, T), max_new_tokens) -> this micro-batch's share of the global normaliser N."""


def _token_sum(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum()


def _seq_token_mean(values: Tensor, mask: Tensor) -> Tensor:
    return ((values * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum()


AGGREGATIONS: dict[str, Aggregation] = {
    "seq-sum": Aggregation(_token_sum, lambda mask, _: float(mask.shape[0])),
    "token-sum": Aggregation(_token_sum, lambda mask, _: float(mask.sum())),
    "seq-mean-token-mean": Aggregation(_seq_token_mean, lambda mask, _: float(mask.shape[0])),
    "seq-mean-token-sum-norm": Aggregation(_token_sum, lambda mask, max_len: float(mask.shape[0] * max_len)),
}


def get_aggregation(name: str) -> Aggregation:
    """Look up an aggregation mode by name; the error lists the valid ones."""
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {name!r}; choose one of {tuple(AGGREGATIONS)}")
    return AGGREGATIONS[name]


def normalizer_count(agg: str, mask: Tensor, max_new_tokens: int) -> float:
    """This micro-batch's contribution to N; the trainer sums it over micro-batches and ranks."""
    return get_aggregation(agg).count(mask, max_new_tokens)


@dataclass(frozen=True)
class LossSpec:
    """The loss settings of a run, resolved once from its config (the maths is in the module docstring); the
    defaults are the exact estimator (``seq-sum``, no clipping, no KL)."""

    agg: str = "seq-sum"
    """Aggregation mode, a key of :data:`AGGREGATIONS`."""
    clip: tuple[float, float] | None = None
    """(ε_low, ε_high) of the PPO clipped ratio, or None."""
    kl_beta: float = 0.0
    """β of the k3 KL to the reference policy (0: no reference)."""
    kl_bias_correction: bool = False
    """k3 times the importance ratio (TRL's ``use_bias_correction_kl``)."""
    temperature: float = 1.0
    """Sampling temperature; log-probs are of the temperature-scaled logits."""
    max_new_tokens: int = 1
    """Completion limit (the constant normaliser of ``seq-mean-token-sum-norm``)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass."""
    with_entropy: bool = False
    """Also log the policy's token entropy ``train/entropy`` (one more pass over the vocabulary per token)."""

    @classmethod
    def from_config(cls, config) -> "LossSpec":
        """The loss settings of a :class:`~llm.train.config.TrainConfig`."""
        a = config.algo
        return cls(agg=a.resolved_loss_agg, clip=a.resolved_clip, kl_beta=a.kl_beta,
                   kl_bias_correction=a.kl_bias_correction, temperature=config.rollout.temperature,
                   max_new_tokens=config.rollout.max_new_tokens, micro_batch_size=config.optim.micro_batch_size)


def policy_loss(
    logprobs: Tensor,
    mask: Tensor,
    advantages: Tensor,
    spec: LossSpec,
    normalizer: float,
    *,
    old_logprobs: Tensor | None = None,
    ref_logprobs: Tensor | None = None,
) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]]]:
    """Loss of one micro-batch (see the module docstring for the maths).

    Parameters
    ----------
    logprobs : (B, T) ℓ_it of the completion tokens under the current policy, with grad, computed from
        temperature-scaled logits (the rollout's sampling distribution). Padding entries are ignored.
    mask : (B, T) 1.0 on completion tokens, 0.0 on padding.
    advantages : (B,) per-sequence coefficient A_i (M × the estimator weight; GRPO's advantage), or (B, T)
        per-token coefficients A_it (the likelihood form: M·score on rationale tokens, M·answer on the gold
        answer's); padding entries are ignored.
    spec : the aggregation mode ``spec.agg``, the PPO clip (ε_lo, ε_hi) ``spec.clip`` (None: the plain Σ A ℓ
        objective), the KL weight β ``spec.kl_beta`` and ``spec.kl_bias_correction`` (multiply each token's k3
        by its importance ratio ρ_it = exp(ℓ_it - ℓ^old_it), as TRL's ``use_bias_correction_kl=True`` does; see
        the module docstring; ``loss/kl_ref`` still reports the plain k3).
    normalizer : N for the whole update divided by the number of ranks (DDP averages gradients over
        ranks, so each rank's share is scaled back up).
    old_logprobs : (B, T) rollout log-probs ℓ^old, required when ``spec.clip`` is set or with the bias correction.
    ref_logprobs : (B, T) reference-policy log-probs, required when ``spec.kl_beta > 0``.

    Returns
    -------
    loss : scalar tensor; the sum of the micro-batch losses of an update is the update's loss.
    metrics : name -> (sum over active tokens, number of active tokens), detached, so that the caller
        averages them over the whole update: ``loss/clipfrac``, ``loss/approx_kl`` (k3 of ρ, Schulman's
        approximation http://joschu.net/blog/kl-approx.html), ``loss/ratio`` and ``loss/kl_ref``.
    """
    aggregation, clip, kl_beta = get_aggregation(spec.agg), spec.clip, spec.kl_beta
    if normalizer <= 0:
        raise ValueError(f"normalizer must be > 0, got normalizer={normalizer!r}")
    if logprobs.shape != mask.shape or advantages.shape not in (logprobs.shape[:1], logprobs.shape):
        raise ValueError(
            f"shapes disagree: logprobs {tuple(logprobs.shape)}, mask {tuple(mask.shape)}, "
            f"advantages {tuple(advantages.shape)} (expected (B, T), (B, T), (B,) or (B, T))"
        )
    mask = mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype)
    adv = adv[:, None] if adv.dim() == 1 else adv  # (B, 1) or (B, T)
    metrics: dict[str, tuple[Tensor, Tensor]] = {}
    if clip is None:
        objective = adv * logprobs  # (B, T)
    else:
        objective = _clipped_objective(logprobs, old_logprobs, adv, clip, mask, metrics)
    if kl_beta > 0:
        objective = objective - kl_beta * _kl_term(logprobs, old_logprobs, ref_logprobs, spec, mask, metrics)
    loss = -aggregation.sum_terms(objective, mask) / normalizer
    return loss, metrics


def _clipped_objective(logprobs: Tensor, old_logprobs: Tensor | None, adv: Tensor, clip: tuple[float, float],
                       mask: Tensor, metrics: dict) -> Tensor:
    """min(ρ A, clip(ρ, 1-ε_lo, 1+ε_hi) A) (B, T), adding ``loss/clipfrac``, ``loss/approx_kl`` and ``loss/ratio``
    to ``metrics``."""
    if old_logprobs is None:
        raise ValueError("clip is set but old_logprobs is None: the PPO ratio needs the rollout log-probs")
    tokens = mask.sum().detach()
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1.0 - clip[0], 1.0 + clip[1])
    objective = torch.minimum(ratio * adv, clipped * adv)  # (B, T)
    with torch.no_grad():
        was_clipped = ((ratio * adv) > (clipped * adv)).to(mask.dtype)
        metrics["loss/clipfrac"] = ((was_clipped * mask).sum(), tokens)
        metrics["loss/approx_kl"] = (((ratio - 1.0 - log_ratio) * mask).sum(), tokens)
        metrics["loss/ratio"] = ((ratio * mask).sum(), tokens)
    return objective


def _kl_term(logprobs: Tensor, old_logprobs: Tensor | None, ref_logprobs: Tensor | None, spec: LossSpec,
             mask: Tensor, metrics: dict) -> Tensor:
    """k3 (B, T), or ρ k3 with ``spec.kl_bias_correction``; adds the plain k3 as ``loss/kl_ref`` to ``metrics``."""
    if ref_logprobs is None:
        raise ValueError(f"kl_beta={spec.kl_beta} but ref_logprobs is None: load a reference policy")
    delta = ref_logprobs - logprobs
    k3 = torch.exp(delta) - delta - 1.0  # (B, T), >= 0
    metrics["loss/kl_ref"] = ((k3.detach() * mask).sum(), mask.sum().detach())
    if not spec.kl_bias_correction:
        return k3
    if old_logprobs is None:
        raise ValueError("kl_bias_correction=True but old_logprobs is None: the ratio ρ needs the rollout log-probs")
    return torch.exp(logprobs - old_logprobs) * k3
