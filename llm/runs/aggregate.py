"""Aggregates over the seeds of one setting: mean, interquartile mean and percentile-bootstrap intervals.

Every function takes the per-run scores of one setting as an array ``x`` of shape (R,), R runs (seeds), and
is pure (the Monte Carlo bootstrap draws from its own seeded generator). As in rliable (Agarwal et al. 2021,
"Deep Reinforcement Learning at the Edge of the Statistical Precipice"), a result is reported as a point
estimate with a 95 % interval, never as a bare mean:

* mean:  x̄ = (1/R) Σ_r x_r;
* IQM (interquartile mean): the mean of the sorted scores x_(j+1) ≤ … ≤ x_(R−j) with j = ⌊R/4⌋ dropped at
  each end (``scipy.stats.trim_mean(x, 0.25)``); it needs R ≥ 4 to drop anything;
* percentile bootstrap: the distribution of the statistic over resamples x* of R scores drawn from x with
  replacement, and its α/2 and 1 − α/2 quantiles (α = 1 − level). For R ≤ :data:`EXACT_MAX_RUNS` the
  distribution is exact: every multiset of R indices with counts (c_1, …, c_R) has probability
  R! / (c_1! ⋯ c_R!) / R^R (there are C(2R − 1, R) of them, 92,378 at R = 10). Beyond that it is estimated
  from :data:`RESAMPLES` seeded draws.

Quantiles use the inverse of the distribution function: q(a) = min{v : F(v) ≥ a}. With a single run the
interval is undefined (NaN): one seed says nothing about the spread.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

EXACT_MAX_RUNS = 10
"""Up to this many runs the bootstrap distribution is enumerated exactly."""
RESAMPLES = 20_000
"""Monte Carlo resamples beyond :data:`EXACT_MAX_RUNS` runs."""

Statistic = Literal["mean", "iqm"]


def _runs(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"need a non-empty 1-d array of finite per-run scores, got {x!r}")
    return x


def _trimmed(rows: np.ndarray) -> np.ndarray:
    """IQM of each row of ``rows`` (S, R), every row sorted ascending: the mean of columns j .. R − j − 1."""
    j = rows.shape[1] // 4
    return rows[:, j : rows.shape[1] - j].mean(axis=1)


@functools.lru_cache(maxsize=EXACT_MAX_RUNS)
def _multisets(r: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of r indices from range(r) as a non-decreasing row of ``index`` (S, r), with its
    probability R! / (c_1! ⋯ c_R!) / R^R under uniform resampling (S,)."""
    index = np.array(list(itertools.combinations_with_replacement(range(r), r)))  # (S, r)
    counts = (index[:, :, None] == np.arange(r)).sum(axis=1)  # (S, r): c_i, how often index i is drawn
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, r + 1)))])  # log k! for k = 0..r
    return index, np.exp(log_factorial[r] - log_factorial[counts].sum(axis=1) - r * math.log(r))


def iqm(x) -> float:
    """Interquartile mean of x (R,): the mean after dropping ⌊R/4⌋ sorted scores at each end."""
    return float(_trimmed(np.sort(_runs(x))[None, :])[0])


def bootstrap_distribution(x, statistic: Statistic = "mean", *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap distribution of ``statistic`` for x (R,): values (S,) and their probabilities (S,).

    Exact enumeration of the C(2R − 1, R) resample multisets for R ≤ :data:`EXACT_MAX_RUNS`, else
    :data:`RESAMPLES` uniform draws (probability 1/S each) from ``numpy.random.default_rng(seed)``.
    """
    x = np.sort(_runs(x))
    r = x.size
    if r <= EXACT_MAX_RUNS:
        index, probs = _multisets(r)  # non-decreasing rows: with x sorted, every resample below is sorted too
    else:
        index = np.sort(np.random.default_rng(seed).integers(0, r, size=(RESAMPLES, r)), axis=1)  # (S, R)
        probs = np.full(RESAMPLES, 1.0 / RESAMPLES)
    rows = x[index]  # (S, R), each row sorted
    values = rows.mean(axis=1) if statistic == "mean" else _trimmed(rows)
    return values, probs


def inverse_cdf(values, probs, a: float) -> float:
    """q(a) = min{v : F(v) ≥ a} of the discrete distribution (values (S,), probs (S,)).

    A relative tolerance of 1e-9 on F keeps a quantile that falls exactly on a step of F (F(v) = a in exact
    arithmetic) from moving to the next value through rounding.
    """
    values, probs = np.asarray(values, dtype=np.float64), np.asarray(probs, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(probs[order]) / probs.sum()
    return float(values[order][min(np.searchsorted(cdf, a * (1 - 1e-9)), cdf.size - 1)])


def quantile(values: list[float], level: float) -> float:
    """The linearly interpolated ``level`` quantile (numpy's default), where +inf stands for "never escaped":
    a quantile that interpolates towards an infinite value is infinite."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * level
    low, high = int(np.floor(position)), int(np.ceil(position))
    if low == high:
        return float(ordered[low])
    if not math.isfinite(ordered[high]):
        return math.inf
    return float(ordered[low] + (position - low) * (ordered[high] - ordered[low]))


def bootstrap_interval(x, statistic: Statistic = "mean", level: float = 0.95, *, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval (lo, hi) of ``statistic`` for x (R,) at ``level``; (NaN, NaN) when R = 1."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if _runs(x).size == 1:
        return math.nan, math.nan
    values, probs = bootstrap_distribution(x, statistic, seed=seed)
    alpha = 1 - level
    return inverse_cdf(values, probs, alpha / 2), inverse_cdf(values, probs, 1 - alpha / 2)


@dataclass(frozen=True)
class Aggregate:
    """The seeds of one setting, summarised."""

    n: int
    """R, the number of runs."""
    mean: float
    lo: float
    """Lower end of the 95 % bootstrap interval of the mean (NaN for one run)."""
    hi: float
    """Upper end of the same."""
    iqm: float
    """Interquartile mean (NaN for fewer than 4 runs)."""


def aggregate(x, level: float = 0.95) -> Aggregate:
    """Mean with its percentile-bootstrap interval, and the IQM when R ≥ 4, of x (R,)."""
    x = _runs(x)
    lo, hi = bootstrap_interval(x, "mean", level)
    return Aggregate(x.size, float(x.mean()), lo, hi, iqm(x) if x.size >= 4 else math.nan)
