"""Importance resampling for PAFT: draw K of a group's M samples in proportion to non-negative weights.

Both schemes map uniforms to indices through the normalised cumulative weights
c_m = Σ_{i<=m} ω_i / Σ_i ω_i: index k is the first m with c_m > u_k, so a sample with ω_m = 0 is
never drawn. The uniforms come from the caller's generator (numpy ``Generator`` or
``torch.Generator``), which makes a numpy and a torch call with the same seed resample identically.

* ``multinomial``: u_k iid U(0, 1); counts ~ Multinomial(K, ω / Σω).
* ``systematic``: u_k = (k + u_0) / K with one u_0 ~ U(0, 1) per group; same expected counts
  K ω_m / Σω, lower variance (each count is within 1 of its expectation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsallis._arrays import as_like, check_choice

RESAMPLING_SCHEMES = ("multinomial", "systematic")


def _is_torch_generator(generator: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(generator, torch.Generator)


def check_generator(generator: Any, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``generator`` is a numpy ``Generator`` or a ``torch.Generator`` (or None if allowed)."""
    if allow_none and generator is None:
        return
    if not (isinstance(generator, np.random.Generator) or _is_torch_generator(generator)):
        raise ValueError(
            f"generator must be a numpy.random.Generator or a torch.Generator, got {type(generator).__name__}"
        )


def draw_uniforms(generator: Any, shape: tuple[int, int]) -> np.ndarray | Any:
    """Draw U(0, 1) uniforms of ``shape`` from a numpy ``Generator`` or a ``torch.Generator`` (float64)."""
    check_generator(generator)
    if isinstance(generator, np.random.Generator):
        return generator.random(shape)
    import torch

    return torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)


def resample_counts(weights: Any, num_resamples: int, generator: Any, scheme: str, xp: Any) -> Any:
    """How often each of the M samples is drawn when K are resampled in proportion to ``weights``.

    Parameters
    ----------
    weights : array, shape (G, M), non-negative. Rows that sum to 0 get all-zero counts.
    num_resamples : K >= 1.
    generator : numpy Generator or torch.Generator supplying the uniforms.
    scheme : "multinomial" or "systematic".

    Returns
    -------
    counts : array like ``weights``, shape (G, M); each row sums to K (or 0 for an all-zero row).
    """
    check_choice("resampling", scheme, RESAMPLING_SCHEMES)
    groups, m = weights.shape
    total = xp.sum(weights, axis=1, keepdims=True)  # (G, 1)
    has_mass = total > 0
    cdf = xp.cumulative_sum(weights, axis=1) / xp.where(has_mass, total, xp.ones_like(total))  # (G, M)
    if scheme == "multinomial":
        uniforms = as_like(draw_uniforms(generator, (groups, num_resamples)), weights, xp)  # (G, K)
    else:
        offset = as_like(draw_uniforms(generator, (groups, 1)), weights, xp)  # (G, 1)
        ks = as_like(np.arange(num_resamples, dtype=np.float64)[None, :], weights, xp)  # (1, K)
        uniforms = (ks + offset) / num_resamples  # (G, K)
    # index[g, k] = #{m : cdf[g, m] <= u[g, k]}, the first m whose cumulative weight exceeds u.
    index = xp.sum(xp.astype(cdf[:, None, :] <= uniforms[:, :, None], weights.dtype), axis=2)  # (G, K)
    arange_m = as_like(np.arange(m, dtype=np.float64)[None, None, :], weights, xp)  # (1, 1, M)
    counts = xp.sum(xp.astype(index[:, :, None] == arange_m, weights.dtype), axis=1)  # (G, M)
    return xp.where(has_mass, counts, xp.zeros_like(counts))


def kish_ess(weights: Any, xp: Any) -> Any:
    """Kish effective sample size (Σω)² / Σω² of each row of non-negative ``weights`` (G, M) -> (G,); 0 for empty rows."""
    total = xp.sum(weights, axis=1)
    square = xp.sum(weights * weights, axis=1)
    positive = square > 0
    return xp.where(positive, total * total / xp.where(positive, square, xp.ones_like(square)), xp.zeros_like(total))
