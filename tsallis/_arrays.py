"""Backend plumbing shared by the core: one code path for numpy arrays and torch tensors.

Every public function of :mod:`tsallis` takes numpy arrays, torch tensors or Python numbers and
returns the type it was given (numbers and lists come back as numpy arrays). The array namespace
comes from ``array_api_compat``, so the maths is written once against the array-API standard.
"""

from __future__ import annotations

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


def as_like(value: Any, like: Any, xp: Any) -> Any:
    """Convert ``value`` (number, numpy or torch array) to the backend, dtype and device of ``like``."""
    if array_api_compat.is_torch_array(like):
        import torch

        if array_api_compat.is_torch_array(value):
            return value.to(dtype=like.dtype, device=like.device)
        return torch.as_tensor(np.asarray(value), dtype=like.dtype, device=like.device)
    if array_api_compat.is_torch_array(value):
        value = value.detach().cpu().numpy()
    return xp.asarray(value, dtype=like.dtype)


def check_unit_interval(x: Any, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the offending value unless every entry is finite and in [0, 1]."""
    values = np.asarray(x.detach().cpu() if array_api_compat.is_torch_array(x) else x, dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if np.any(bad):
        first = float(values[bad].flat[0])
        raise ValueError(f"{name} must lie in [0, 1], got {name}={first!r}")


def check_q(q: Any) -> None:
    """Raise ``ValueError`` unless the Tsallis index q (a number or an array of them) lies in [0, 1]."""
    check_unit_interval(q, "q")


def check_groups(rewards: Any) -> None:
    """Raise ``ValueError`` unless ``rewards`` has shape (G, M) with M >= 1 and entries in [0, 1]."""
    shape = tuple(rewards.shape)
    if len(shape) != 2 or shape[1] < 1:
        raise ValueError(f"rewards must have shape (groups, M) with M >= 1, got shape {shape}")
    check_unit_interval(rewards, "rewards")
