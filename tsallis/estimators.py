"""Gradient estimators as pure functions from a group of rewards to per-sample weights.

Setting
-------
Each of G prompts x_g has M samples z_gm ~ p_θ(·|x_g) with rewards r_gm in [0, 1]; ``rewards`` has
shape (G, M). Every estimator returns ``weights`` of the same shape, type and dtype, and the
gradient estimate for group g is::

    ĝ_g = Σ_m weights[g, m] · ∇ log p_θ(z_gm)        (an ascent direction)

so a trainer minimises  -(1/G) Σ_g Σ_m weights[g, m] · log p_θ(z_gm). The Tsallis estimators target
∇ ln_q P_g = P_g^(-q) ∇P_g, where P_g = E_z[r(x_g, z)], estimated by P̂_g = (1/M) Σ_m r_gm.

Registry
--------
Estimators are registered under an :class:`EstimatorName` and share one signature
``fn(rewards, options) -> weights``; options that only some estimators use live in
:class:`EstimatorOptions`. The registration is the only description of an estimator: its
:class:`EstimatorSpec` says which options it reads (hence whether it uses q, needs
a generator or trains on given targets), its weight formula and a one-line description; see
:mod:`tsallis.registry` for the queries (``estimator_spec``, ``uses_q``, ``unused_options``,
``option_specs``, ``markdown_table``). Call one with :func:`compute_weights`. Adding an estimator is
one :class:`EstimatorName` member, its function and its ``@register_estimator`` below (plus an
``EstimatorOptions`` field if it needs a new option), and its test with a loop-over-samples
reference in ``tests/reference_estimators.py`` (the registry tests then check its metadata).

Edge cases, common to all: a group whose rewards are all zero (P̂ = 0) gets all-zero weights, never
NaN or inf; weights are finite for every q in [0, 1], every M >= 1 and every group in [0, 1]^M; G = 0
gives a (0, M) result. Rewards that are NaN or outside [0, 1] raise ``ValueError`` naming rewards.
float16 and bfloat16 rewards are computed in float32 and returned in their own dtype; torch weights
never carry the rewards' autograd graph (the rewards are read detached).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from tsallis._arrays import (
    as_float_array,
    as_like,
    as_working_array,
    check_choice,
    check_flag,
    check_group_q,
    check_groups,
    check_integer,
    check_number,
    check_unit_interval,
    to_dtype,
)
from tsallis.likelihood import NORMALIZATIONS, LikelihoodWeights, garl_likelihood, paft_likelihood
from tsallis.qlog import amplification
from tsallis.resampling import RESAMPLING_SCHEMES, check_generator, kish_ess, resample_counts

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
    CAPPED_GARL = "capped_garl"


def _check_array_or_none(name: str, value: Any, unit_interval: bool = False, nonnegative: bool = False) -> None:
    """None, or a numeric array whose entries are finite (and in [0, 1] with ``unit_interval``, >= 0 with
    ``nonnegative``)."""
    if value is None:
        return
    values, xp = as_float_array(value, name)
    if unit_interval:
        check_unit_interval(values, name)
    elif not bool(xp.all(xp.isfinite(values))):
        raise ValueError(f"{name} must be finite, got a NaN or inf entry")
    elif nonnegative and bool(xp.any(values < 0)):
        raise ValueError(f"{name} must be >= 0, got {name}={float(xp.min(values))!r}")


def _option(default: Any, doc: str, check: Callable[[str, Any], None] | None = None, choices: tuple | None = None,
            per_call: bool = False, kind: type | None = None) -> Any:
    """A field of :class:`EstimatorOptions` carrying its documentation and its check ``check(name, value)``.

    ``choices`` lists the allowed values of a categorical option (its check is then membership);
    ``per_call`` marks an input supplied with each batch (a generator, an array) rather than a setting
    a configuration file would hold; ``kind`` is the type of a setting's value (default: the default's
    type), for config schemas. A setting whose default is None also accepts None (the form's default).
    """
    if choices is not None:
        check = functools.partial(check_choice, choices=choices)
    if default is None and not per_call:
        given = check
        check = lambda name, value: None if value is None else given(name, value)  # noqa: E731
    metadata = {"doc": doc, "check": check, "choices": choices, "per_call": per_call, "kind": kind or type(default)}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class EstimatorOptions:
    """Everything an estimator may need beyond the rewards; each estimator reads only the fields its
    registration lists. Every field is checked on construction and a bad value raises ``ValueError``
    naming the field and the value. Each field's documentation is in its metadata (``"doc"``), the
    single source of the docs table, CLI help and config schemas (``tsallis.registry.option_specs``).
    """

    q: Any = _option(0.0, "Tsallis index in [0, 1]: 0 = RLVR, 1 = log marginal likelihood. An array of "
                     "shape (G, 1) gives each group its own q (the simulator trains several q at once).",
                     lambda name, value: check_group_q(value))
    baseline: str | None = _option(None, 'GARL baseline b_m: "none" (0), "mean" (P̂, includes the sample itself) '
                                   'or "loo" (mean of the other M-1); None: "mean" with rewards, "loo" with '
                                   'likelihood weights (Eq. 12, where "mean" is refused: it depends on w_m).',
                                   choices=BASELINES, kind=str)
    num_resamples: int | None = _option(None, "PAFT: K, how many trajectories are importance-resampled per group "
                                        "(K >= 1); None: 1 with rewards, M with likelihood weights (Algorithm 2).",
                                        lambda name, value: check_integer(name, value, 1), kind=int)
    generator: Any = _option(None, "PAFT: numpy Generator or torch.Generator supplying the resampling uniforms "
                             "(required).", lambda name, value: check_generator(value, allow_none=True),
                             per_call=True)
    proposal_logw: Any = _option(None, "PAFT: (G, M) log p_θ(z) - log proposal(z) when samples come from "
                                 "another policy; None = on-policy.", _check_array_or_none, per_call=True)
    p_hat: Any = _option(None, "PAFT: (G, 1) estimate of P in the attenuation P̂^(1-q), e.g. the replay buffer's "
                         "importance-sampling estimate (tsallis.replay); None = Σω / Σ p_θ/proposal, mean(r) "
                         "on-policy.", lambda name, value: _check_array_or_none(name, value, nonnegative=True),
                         per_call=True)
    resampling: str = _option("multinomial", 'PAFT: "multinomial" (iid draws) or "systematic" (lower variance, '
                              "same expectation).", choices=RESAMPLING_SCHEMES)
    std_ddof: int = _option(1, "GRPO: 1 = Bessel-corrected group std (TRL and verl), 0 = population std "
                            "sqrt(P̂(1-P̂)) for binary rewards.", choices=(0, 1))
    eps: float = _option(1e-4, "GRPO: added to the std (>= 0); 1e-4 is TRL's value, verl uses 1e-6.",
                         lambda name, value: check_number(name, value, 0.0))
    scale: str = _option("group", 'GRPO: divide by the "group" std, the whole "batch" std (TRL\'s '
                         'scale_rewards="batch"), or "none" (Dr. GRPO).', choices=GRPO_SCALES)
    targets: Any = _option(None, "SFT: (G, M) mask of target samples in [0, 1] (e.g. gold demonstrations; "
                           "pass the rewards for filter-then-SFT).",
                           lambda name, value: _check_array_or_none(name, value, unit_interval=True),
                           per_call=True)
    normalize: str = _option("m_q", 'Likelihood form: divide by N_q = M^q ("m_q", Algorithms 1 and 2: a '
                             'q-dependent learning-rate rescaling that bounds the effective reward by 1) or not '
                             '("none", the estimators of Eqs. 12 and 14).', choices=NORMALIZATIONS)
    pathwise: bool = _option(True, "Likelihood-form GARL: keep the gold-answer term w_m/w̄^q · ∇log p(y*|x, z_m) "
                             "(True, Algorithm 1) or zero it (False, the pathwise-zeroed ablation).", check_flag)
    cap: float = _option(float("inf"), "Capped GARL: the largest amplification c >= 1 applied to a group "
                         "(inf = no cap, plain GARL).", lambda name, value: check_number(name, value, 1.0, True))

    def __post_init__(self) -> None:
        for f in fields(self):
            f.metadata["check"](f.name, getattr(self, f.name))


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EstimatorOptions))


def _groups(x: Any, name: str = "rewards") -> tuple[Any, Any, Any]:
    """(x (G, M) detached, in at least float32; its namespace; the dtype to return weights in), checked."""
    x, xp, dtype = as_working_array(x, name)
    check_groups(x, name)
    if hasattr(x, "detach"):
        x = x.detach()
    return x, xp, dtype


def _centred(rewards: Any, p_hat: Any, baseline: str, xp: Any) -> Any:
    """r_m - b_m (G, M) for the GARL baselines; b^LOO_m = (Σ_i r_i - r_m)/(M - 1), 0 when M = 1."""
    check_choice("baseline", baseline, BASELINES)
    m = rewards.shape[1]
    if baseline == "none":
        return rewards
    if baseline == "mean":
        return rewards - p_hat
    if m == 1:  # no other sample: b = 0
        return rewards
    return rewards - (xp.sum(rewards, axis=1, keepdims=True) - rewards) / (m - 1)


def reinforce(rewards: Any) -> Any:
    """REINFORCE without a baseline: w_m = r_m / M, an unbiased estimate of ∇P."""
    rewards, xp, dtype = _groups(rewards)
    return to_dtype(rewards / rewards.shape[1], dtype, xp)


def rloo(rewards: Any) -> Any:
    """REINFORCE leave-one-out (Kool et al. 2019): w_m = (r_m - r̄) / (M - 1), i.e. (r_m - b_m^LOO) / M.

    Unbiased for ∇P because b_m does not depend on z_m. With M = 1 there is no baseline: w = r.
    """
    rewards, xp, dtype = _groups(rewards)
    m = rewards.shape[1]
    if m == 1:
        return to_dtype(rewards, dtype, xp)
    return to_dtype((rewards - xp.mean(rewards, axis=1, keepdims=True)) / (m - 1), dtype, xp)


def garl(rewards: Any, q: Any, baseline: str = "mean") -> Any:
    """GARL, gradient-amplified RL (prior factorisation of ∇ ln_q P = P^(-q) ∇P).

    Formulation::

        w_m = P̂^(-q) · (r_m - b_m) / M,     P̂ = (1/M) Σ_m r_m

    with b_m = 0 ("none"), P̂ ("mean") or the leave-one-out mean ("loo"). Special cases: q = 0 with
    "none" is REINFORCE and with "loo" is RLOO; q = 1 with "mean" gives (r_m - P̂) / (M P̂), the MaxRL
    advantage. Bias: P̂^(-q) is a convex function of a noisy estimate, so E[ĝ] != P^(-q) ∇P; see
    :mod:`tsallis.bias` for the exact value and the delta-method term. Edge cases: P̂ = 0 gives
    w = 0 (amplification set to 0); an all-one group with the mean or LOO baseline gives w = 0.

    ``q`` is a number or an array of shape (G, 1), one q per group.
    """
    rewards, xp, dtype = _groups(rewards)
    check_group_q(q, rewards.shape[0])
    p_hat = xp.mean(rewards, axis=1, keepdims=True)  # (G, 1)
    centred = _centred(rewards, p_hat, baseline, xp)
    return to_dtype(amplification(p_hat, q) * centred / rewards.shape[1], dtype, xp)


def capped_garl(rewards: Any, q: Any, cap: float, baseline: str = "mean") -> Any:
    """GARL with its amplification capped at c: w_m = min(P̂^(-q), c) · (r_m - b_m) / M.

    The cap bounds the weight of rare-success groups (P̂^(-q) > c, i.e. P̂ < c^(-1/q)), trading the
    amplification that drives the cold-start escape for a bounded per-group weight. c = inf is
    :func:`garl`; c = 1 is GARL at q = 0 (every P̂^(-q) >= 1); binary rewards have P̂ >= 1/M, so
    c >= M^q never binds. Edge cases as for GARL (P̂ = 0 gives w = 0).
    """
    rewards, xp, dtype = _groups(rewards)
    check_group_q(q, rewards.shape[0])
    check_number("cap", cap, 1.0, allow_inf=True)
    p_hat = xp.mean(rewards, axis=1, keepdims=True)  # (G, 1)
    centred = _centred(rewards, p_hat, baseline, xp)
    return to_dtype(xp.clip(amplification(p_hat, q), max=float(cap)) * centred / rewards.shape[1], dtype, xp)


def paft(
    rewards: Any,
    q: Any,
    num_resamples: int,
    generator: Any,
    proposal_logw: Any = None,
    resampling: str = "multinomial",
    p_hat: Any = None,
) -> Any:
    """PAFT, posterior-attenuated fine-tuning (posterior factorisation of ∇ ln_q P).

    Maths: P^(-q) ∇P = P^(1-q) E_{z ~ π}[∇ log p_θ(z)] with the posterior π(z) ∝ p_θ(z) r(z). Resample
    K of the M samples with self-normalised weights ω_m = r_m · p_θ(z_m)/proposal(z_m) and set::

        w_m = c_m · P̂^(1-q) / K,    c_m = number of times z_m is drawn,
        P̂ = Σ_m ω_m / Σ_m p_θ(z_m)/proposal(z_m)  (= mean(r) on-policy), or ``p_hat`` when given

    i.e. SFT on the resampled trajectories attenuated by P̂^(1-q). Averaged over the resampling,
    E[w_m | r] = P̂^(-q) r_m / M on-policy: the same expectation (and bias) as GARL without a baseline,
    with extra resampling variance. q = 1 is filter-then-SFT on correct samples (RAFT / ReST-EM).
    Edge cases: P̂ = 0 gives w = 0; every row of counts sums to K (0 for a row with no ω > 0).
    ``p_hat`` replaces the self-normalised P̂ by an estimate of the caller's, e.g. the unbiased
    mixture-importance estimate of a replay buffer (:func:`tsallis.replay.replay_proposal`).

    Parameters
    ----------
    rewards : (G, M) rewards in [0, 1].
    q : float or array of shape (G, 1), in [0, 1].
    num_resamples : K >= 1.
    generator : numpy ``Generator`` or ``torch.Generator``.
    proposal_logw : optional (G, M) log importance ratios log p_θ(z) - log proposal(z).
    resampling : "multinomial" or "systematic" (see :mod:`tsallis.resampling`).
    p_hat : optional (G, 1) estimates of P, >= 0, for the attenuation P̂^(1-q).
    """
    rewards, xp, dtype = _groups(rewards)
    check_group_q(q, rewards.shape[0])
    check_integer("num_resamples", num_resamples, 1)
    if generator is None:
        raise ValueError("paft needs generator= (a numpy Generator or torch.Generator) for its resampling, got None")
    importance = _importance_ratios(proposal_logw, rewards, xp)  # (G, M), max 1 per row
    omega = rewards * importance  # (G, M)
    if p_hat is None:
        p_hat = xp.sum(omega, axis=1, keepdims=True) / xp.sum(importance, axis=1, keepdims=True)  # (G, 1)
    else:
        _check_array_or_none("p_hat", p_hat, nonnegative=True)
        p_hat = _per_call_array("p_hat", p_hat, rewards, xp, (rewards.shape[0], 1), "shape")  # (G, 1)
    counts = resample_counts(omega, num_resamples, generator, resampling, xp)  # (G, M)
    attenuation = p_hat * amplification(p_hat, q)  # P̂^(1-q), 0 at P̂ = 0
    return to_dtype(counts * attenuation / num_resamples, dtype, xp)


def _importance_ratios(proposal_logw: Any, rewards: Any, xp: Any) -> Any:
    """exp(logw - max_m logw) per group: importance ratios up to a per-group constant (which cancels)."""
    if proposal_logw is None:
        return xp.ones_like(rewards)
    _check_array_or_none("proposal_logw", proposal_logw)
    logw = _per_call_array("proposal_logw", proposal_logw, rewards, xp, tuple(rewards.shape), "the rewards' shape")
    return xp.exp(logw - xp.max(logw, axis=1, keepdims=True))


def _per_call_array(name: str, value: Any, like: Any, xp: Any, shape: tuple[int, ...], what: str) -> Any:
    """``value`` detached, in the backend, dtype and device of ``like``; ``ValueError`` unless it has ``shape``."""
    array = as_like(as_float_array(value, name)[0], like, xp)
    if hasattr(array, "detach"):
        array = array.detach()
    if tuple(array.shape) != shape:
        raise ValueError(f"{name} must have {what} {shape}, got {tuple(array.shape)}")
    return array


def resampling_ess(rewards: Any, proposal_logw: Any = None) -> Any:
    """Kish effective sample size of PAFT's resampling weights ω = r · p_θ/proposal, per group: (G, M) -> (G,).

    On-policy with binary rewards this is the number of successes; it is 0 for a group with none.
    """
    rewards, xp, dtype = _groups(rewards)
    return to_dtype(kish_ess(rewards * _importance_ratios(proposal_logw, rewards, xp), xp), dtype, xp)


def grpo(rewards: Any, std_ddof: int = 1, eps: float = 1e-4, scale: str = "group") -> Any:
    """GRPO advantages as weights: w_m = A_m / M with A_m = (r_m - r̄) / (std + ε).

    Convention (default): TRL's, the Bessel-corrected group std (ddof = 1) and ε = 1e-4. verl uses the
    same std with ε = 1e-6; ``std_ddof=0`` gives the population std, sqrt(P̂(1-P̂)) for binary rewards;
    ``scale="batch"`` divides by the std over all G·M rewards; ``scale="none"`` is Dr. GRPO (no std).
    A group of one, or one whose rewards are all equal, gives A = 0 exactly, for every ε >= 0 (ε = 0
    included: the 0/0 of a constant group is defined as 0); so does, with ε = 0, a group whose std
    underflows to 0 (rewards within ~1e-154 of each other). For binary rewards a success gets
    sqrt((1-P̂)/P̂)/M (population std, ε -> 0): GRPO amplifies like P̂^(-1/2), GARL at q ≈ 1/2.
    """
    rewards, xp, dtype = _groups(rewards)
    check_choice("std_ddof", std_ddof, (0, 1))
    check_number("eps", eps, 0.0)
    check_choice("scale", scale, GRPO_SCALES)
    m = rewards.shape[1]
    constant = xp.max(rewards, axis=1, keepdims=True) == xp.min(rewards, axis=1, keepdims=True)  # (G, 1)
    centred = xp.where(constant, xp.zeros_like(rewards), rewards - xp.mean(rewards, axis=1, keepdims=True))
    if scale == "none":
        return to_dtype(centred / m, dtype, xp)
    values = rewards if scale == "group" else xp.reshape(rewards, (1, -1))  # (G, M) or (1, G·M)
    n = values.shape[1]
    if n - std_ddof < 1:
        return to_dtype(xp.zeros_like(rewards), dtype, xp)
    deviation = values - xp.mean(values, axis=1, keepdims=True)
    denominator = xp.sqrt(xp.sum(deviation * deviation, axis=1, keepdims=True) / (n - std_ddof)) + eps
    positive = denominator > 0  # (G, 1) or (1, 1); False only with ε = 0 and a std of 0
    safe = xp.where(positive, denominator, xp.ones_like(denominator))
    return to_dtype(xp.where(positive, centred / safe, xp.zeros_like(centred)) / m, dtype, xp)


def sft(targets: Any) -> Any:
    """SFT on given targets: w_m = t_m / Σ_i t_i, the mean log-likelihood of a group's target samples.

    ``targets`` is a (G, M) mask (weights in [0, 1] are allowed); a group without targets gets w = 0.
    It is the expectation of PAFT at q = 1 over the resampling when the targets are the successes.
    """
    targets, xp, dtype = _groups(targets, "targets")
    total = xp.sum(targets, axis=1, keepdims=True)
    return to_dtype(targets / xp.where(total > 0, total, xp.ones_like(total)), dtype, xp)


EstimatorFn = Callable[[Any, EstimatorOptions], Any]
"""The shared signature: ``fn(rewards (G, M), options) -> weights (G, M)``."""

LikelihoodFn = Callable[[Any, EstimatorOptions], LikelihoodWeights]
"""The likelihood form's signature: ``fn(log_w (G, M), options) -> LikelihoodWeights(score, answer)``."""


class _ReadsOptions:
    """What follows from the options an estimator form reads (``self.options``)."""

    options: tuple[str, ...]

    @property
    def uses_q(self) -> bool:
        """Whether the Tsallis index q enters the weights (``"q"`` is among the options read)."""
        return "q" in self.options

    @property
    def needs_generator(self) -> bool:
        """Whether the weights are random and need ``options.generator`` (PAFT's resampling)."""
        return "generator" in self.options


@dataclass(frozen=True)
class LikelihoodForm(_ReadsOptions):
    """An estimator's form with likelihood weights w_m = p_θ(y*|x, z_m) (:mod:`tsallis.likelihood`)."""

    fn: LikelihoodFn
    """``fn(log_w, options) -> LikelihoodWeights(score, answer)``."""
    formula: str
    """The two coefficients in one line, for docs tables."""
    options: tuple[str, ...]
    """The :class:`EstimatorOptions` fields ``fn`` reads."""


@dataclass(frozen=True)
class EstimatorSpec(_ReadsOptions):
    """What the registry knows about one estimator: everything a trainer, a CLI or a docs table needs."""

    name: str
    """The registered name (an :class:`EstimatorName` value)."""
    fn: EstimatorFn
    """``fn(rewards, options) -> weights``."""
    formula: str
    """The weight w_m in one line, for docs tables (e.g. ``P̂^(−q)(r_m − b_m)/M``)."""
    description: str
    """One line: what it is and its neighbours on the continuum."""
    options: tuple[str, ...]
    """The :class:`EstimatorOptions` fields ``fn`` reads; it ignores every other field."""
    min_samples: int = 1
    """The smallest group size M for which the weights carry any signal (GRPO: 2)."""
    likelihood: LikelihoodForm | None = None
    """The paper's form of the estimator, from likelihood weights log p(y*|x, z_m) (None where undefined)."""

    @property
    def trains_on_targets(self) -> bool:
        """Whether it trains on given targets (``options.targets``, e.g. gold answers) rather than on samples."""
        return "targets" in self.options


_REGISTRY: dict[EstimatorName, EstimatorSpec] = {}


def register_estimator(
    name: EstimatorName | str, *, formula: str, description: str, options: tuple[str, ...], min_samples: int = 1
) -> Callable[[EstimatorFn], EstimatorFn]:
    """Decorator registering ``fn(rewards, options) -> weights`` under ``name`` with its description.

    ``options`` names the :class:`EstimatorOptions` fields ``fn`` reads (a test checks the list against
    what ``fn`` actually reads). A name taken by another function, or an unknown option, raises.
    """
    key = EstimatorName(name)
    unknown = [o for o in options if o not in OPTION_NAMES]
    if unknown:
        raise ValueError(f"estimator {key.value!r} lists unknown options {unknown}; EstimatorOptions has {OPTION_NAMES}")
    check_integer("min_samples", min_samples, 1)

    def decorate(fn: EstimatorFn) -> EstimatorFn:
        if key in _REGISTRY and _REGISTRY[key].fn is not fn:
            raise ValueError(f"estimator {key.value!r} is already registered")
        likelihood = _REGISTRY[key].likelihood if key in _REGISTRY else None  # the same function again keeps its form
        _REGISTRY[key] = EstimatorSpec(key.value, fn, formula, description, tuple(options), min_samples, likelihood)
        return fn

    return decorate


def estimator_spec(name: EstimatorName | str) -> EstimatorSpec:
    """The registration of estimator ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return _REGISTRY[EstimatorName(name)]
    except (ValueError, KeyError):
        raise ValueError(f"unknown estimator {name!r}; choose one of {tuple(k.value for k in _REGISTRY)}") from None


def get_estimator(name: EstimatorName | str) -> EstimatorFn:
    """The registered estimator ``fn(rewards, options) -> weights`` called ``name``."""
    return estimator_spec(name).fn


def compute_weights(name: EstimatorName | str, rewards: Any, options: EstimatorOptions | None = None) -> Any:
    """Per-sample weights (G, M) of estimator ``name`` for ``rewards`` (G, M); see the module docstring."""
    return get_estimator(name)(rewards, options if options is not None else EstimatorOptions())


def register_likelihood_form(
    name: EstimatorName | str, *, formula: str, options: tuple[str, ...]
) -> Callable[[LikelihoodFn], LikelihoodFn]:
    """Decorator adding the likelihood form ``fn(log_w, options) -> LikelihoodWeights`` to the registered
    estimator ``name`` (registered first with :func:`register_estimator`); a second, different form raises."""
    spec = estimator_spec(name)
    unknown = [o for o in options if o not in OPTION_NAMES]
    if unknown:
        raise ValueError(f"estimator {spec.name!r} lists unknown options {unknown}; EstimatorOptions has {OPTION_NAMES}")

    def decorate(fn: LikelihoodFn) -> LikelihoodFn:
        if spec.likelihood is not None and spec.likelihood.fn is not fn:
            raise ValueError(f"estimator {spec.name!r} already has a likelihood form")
        _REGISTRY[EstimatorName(spec.name)] = dataclasses.replace(spec, likelihood=LikelihoodForm(fn, formula, options))
        return fn

    return decorate


def likelihood_form(name: EstimatorName | str) -> LikelihoodForm:
    """The likelihood form of estimator ``name``; ``ValueError`` naming those that have one if it has none."""
    spec = estimator_spec(name)
    if spec.likelihood is None:
        having = tuple(s.name for s in _REGISTRY.values() if s.likelihood is not None)
        raise ValueError(f"estimator {spec.name!r} has no likelihood-weight form; choose one of {having}")
    return spec.likelihood


def compute_likelihood_weights(name: EstimatorName | str, log_w: Any, options: EstimatorOptions | None = None
                               ) -> LikelihoodWeights:
    """The paper's form of estimator ``name``: coefficients ``(score, answer)`` (G, M) from ``log_w`` (G, M).

    ``log_w[g, m] = log p_θ(y*_g | x_g, z_gm)`` (<= 0, -inf allowed); the estimate of ∇ ln_q P_g is
    Σ_m score[g, m] ∇log p_θ(z_gm | x_g) + answer[g, m] ∇log p_θ(y*_g | x_g, z_gm). See
    :mod:`tsallis.likelihood` for the formulas (Eqs. 9, 12, 14; Algorithms 1 and 2).
    """
    return likelihood_form(name).fn(log_w, options if options is not None else EstimatorOptions())


@register_estimator(EstimatorName.REINFORCE, formula="r_m / M", options=(),
                    description="REINFORCE without a baseline; unbiased for ∇P; paper's form: Rao–Blackwellized "
                                "REINFORCE (VeriFree)")
def _reinforce(rewards: Any, options: EstimatorOptions) -> Any:
    return reinforce(rewards)


@register_estimator(EstimatorName.RLOO, formula="(r_m − r̄)/(M − 1)", options=(),
                    description="leave-one-out baseline (Kool et al. 2019), unbiased; = GARL at q = 0 with `loo`; "
                                "paper's form: RB-RLOO")
def _rloo(rewards: Any, options: EstimatorOptions) -> Any:
    return rloo(rewards)


@register_estimator(EstimatorName.GRPO, formula="(r_m − r̄)/(std + ε)/M", options=("std_ddof", "eps", "scale"),
                    min_samples=2,
                    description="TRL's convention by default: Bessel std, ε = 1e-4; `std_ddof=0`, `eps=1e-6` "
                                "(verl), `scale=\"batch\"` or `\"none\"` (Dr. GRPO); all-equal groups get 0")
def _grpo(rewards: Any, options: EstimatorOptions) -> Any:
    return grpo(rewards, std_ddof=options.std_ddof, eps=options.eps, scale=options.scale)


@register_estimator(EstimatorName.GARL, formula="P̂^(−q)(r_m − b_m)/M", options=("q", "baseline"),
                    description="b = none / mean / loo; q = 0 is REINFORCE/RLOO, q = 1 with the mean baseline "
                                "is the MaxRL advantage; paper's form (Eq. 12, Algorithm 1): b = loo (default) or "
                                "none, N_q = M^q or 1, `pathwise=False` drops the answer term; q = 1 is IWAE")
def _garl(rewards: Any, options: EstimatorOptions) -> Any:
    return garl(rewards, options.q, baseline=options.baseline or "mean")


@register_estimator(EstimatorName.PAFT, formula="c_m P̂^(1−q)/K",
                    options=("q", "num_resamples", "generator", "proposal_logw", "resampling", "p_hat"),
                    description="c = counts of K importance-resampled successes (multinomial or systematic; "
                                "off-policy with `proposal_logw`); q = 1 is filter-then-SFT; paper's form (Eq. 14, "
                                "Algorithm 2): n = counts of K (default M) draws ∝ w_m, SFT on (z, y*); q = 1 is EM")
def _paft(rewards: Any, options: EstimatorOptions) -> Any:
    return paft(
        rewards,
        options.q,
        options.num_resamples or 1,
        options.generator,
        proposal_logw=options.proposal_logw,
        resampling=options.resampling,
        p_hat=options.p_hat,
    )


@register_estimator(EstimatorName.SFT, formula="t_m / Σ t", options=("targets",),
                    description="mean log-likelihood of given targets t (gold answers), not of samples")
def _sft(rewards: Any, options: EstimatorOptions) -> Any:
    if options.targets is None:
        raise ValueError("sft needs options.targets, a (G, M) mask of target samples; got None")
    rewards, xp, dtype = _groups(rewards)
    targets = as_like(as_float_array(options.targets, "targets")[0], rewards, xp)
    if tuple(targets.shape) != tuple(rewards.shape):
        raise ValueError(f"targets must have the rewards' shape {tuple(rewards.shape)}, got {tuple(targets.shape)}")
    return to_dtype(sft(targets), dtype, xp)


@register_estimator(EstimatorName.CAPPED_GARL, formula="min(P̂^(−q), c)(r_m − b_m)/M", options=("q", "baseline", "cap"),
                    description="GARL with the amplification capped at c; c = inf is GARL, c = 1 is GARL at q = 0")
def _capped_garl(rewards: Any, options: EstimatorOptions) -> Any:
    return capped_garl(rewards, options.q, options.cap, baseline=options.baseline or "mean")


@register_likelihood_form(EstimatorName.REINFORCE, formula="w_m/M ; w_m/M", options=())
def _reinforce_likelihood(log_w: Any, options: EstimatorOptions) -> LikelihoodWeights:
    return garl_likelihood(log_w, 0.0, baseline="none")


@register_likelihood_form(EstimatorName.RLOO, formula="(w_m − w̄_¬m)/M ; w_m/M", options=())
def _rloo_likelihood(log_w: Any, options: EstimatorOptions) -> LikelihoodWeights:
    return garl_likelihood(log_w, 0.0, baseline="loo")


@register_likelihood_form(EstimatorName.GARL, formula="(w_m/w̄^q − b_m)/(M·N_q), b_m = w̄_¬m^(1−q) ; w_m/(w̄^q·M·N_q)",
                          options=("q", "baseline", "normalize", "pathwise"))
def _garl_likelihood(log_w: Any, options: EstimatorOptions) -> LikelihoodWeights:
    return garl_likelihood(log_w, options.q, baseline=options.baseline or "loo", normalize=options.normalize,
                           pathwise=options.pathwise)


@register_likelihood_form(EstimatorName.PAFT, formula="n_m w̄^(1−q)/(N_q·K) ; the same",
                          options=("q", "num_resamples", "generator", "resampling", "normalize"))
def _paft_likelihood(log_w: Any, options: EstimatorOptions) -> LikelihoodWeights:
    return paft_likelihood(log_w, options.q, options.num_resamples, options.generator,
                           resampling=options.resampling, normalize=options.normalize)


ESTIMATORS: tuple[str, ...] = tuple(key.value for key in _REGISTRY)
"""Every registered estimator name, in registration order."""
