"""Gradient estimators as pure functions from a group of rewards to per-sample weights.

Setting
-------
Each of G prompts x_g has M samples z_gm ~ p_θ(·|x_g) with rewards r_gm in [0, 1]; ``rewards`` has
shape (G, M). Every estimator returns ``weights`` of the same shape and type, and the gradient
estimate for group g is::

    ĝ_g = Σ_m weights[g, m] · ∇ log p_θ(z_gm)        (an ascent direction)

so a trainer minimises  -(1/G) Σ_g Σ_m weights[g, m] · log p_θ(z_gm). The Tsallis estimators target
∇ ln_q P_g = P_g^(-q) ∇P_g, where P_g = E_z[r(x_g, z)], estimated by P̂_g = (1/M) Σ_m r_gm.

Registry
--------
Estimators are registered under an :class:`EstimatorName` and share one signature
``fn(rewards, options) -> weights``; options that only some estimators use live in
:class:`EstimatorOptions`. Fetch one with :func:`get_estimator` or call :func:`compute_weights`.

Edge cases, common to all: a group whose rewards are all zero (P̂ = 0) gets all-zero weights, never
NaN or inf; weights are finite for every q in [0, 1], every M >= 1 and every group in [0, 1]^M.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tsallis._arrays import as_float_array, as_like, check_groups, check_q
from tsallis.qlog import amplification
from tsallis.resampling import RESAMPLING_SCHEMES, kish_ess, resample_counts

BASELINES = ("none", "mean", "loo")
GRPO_SCALES = ("group", "batch", "none")


class EstimatorName(str, Enum):
    """Names under which estimators are registered (a str Enum, so typos fail loudly)."""

    REINFORCE = "reinforce"
    RLOO = "rloo"
    GRPO = "grpo"
    GARL = "garl"
    PAFT = "paft"
    SFT = "sft"


@dataclass(frozen=True)
class EstimatorOptions:
    """Everything an estimator may need beyond the rewards; each estimator reads only its own fields."""

    q: float | Any = 0.0
    """Tsallis index in [0, 1] (GARL, PAFT). 0 = RLVR, 1 = log marginal likelihood. An array
    broadcastable against (G, 1) gives each group its own q (the simulator trains several q at once)."""
    baseline: str = "mean"
    """GARL baseline b_m: "none" (0), "mean" (P̂, includes the sample itself) or "loo" (mean of the other M-1)."""
    num_resamples: int = 1
    """PAFT: K, how many trajectories are importance-resampled per group (K >= 1)."""
    generator: Any = None
    """PAFT: numpy ``Generator`` or ``torch.Generator`` supplying the resampling uniforms (required)."""
    proposal_logw: Any = None
    """PAFT: (G, M) log p_θ(z) - log proposal(z) when samples come from another policy; None = on-policy."""
    resampling: str = "multinomial"
    """PAFT: "multinomial" (iid draws) or "systematic" (lower variance, same expectation)."""
    std_ddof: int = 1
    """GRPO: 1 = Bessel-corrected group std (TRL and verl), 0 = population std sqrt(P̂(1-P̂)) for binary rewards."""
    eps: float = 1e-4
    """GRPO: added to the std; 1e-4 is TRL's value, verl uses 1e-6."""
    scale: str = "group"
    """GRPO: divide by the "group" std, the whole "batch" std (TRL's scale_rewards="batch"), or "none" (Dr. GRPO)."""
    targets: Any = None
    """SFT: (G, M) 0/1 mask of target samples (e.g. gold demonstrations; pass the rewards for filter-then-SFT)."""

    def __post_init__(self) -> None:
        check_q(self.q)
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got baseline={self.baseline!r}")
        if isinstance(self.num_resamples, bool) or not isinstance(self.num_resamples, int) or self.num_resamples < 1:
            raise ValueError(f"num_resamples (K) must be an integer >= 1, got num_resamples={self.num_resamples!r}")
        if self.resampling not in RESAMPLING_SCHEMES:
            raise ValueError(f"resampling must be one of {RESAMPLING_SCHEMES}, got resampling={self.resampling!r}")
        if self.std_ddof not in (0, 1):
            raise ValueError(f"std_ddof must be 0 or 1, got std_ddof={self.std_ddof!r}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got eps={self.eps!r}")
        if self.scale not in GRPO_SCALES:
            raise ValueError(f"scale must be one of {GRPO_SCALES}, got scale={self.scale!r}")


def _groups(rewards: Any) -> tuple[Any, Any, int]:
    rewards, xp = as_float_array(rewards, "rewards")
    check_groups(rewards)
    return rewards, xp, rewards.shape[1]


def _leave_one_out_mean(rewards: Any, xp: Any, m: int) -> Any:
    """b_m = (Σ_i r_i - r_m) / (M - 1); 0 when M = 1 (there is no other sample)."""
    if m == 1:
        return xp.zeros_like(rewards)
    return (xp.sum(rewards, axis=1, keepdims=True) - rewards) / (m - 1)


def reinforce(rewards: Any) -> Any:
    """REINFORCE without a baseline: w_m = r_m / M, an unbiased estimate of ∇P."""
    rewards, _, m = _groups(rewards)
    return rewards / m


def rloo(rewards: Any) -> Any:
    """REINFORCE leave-one-out (Kool et al. 2019): w_m = (r_m - r̄) / (M - 1), i.e. (r_m - b_m^LOO) / M.

    Unbiased for ∇P because b_m does not depend on z_m. With M = 1 there is no baseline: w = r.
    """
    rewards, xp, m = _groups(rewards)
    if m == 1:
        return rewards
    return (rewards - xp.mean(rewards, axis=1, keepdims=True)) / (m - 1)


def garl(rewards: Any, q: Any, baseline: str = "mean") -> Any:
    """GARL, gradient-amplified RL (prior factorisation of ∇ ln_q P = P^(-q) ∇P).

    Formulation::

        w_m = P̂^(-q) · (r_m - b_m) / M,     P̂ = (1/M) Σ_m r_m

    with b_m = 0 ("none"), P̂ ("mean") or the leave-one-out mean ("loo"). Special cases: q = 0 with
    "none" is REINFORCE and with "loo" is RLOO; q = 1 with "mean" gives (r_m - P̂) / (M P̂), the MaxRL
    advantage. Bias: P̂^(-q) is a convex function of a noisy estimate, so E[ĝ] != P^(-q) ∇P; see
    :mod:`tsallis.bias` for the exact value and the delta-method term. Edge cases: P̂ = 0 gives
    w = 0 (amplification set to 0); an all-one group with the mean or LOO baseline gives w = 0.

    ``q`` may be an array broadcastable against (G, 1), e.g. one q per group.
    """
    rewards, xp, m = _groups(rewards)
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got baseline={baseline!r}")
    p_hat = xp.mean(rewards, axis=1, keepdims=True)  # (G, 1)
    if baseline == "none":
        centred = rewards
    elif baseline == "mean":
        centred = rewards - p_hat
    else:
        centred = rewards - _leave_one_out_mean(rewards, xp, m)
    return amplification(p_hat, q) * centred / m


def paft(
    rewards: Any,
    q: Any,
    num_resamples: int,
    generator: Any,
    proposal_logw: Any = None,
    resampling: str = "multinomial",
) -> Any:
    """PAFT, posterior-attenuated fine-tuning (posterior factorisation of ∇ ln_q P).

    Maths: P^(-q) ∇P = P^(1-q) E_{z ~ π}[∇ log p_θ(z)] with the posterior π(z) ∝ p_θ(z) r(z). Resample
    K of the M samples with self-normalised weights ω_m = r_m · p_θ(z_m)/proposal(z_m) and set::

        w_m = c_m · P̂^(1-q) / K,    c_m = number of times z_m is drawn,
        P̂ = Σ_m ω_m / Σ_m p_θ(z_m)/proposal(z_m)  (= mean(r) on-policy)

    i.e. SFT on the resampled trajectories attenuated by P̂^(1-q). Averaged over the resampling,
    E[w_m | r] = P̂^(-q) r_m / M on-policy: the same expectation (and bias) as GARL without a baseline,
    with extra resampling variance. q = 1 is filter-then-SFT on correct samples (RAFT / ReST-EM).
    Edge cases: P̂ = 0 gives w = 0; every row of counts sums to K.

    Parameters
    ----------
    rewards : (G, M) rewards in [0, 1].
    q : float or array broadcastable against (G, 1), in [0, 1].
    num_resamples : K >= 1.
    generator : numpy ``Generator`` or ``torch.Generator``.
    proposal_logw : optional (G, M) log importance ratios log p_θ(z) - log proposal(z).
    resampling : "multinomial" or "systematic" (see :mod:`tsallis.resampling`).
    """
    rewards, xp, _ = _groups(rewards)
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, int) or num_resamples < 1:
        raise ValueError(f"num_resamples (K) must be an integer >= 1, got num_resamples={num_resamples!r}")
    if generator is None:
        raise ValueError("paft needs generator= (a numpy Generator or torch.Generator) for its resampling, got None")
    importance = _importance_ratios(proposal_logw, rewards, xp)  # (G, M), max 1 per row
    omega = rewards * importance  # (G, M)
    p_hat = xp.sum(omega, axis=1, keepdims=True) / xp.sum(importance, axis=1, keepdims=True)  # (G, 1)
    counts = resample_counts(omega, num_resamples, generator, resampling, xp)  # (G, M)
    attenuation = p_hat * amplification(p_hat, q)  # P̂^(1-q), 0 at P̂ = 0
    return counts * attenuation / num_resamples


def _importance_ratios(proposal_logw: Any, rewards: Any, xp: Any) -> Any:
    """exp(logw - max_m logw) per group: importance ratios up to a per-group constant (which cancels)."""
    if proposal_logw is None:
        return xp.ones_like(rewards)
    logw = as_like(as_float_array(proposal_logw, "proposal_logw")[0], rewards, xp)
    if tuple(logw.shape) != tuple(rewards.shape):
        raise ValueError(f"proposal_logw must have the rewards' shape {tuple(rewards.shape)}, got {tuple(logw.shape)}")
    if not bool(xp.all(xp.isfinite(logw))):
        raise ValueError("proposal_logw must be finite, got a NaN or inf entry")
    return xp.exp(logw - xp.max(logw, axis=1, keepdims=True))


def resampling_ess(rewards: Any, proposal_logw: Any = None) -> Any:
    """Kish effective sample size of PAFT's resampling weights ω = r · p_θ/proposal, per group: (G, M) -> (G,).

    On-policy with binary rewards this is the number of successes; it is 0 for a group with none.
    """
    rewards, xp, _ = _groups(rewards)
    return kish_ess(rewards * _importance_ratios(proposal_logw, rewards, xp), xp)


def grpo(rewards: Any, std_ddof: int = 1, eps: float = 1e-4, scale: str = "group") -> Any:
    """GRPO advantages as weights: w_m = A_m / M with A_m = (r_m - r̄) / (std + ε).

    Convention (default): TRL's, the Bessel-corrected group std (ddof = 1) and ε = 1e-4. verl uses the
    same std with ε = 1e-6; ``std_ddof=0`` gives the population std, sqrt(P̂(1-P̂)) for binary rewards;
    ``scale="batch"`` divides by the std over all G·M rewards; ``scale="none"`` is Dr. GRPO (no std).
    A group of one, or one whose rewards are all equal, gives A = 0. For binary rewards a success gets
    sqrt((1-P̂)/P̂)/M (population std, ε -> 0): GRPO amplifies like P̂^(-1/2), GARL at q ≈ 1/2.
    """
    rewards, xp, m = _groups(rewards)
    if std_ddof not in (0, 1):
        raise ValueError(f"std_ddof must be 0 or 1, got std_ddof={std_ddof!r}")
    if scale not in GRPO_SCALES:
        raise ValueError(f"scale must be one of {GRPO_SCALES}, got scale={scale!r}")
    centred = rewards - xp.mean(rewards, axis=1, keepdims=True)
    if scale == "none":
        return centred / m
    values = rewards if scale == "group" else xp.reshape(rewards, (1, -1))
    n = values.shape[1]
    if n - std_ddof < 1:
        return xp.zeros_like(rewards)
    deviation = values - xp.mean(values, axis=1, keepdims=True)
    std = xp.sqrt(xp.sum(deviation * deviation, axis=1, keepdims=True) / (n - std_ddof))
    return centred / (std + eps) / m


def sft(targets: Any) -> Any:
    """SFT on given targets: w_m = t_m / Σ_i t_i, the mean log-likelihood of a group's target samples.

    ``targets`` is a (G, M) mask (weights in [0, 1] are allowed); a group without targets gets w = 0.
    It is the expectation of PAFT at q = 1 over the resampling when the targets are the successes.
    """
    targets, xp, _ = _groups(targets)
    total = xp.sum(targets, axis=1, keepdims=True)
    return targets / xp.where(total > 0, total, xp.ones_like(total))


EstimatorFn = Callable[[Any, EstimatorOptions], Any]
_REGISTRY: dict[EstimatorName, EstimatorFn] = {}


def register_estimator(name: EstimatorName | str) -> Callable[[EstimatorFn], EstimatorFn]:
    """Decorator registering ``fn(rewards, options) -> weights`` under ``name``; a taken name raises."""
    key = EstimatorName(name)

    def decorate(fn: EstimatorFn) -> EstimatorFn:
        if key in _REGISTRY and _REGISTRY[key] is not fn:
            raise ValueError(f"estimator {key.value!r} is already registered")
        _REGISTRY[key] = fn
        return fn

    return decorate


@register_estimator(EstimatorName.REINFORCE)
def _reinforce(rewards: Any, options: EstimatorOptions) -> Any:
    return reinforce(rewards)


@register_estimator(EstimatorName.RLOO)
def _rloo(rewards: Any, options: EstimatorOptions) -> Any:
    return rloo(rewards)


@register_estimator(EstimatorName.GRPO)
def _grpo(rewards: Any, options: EstimatorOptions) -> Any:
    return grpo(rewards, std_ddof=options.std_ddof, eps=options.eps, scale=options.scale)


@register_estimator(EstimatorName.GARL)
def _garl(rewards: Any, options: EstimatorOptions) -> Any:
    return garl(rewards, options.q, baseline=options.baseline)


@register_estimator(EstimatorName.PAFT)
def _paft(rewards: Any, options: EstimatorOptions) -> Any:
    return paft(
        rewards,
        options.q,
        options.num_resamples,
        options.generator,
        proposal_logw=options.proposal_logw,
        resampling=options.resampling,
    )


@register_estimator(EstimatorName.SFT)
def _sft(rewards: Any, options: EstimatorOptions) -> Any:
    if options.targets is None:
        raise ValueError("sft needs options.targets, a (G, M) mask of target samples; got None")
    rewards, xp = as_float_array(rewards, "rewards")
    targets = as_like(as_float_array(options.targets, "targets")[0], rewards, xp)
    if tuple(targets.shape) != tuple(rewards.shape):
        raise ValueError(f"targets must have the rewards' shape {tuple(rewards.shape)}, got {tuple(targets.shape)}")
    return sft(targets)


ESTIMATORS: tuple[str, ...] = tuple(name.value for name in EstimatorName)


def get_estimator(name: EstimatorName | str) -> EstimatorFn:
    """The registered estimator ``fn(rewards, options) -> weights`` called ``name``."""
    try:
        return _REGISTRY[EstimatorName(name)]
    except ValueError:
        raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}") from None


def compute_weights(name: EstimatorName | str, rewards: Any, options: EstimatorOptions | None = None) -> Any:
    """Per-sample weights (G, M) of estimator ``name`` for ``rewards`` (G, M); see the module docstring."""
    return get_estimator(name)(rewards, options if options is not None else EstimatorOptions())
