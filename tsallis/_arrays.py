"""Backend plumbing and argument checks shared by the core: one code path for numpy arrays and torch tensors.

Every public function of :mod:`tsallis` takes numpy arrays, torch tensors or Python numbers and
returns the type it was given (numbers and lists come back as numpy arrays). The array namespace
comes from ``array_api_compat``, so the maths is written once against the array-API standard.

Precision: half-precision input (float16, torch bfloat16) is computed in float32 and the result is
cast back to the input dtype (:func:`as_working_array`, :func:`to_dtype`), so sums over large groups
neither overflow nor lose the small terms. float32 and float64 are computed in their own precision.

Checks raise ``ValueError`` naming the argument and its value; a bool is never taken as a number.
"""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat
import numpy as np


def as_float_array(x: Any, name: str) -> tuple[Any, Any]:
    """Return ``(array, xp)``: ``x`` as a floating array of its own backend and that backend's namespace.

    numpy input and plain Python values become float64 numpy arrays (float32 arrays stay float32);
    integer or boolean torch tensors become the default torch float dtype.
    """
    if array_api_compat.is_torch_array(x):
        import torch

        if not torch.is_floating_point(x):
            x = x.to(torch.get_default_dtype())
        return x, array_api_compat.array_namespace(x)
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be array-like, got {x!r}") from err
    if not np.issubdtype(arr.dtype, np.floating):
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    return arr, array_api_compat.array_namespace(arr)


def as_working_array(x: Any, name: str) -> tuple[Any, Any, Any]:
    """Return ``(array, xp, dtype)``: ``x`` as in :func:`as_float_array`, upcast to float32 if it is half precision.

    ``dtype`` is the floating dtype of the input, in which results are returned (:func:`to_dtype`).
    """
    x, xp = as_float_array(x, name)
    dtype = x.dtype
    if xp.finfo(dtype).bits < 32:  # float16, bfloat16: accumulate in float32
        x = xp.astype(x, xp.float32)
    return x, xp, dtype


def to_dtype(x: Any, dtype: Any, xp: Any) -> Any:
    """``x`` cast to ``dtype`` (a no-op, returning ``x`` itself, when it already has that dtype)."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def as_like(value: Any, like: Any, xp: Any) -> Any:
    """Convert ``value`` (number, numpy or torch array) to the backend, dtype and device of ``like``."""
    if array_api_compat.is_torch_array(like):
        import torch

        if array_api_compat.is_torch_array(value):
            return value.to(dtype=like.dtype, device=like.device)
        return torch.as_tensor(np.asarray(value), dtype=like.dtype, device=like.device)
    if array_api_compat.is_torch_array(value):
        value = to_numpy(value)
    return xp.asarray(value, dtype=like.dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of ``x`` (any dtype, torch bfloat16 and tensors on any device included)."""
    if array_api_compat.is_torch_array(x):
        import torch

        return x.detach().to(device="cpu", dtype=torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _is_bool(x: Any) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and str(dtype) in ("bool", "torch.bool")


def check_unit_interval(x: Any, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the offending value unless every entry is finite and in [0, 1]."""
    values = to_numpy(x)
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if np.any(bad):
        first = float(values[bad].flat[0])
        raise ValueError(f"{name} must lie in [0, 1], got {name}={first!r}")


def check_q(q: Any) -> None:
    """Raise ``ValueError`` unless the Tsallis index q (a number or a numeric array, not a bool) lies in [0, 1]."""
    if _is_bool(q):
        raise ValueError(f"q must be a number in [0, 1], not a bool; got q={q!r}")
    if isinstance(q, numbers.Real) and 0.0 <= q <= 1.0:  # a valid plain number (NaN fails the comparison)
        return
    if not array_api_compat.is_torch_array(q):
        try:
            kind = np.asarray(q).dtype.kind
        except (TypeError, ValueError):  # ragged or otherwise not an array
            kind = "O"
        if kind not in "iuf":
            raise ValueError(f"q must be a number in [0, 1] or an array of them, got q={q!r}")
    check_unit_interval(q, "q")


def check_group_q(q: Any, groups: int | None = None) -> None:
    """Raise ``ValueError`` unless q is a valid Tsallis index that broadcasts against (G, 1) to (G, 1).

    Allowed shapes: () and (1,) (one q for every group), (1, 1) and (G, 1) (one q per group).
    ``groups=None`` accepts any (n, 1), for checks made before the rewards are known.
    """
    check_q(q)
    shape = tuple(np.shape(q)) if not array_api_compat.is_torch_array(q) else tuple(q.shape)
    ok = shape in ((), (1,)) or (len(shape) == 2 and shape[1] == 1 and (groups is None or shape[0] in (1, groups)))
    if not ok:
        per_group = "(1, 1) or (G, 1)" if groups is None else f"(1, 1) or ({groups}, 1)"
        raise ValueError(
            f"q must be a number or an array of shape {per_group} (one q per group), got q of shape {shape}"
        )


def check_groups(x: Any, name: str = "rewards") -> None:
    """Raise ``ValueError`` unless ``x`` has shape (G, M) with M >= 1 and entries in [0, 1]."""
    shape = tuple(x.shape)
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"{name} must have shape (groups, M) with M >= 1, got shape {shape}")
    check_unit_interval(x, name)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (strings or ints; a bool or float never matches an int)."""

    def matches(choice: Any) -> bool:
        if isinstance(choice, str):
            return isinstance(value, str) and value == choice
        return isinstance(value, numbers.Integral) and not _is_bool(value) and value == choice

    if not any(matches(choice) for choice in choices):
        raise ValueError(f"{name} must be one of {choices}, got {name}={value!r}")


def check_integer(name: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


def check_number(name: str, value: Any, minimum: float, allow_inf: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number (not a bool or a string) >= ``minimum``.

    NaN is refused; +inf only with ``allow_inf``.
    """
    ok = isinstance(value, numbers.Real) and not _is_bool(value)
    ok = ok and value >= minimum and (np.isfinite(value) or (allow_inf and value == float("inf")))
    if not ok:
        bound = "a finite number" if not allow_inf else "a number (inf allowed)"
        raise ValueError(f"{name} must be {bound} >= {minimum:g}, got {name}={value!r}")


def check_flag(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a bool (True or False; not 0, 1 or a string such as "yes")."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {name}={value!r}")
