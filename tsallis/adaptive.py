"""Adaptive q: the Tsallis index chosen from observed success rates instead of the training step.

Two controllers, both pure (numpy state, numpy or torch rewards) and resumable from a JSON-safe
``state_dict``:

* :class:`PromptSuccessQ`, per prompt. A running estimate P̃_x of each prompt's success probability
  (an exponential moving average of its group's P̂_x over the steps it was drawn, started at a prior)
  sets that prompt's q through :func:`q_from_success`: q_max while P̃_x is small, falling to q_min as
  it grows. The step's groups get a (G, 1) q, which every q-estimator accepts.
* :class:`AmplificationController`, per batch. The largest q <= q_max whose amplification
  max_g P̂_g^(-q) over the groups with a success stays <= A_max (:func:`amplification_q`),
  optionally smoothed so that q rises gradually but falls at once.

Typical use by a trainer, once per step (``indices`` are the step's G prompt indices, ``rewards`` its
(G, M) rewards; in a multi-process run both are the gathered ones, so every rank holds the same state)::

    per_prompt = PromptSuccessQ(num_prompts=len(train_set), q_min=0.0, q_max=1.0, rate=0.5)
    q = per_prompt.q(indices)                 # (G, 1), from the visits before this step
    weights = compute_weights("garl", rewards, EstimatorOptions(q=q))
    per_prompt.update(indices, rewards)       # then fold this step's P̂ into P̃

    batch = AmplificationController(a_max=4.0, q_max=1.0, rise=0.2)
    q = batch.step(rewards)                   # a float: min(q_max, ln A_max / ln(1/P̂_min)), smoothed

Log ``q_metrics(q)`` (mean, min and max of the step's q) with the step. Checkpoint ``state_dict()`` with
the trainer state and call ``load_state_dict`` on resume: the resumed run then computes exactly the q the
uninterrupted one did.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from tsallis._arrays import (
    as_float_array,
    as_working_array,
    check_groups,
    check_number,
    check_unit_interval,
    to_dtype,
    to_numpy,
)


def _check_unit_number(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number (not a bool) in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {name}={value!r}")


def _check_q_pair(q_min: Any, q_max: Any) -> None:
    _check_unit_number("q_min", q_min)
    _check_unit_number("q_max", q_max)
    if q_min > q_max:
        raise ValueError(f"q_min must be <= q_max, got q_min={q_min!r} and q_max={q_max!r}")


def _check_positive(name: str, value: Any, maximum: float = math.inf) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number (not a bool) in (0, maximum]."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and 0.0 < value <= maximum):
        bound = f"a number in (0, {maximum:g}]" if math.isfinite(maximum) else "a finite number > 0"
        raise ValueError(f"{name} must be {bound}, got {name}={value!r}")


def q_from_success(p: Any, q_min: float = 0.0, q_max: float = 1.0, power: float = 1.0) -> Any:
    """The per-prompt map from an estimated success probability to a Tsallis index.

    Maths::

        q(P̃) = q_min + (q_max - q_min) · (1 - P̃)^κ,        κ = power > 0

    Why this map. (i) Its ends are the two regimes of the continuum: an unsolved prompt (P̃ = 0) gets
    q_max, the fastest escape from cold start (under the flow the time to escape from p0 is
    Θ(p0^(-(1-q)) / (1-q)), shorter as q grows); a solved one (P̃ = 1) gets q_min, the mode-seeking,
    noise-robust end, where the amplification P^(-q) is near 1 anyway. (ii) Near cold start it costs
    nothing: q(P) = q_max - κ (q_max - q_min) P + O(P²), so the applied amplification is
    P^(-q(P)) = P^(-q_max) · exp(κ (q_max - q_min) P ln P (1 + O(P))) = P^(-q_max) (1 + o(1)) as
    P -> 0, and a prompt escapes at the q_max rate. (iii) It keeps the amplification monotone: with
    q' <= 0, d ln P^(-q(P)) / dP = -q'(P) ln P - q(P)/P <= 0, so a harder prompt never gets less weight
    than an easier one. κ sets how soon commitment falls: q is halfway at P̃ = 1 - 2^(-1/κ) (κ = 1:
    linear in P̃, halfway at 1/2; large κ drops q early).

    Caveat (the noise trade-off of the paper): a prompt whose label is wrong keeps a small P̃, hence
    q ≈ q_max and the largest amplification, whenever it succeeds at all.

    Parameters
    ----------
    p : array_like or torch.Tensor, any shape, entries in [0, 1]
        Estimated success probabilities P̃.
    q_min, q_max : float in [0, 1] with q_min <= q_max
        q at P̃ = 1 and at P̃ = 0.
    power : float > 0
        κ.

    Returns
    -------
    q : same type, shape and dtype as ``p``, in [q_min, q_max]; q_min == q_max gives that constant.
    """
    _check_q_pair(q_min, q_max)
    _check_positive("power", power)
    p, xp, dtype = as_working_array(p, "p")
    check_unit_interval(p, "p")
    return to_dtype(q_min + (q_max - q_min) * xp.pow(1.0 - p, float(power)), dtype, xp)


def _check_indices(indices: Any, num_prompts: int) -> np.ndarray:
    """Prompt indices (a sequence, array or tensor of integers in [0, num_prompts)) as an int64 array (G,)."""
    values = indices.tolist() if hasattr(indices, "tolist") else indices
    if not isinstance(values, (list, tuple)) or any(isinstance(v, (list, tuple)) for v in values):
        raise ValueError(f"indices must be a one-dimensional sequence of prompt indices, got {indices!r:.80}")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < num_prompts:
            raise ValueError(f"indices must be integers in [0, {num_prompts}), got indices[{i}]={value!r}")
    return np.asarray(values, dtype=np.int64)


class PromptSuccessQ:
    """Per-prompt adaptive q from a running estimate of each prompt's success probability.

    Maths. Prompt x starts at P̃_x = prior; each step it is drawn, with group success rate
    P̂_x = mean_m r_xm, it moves as an exponential moving average::

        P̃_x <- (1 - β) P̃_x + β P̂_x,        β = rate in (0, 1]

    (after n visits at a constant P̂: P̃ = P̂ + (prior - P̂)(1 - β)^n; β = 1 keeps only the last visit).
    A step's q is q_x = :func:`q_from_success` (P̃_x) from the visits *before* the step, so q is fixed
    before the step's rewards are drawn: conditionally on the past, the step's estimator is the
    fixed-q estimator at q_x, with that estimator's expectation and bias (tsallis.bias). A prompt
    drawn twice in one step is updated twice, in the order given.

    Parameters
    ----------
    num_prompts : int >= 1
        Size of the training set; prompts are indexed 0..num_prompts-1.
    q_min, q_max : float in [0, 1], q_min <= q_max
        q of a solved and of an unsolved prompt.
    power : float > 0
        κ of :func:`q_from_success`.
    rate : float in (0, 1]
        β, the weight of the newest visit.
    prior : float in [0, 1]
        P̃ of a prompt never drawn (0: treat it as cold, q = q_max).
    """

    def __init__(self, num_prompts: int, q_min: float = 0.0, q_max: float = 1.0, power: float = 1.0,
                 rate: float = 0.5, prior: float = 0.0) -> None:
        if isinstance(num_prompts, bool) or not isinstance(num_prompts, numbers.Integral) or num_prompts < 1:
            raise ValueError(f"num_prompts must be an integer >= 1, got num_prompts={num_prompts!r}")
        _check_q_pair(q_min, q_max)
        _check_positive("power", power)
        _check_positive("rate", rate, 1.0)
        _check_unit_number("prior", prior)
        self.num_prompts, self.q_min, self.q_max = int(num_prompts), float(q_min), float(q_max)
        self.power, self.rate, self.prior = float(power), float(rate), float(prior)
        self.estimate = np.full(self.num_prompts, self.prior)  # P̃_x, (N,)
        self.visits = np.zeros(self.num_prompts, dtype=np.int64)  # steps each prompt was drawn, (N,)

    def q(self, indices: Any) -> np.ndarray:
        """q of the step's groups, shape (G, 1), float64: ``q_from_success(P̃[indices])``."""
        index = _check_indices(indices, self.num_prompts)
        return q_from_success(self.estimate[index], self.q_min, self.q_max, self.power)[:, None]

    def update(self, indices: Any, rewards: Any) -> None:
        """Fold the step's group success rates P̂_g = mean_m rewards[g, m] into P̃ (rewards (G, M) in [0, 1])."""
        index = _check_indices(indices, self.num_prompts)
        values, _ = as_float_array(rewards, "rewards")
        check_groups(values)
        if values.shape[0] != len(index):
            raise ValueError(f"rewards must have one row per index ({len(index)}), got shape {tuple(values.shape)}")
        p_hat = to_numpy(values).mean(axis=1)  # (G,)
        for x, p in zip(index, p_hat):  # sequential: a prompt drawn twice is updated twice
            self.estimate[x] = (1.0 - self.rate) * self.estimate[x] + self.rate * p
            self.visits[x] += 1

    def state_dict(self) -> dict[str, Any]:
        """The running estimates and visit counts (JSON-safe: floats round-trip exactly)."""
        return {"num_prompts": self.num_prompts, "estimate": self.estimate.tolist(), "visits": self.visits.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` for the same number of prompts."""
        if state.get("num_prompts") != self.num_prompts:
            raise ValueError(f"state is for num_prompts={state.get('num_prompts')!r}, this has {self.num_prompts}")
        estimate = np.asarray(state["estimate"], dtype=np.float64)
        visits = np.asarray(state["visits"], dtype=np.int64)
        if estimate.shape != (self.num_prompts,) or visits.shape != (self.num_prompts,):
            raise ValueError(f"state arrays must have shape ({self.num_prompts},), got {estimate.shape} and {visits.shape}")
        check_unit_interval(estimate, "estimate")
        if np.any(visits < 0):
            raise ValueError("visits must be >= 0")
        self.estimate, self.visits = estimate, visits


def amplification_q(rewards: Any, a_max: float, q_max: float = 1.0) -> float:
    """The largest q <= q_max whose amplification stays <= A_max on every group with a success.

    Maths. With P̂_g = mean_m r_gm and P̂_min = min{P̂_g : P̂_g > 0}, the applied amplifications
    P̂_g^(-q) are largest at P̂_min, and P̂_min^(-q) <= A_max  <=>  q ln(1/P̂_min) <= ln A_max, so::

        q* = min(q_max, ln A_max / ln(1/P̂_min))         (q* = q_max when P̂_min = 1 or no group succeeds)

    and max_g P̂_g^(-q*) = min(P̂_min^(-q_max), A_max). A_max = 1 gives q* = 0 whenever some group has
    0 < P̂ < 1; A_max = inf gives q_max. With binary rewards P̂_min >= 1/M, so A_max >= M^q_max never
    binds. Unlike capped GARL (which clips only the rare groups' amplification), this lowers q for
    the whole batch, so the update stays a member of the continuum (GARL or PAFT at q*).

    Parameters
    ----------
    rewards : (G, M) array or tensor in [0, 1]; all the step's groups (gathered over ranks).
    a_max : float >= 1, or inf
        A_max, the largest amplification allowed.
    q_max : float in [0, 1]

    Returns
    -------
    q* : float in [0, q_max].
    """
    check_number("a_max", a_max, 1.0, allow_inf=True)
    _check_unit_number("q_max", q_max)
    values, _ = as_float_array(rewards, "rewards")
    check_groups(values)
    p_hat = to_numpy(values).mean(axis=1)  # (G,)
    succeeded = p_hat[p_hat > 0]
    if succeeded.size == 0 or succeeded.min() >= 1.0 or a_max == math.inf:
        return float(q_max)
    return float(min(q_max, math.log(a_max) / -math.log(succeeded.min())))


class AmplificationController:
    """Batch-level q that targets a maximum amplification, smoothed so that it rises gradually.

    Maths. Each step computes the target q*_t = :func:`amplification_q` (rewards_t, A_max, q_max) and
    applies::

        q_1 = q*_1,      q_t = q*_t                              if q*_t <= q_{t-1}
                         q_t = q_{t-1} + γ (q*_t - q_{t-1})      otherwise,           γ = rise in (0, 1]

    so q falls at once when the cap binds harder (q_t <= q*_t always: the amplification of step t
    never exceeds A_max) and climbs back geometrically when it relaxes. γ = 1 is no smoothing
    (q_t = q*_t).

    Parameters
    ----------
    a_max : float >= 1, or inf
    q_max : float in [0, 1]
    rise : float in (0, 1]
        γ.
    """

    def __init__(self, a_max: float, q_max: float = 1.0, rise: float = 1.0) -> None:
        check_number("a_max", a_max, 1.0, allow_inf=True)
        _check_unit_number("q_max", q_max)
        _check_positive("rise", rise, 1.0)
        self.a_max, self.q_max, self.rise = float(a_max), float(q_max), float(rise)
        self.last_q: float | None = None

    def step(self, rewards: Any) -> float:
        """The q of this step from its (G, M) rewards, updating the smoothing state."""
        target = amplification_q(rewards, self.a_max, self.q_max)
        if self.last_q is None or target <= self.last_q:
            q = target
        else:
            q = self.last_q + self.rise * (target - self.last_q)
        self.last_q = q
        return q

    def state_dict(self) -> dict[str, Any]:
        """The previous step's q (None before the first step)."""
        return {"last_q": self.last_q}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        last = state["last_q"]
        if last is not None:
            _check_unit_number("last_q", last)
            last = float(last)
        self.last_q = last


def q_metrics(q: Any) -> dict[str, float]:
    """``q/mean``, ``q/min``, ``q/max`` of a step's q (a number or a (G, 1) array or tensor), as plain floats."""
    values = to_numpy(as_float_array(q, "q")[0]).reshape(-1)
    if values.size == 0:
        raise ValueError("q must hold at least one value to summarise, got an empty array")
    return {"q/mean": float(values.mean()), "q/min": float(values.min()), "q/max": float(values.max())}
