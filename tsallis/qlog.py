"""The Tsallis q-logarithm, its inverse, the objective J_Q and the per-instance amplification.

Maths
-----
For q in [0, 1] and u > 0::

    ln_q(u) = (u^(1-q) - 1) / (1 - q)      (q != 1),      ln_1(u) = log(u)
    exp_q(v) = [1 + (1-q) v]_+^(1/(1-q))   (q != 1),      exp_1(v) = exp(v)

The loss family is J_Q(θ) = E_x[ln_q P_θ(x)]; its per-example gradient is
∇ ln_q P = P^(-q) ∇P, so every member shares the direction ∇P and differs only by the scalar
amplification P^(-q).

Numerics: with a = 1 - q, ln_q(u) = expm1(a log u) / a and exp_q(v) = exp(log1p(a v) / a). Both
forms tend smoothly to log and exp as a -> 0 with no cancellation, so q close to 1 is as accurate
as q = 1 itself. Half-precision input is computed in float32 and returned in its own dtype.

NaN: every function here is elementwise and propagates NaN, as numpy's log does: a NaN entry of
``u``, ``v`` or ``p`` gives NaN at that place, never a number (ln_q(NaN) is not the u = 0 value, the
amplification of NaN is not the P = 0 zero). A NaN q is an error (:func:`~tsallis._arrays.check_q`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsallis._arrays import as_float_array, as_like, as_working_array, check_q, to_dtype

_SMALLEST_FLOAT64 = np.finfo(np.float64).smallest_normal


def _one_minus_q(q: Any, like: Any, xp: Any) -> Any:
    check_q(q)
    q_arr, _ = as_float_array(q, "q")
    return 1.0 - as_like(q_arr, like, xp)


def qlog(u: Any, q: Any) -> Any:
    """Tsallis q-logarithm ln_q(u) = (u^(1-q) - 1)/(1-q), with ln_1 = log.

    Parameters
    ----------
    u : array_like or torch.Tensor, u >= 0
    q : float or array broadcastable with ``u``, in [0, 1]

    Returns
    -------
    Same type and dtype as ``u``. At u = 0 the value is the limit -1/(1-q) for q < 1 and -inf for
    q = 1; NaN stays NaN.
    """
    u, xp, dtype = as_working_array(u, "u")
    negative = u < 0
    if bool(xp.any(negative)):
        raise ValueError(f"u must be non-negative, got u={float(xp.min(u[negative]))!r}")
    a = _one_minus_q(q, u, xp)
    positive = u > 0
    log_u = xp.log(xp.where(positive, u, xp.ones_like(u)))
    safe_a = xp.where(a == 0, xp.ones_like(a), a)
    interior = xp.where(a == 0, log_u, xp.expm1(a * log_u) / safe_a)
    at_zero = xp.where(a == 0, -float("inf") * xp.ones_like(safe_a), -1.0 / safe_a)
    return _keep_nan(u, xp.where(positive, interior, at_zero), dtype, xp)


def _keep_nan(x: Any, value: Any, dtype: Any, xp: Any) -> Any:
    """``value`` with NaN wherever the input ``x`` is NaN, cast to the input ``dtype``."""
    return to_dtype(xp.where(xp.isnan(x), x, value), dtype, xp)


def qexp(v: Any, q: Any) -> Any:
    """Tsallis q-exponential exp_q(v) = [1 + (1-q) v]_+^(1/(1-q)), with exp_1 = exp; inverse of :func:`qlog`.

    Where 1 + (1-q) v <= 0 the value is 0 (the Tsallis cut-off), which is where ln_q maps u = 0.
    NaN stays NaN.
    """
    v, xp, dtype = as_working_array(v, "v")
    a = _one_minus_q(q, v, xp)
    base = a * v
    inside = base > -1.0
    safe_a = xp.where(a == 0, xp.ones_like(a), a)
    log_base = xp.log1p(xp.where(inside, base, xp.zeros_like(base)))
    interior = xp.exp(xp.where(a == 0, v, log_base / safe_a))
    return _keep_nan(v, xp.where((a == 0) | inside, interior, xp.zeros_like(interior)), dtype, xp)


def jq_objective(p: Any, q: Any) -> Any:
    """Per-example Tsallis objective ln_q P (maximised): P - 1 at q = 0 (expected reward), log P at q = 1."""
    return qlog(p, q)


def jq_derivative(p: Any, q: Any) -> Any:
    """d ln_q(P) / dP = P^(-q); infinite at P = 0 for q > 0, 1 everywhere at q = 0, NaN at P = NaN."""
    p, xp, dtype = as_working_array(p, "P")
    a = _one_minus_q(q, p, xp)
    return _keep_nan(p, xp.pow(p, a - 1.0), dtype, xp)


def amplification(p: Any, q: Any) -> Any:
    """The per-instance amplification P^(-q) that turns ∇P into ∇ ln_q P, set to 0 where P = 0.

    The zero at P = 0 is the estimator convention: a group with no success carries no gradient, so
    its amplification is never multiplied by anything but zero and must not be inf or NaN.
    Subnormal P (below the dtype's smallest normal number, e.g. a mean of rewards like 1e-320) is
    raised to that number, so P^(-q) stays finite (at most 1/smallest_normal) in float32 and float64.
    Half-precision P is computed in float32 (so its subnormals are ordinary numbers there). NaN stays
    NaN: an unknown P is not a group with no success.
    """
    if _plain_float64(p, q):
        return _amplification_float64(p, q)
    p, xp, dtype = as_working_array(p, "P")
    a = _one_minus_q(q, p, xp)
    positive = p > 0
    smallest = xp.finfo(p.dtype).smallest_normal
    safe_p = xp.where(positive, xp.maximum(p, smallest), xp.ones_like(p))  # maximum: the same as clip(min=), 10x cheaper
    return _keep_nan(p, xp.where(positive, xp.pow(safe_p, a - 1.0), xp.zeros_like(safe_p)), dtype, xp)


def _plain_float64(p: Any, q: Any) -> bool:
    """Whether ``p`` is a float64 numpy array and ``q`` a float or float64 array in [0, 1] (no NaN): the case the
    simulator's ODE right-hand sides hit thousands of times, served by :func:`_amplification_float64`."""
    if type(p) is not np.ndarray or p.dtype != np.float64:
        return False
    if isinstance(q, float):
        return 0.0 <= q <= 1.0
    return type(q) is np.ndarray and q.dtype == np.float64 and bool(np.all((q >= 0.0) & (q <= 1.0)))


def _amplification_float64(p: np.ndarray, q: Any) -> np.ndarray:
    """:func:`amplification` in plain numpy, the same operations in the same order (so the same bits), without
    the array-API dispatch that costs ~50 µs a call."""
    exponent = (1.0 - q) - 1.0  # as the general path computes (1 - q) - 1, which is not always -q in floating point
    positive = p > 0
    safe_p = np.where(positive, np.maximum(p, _SMALLEST_FLOAT64), 1.0)
    return np.where(np.isnan(p), p, np.where(positive, np.power(safe_p, exponent), 0.0))

