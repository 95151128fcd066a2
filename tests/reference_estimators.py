"""Slow, obviously correct references for every registered estimator: plain Python loops over groups and samples.

Each reference takes the rewards as a (G, M) numpy array and the same :class:`EstimatorOptions` as the
fast version, and returns a (G, M) float64 array built one sample at a time from the formula in the
estimator's docstring, with Python floats and the ``math`` module only. The conventions the fast
versions document are written out here the same way: P̂ = 0 gives amplification 0, a subnormal P̂ is
raised to the smallest normal float, a constant group gets no GRPO advantage, and PAFT's sample k is
the first m whose normalised cumulative weight exceeds the uniform u_k (uniforms drawn from the
generator in the fast version's order: (G, K) for multinomial, (G, 1) offsets for systematic).

``REFERENCES`` maps every registered name to its reference; tests/test_fuzz.py checks that it covers
the registry and that the fast versions agree with it on random inputs.
"""

from __future__ import annotations

import itertools
import math
import sys

import numpy as np

from tsallis import EstimatorOptions
from tsallis.resampling import draw_uniforms


def _q_of_group(q, g: int) -> float:
    """The q of group g: q itself, or q[g, 0] / q[0, 0] for a (G, 1) / (1, 1) array."""
    arr = np.asarray(q, dtype=np.float64)
    if arr.ndim < 2:
        return float(arr.reshape(-1)[0]) if arr.ndim else float(arr)
    return float(arr[g if arr.shape[0] > 1 else 0, 0])


def _amplification(p: float, q: float) -> float:
    """P^(-q), 0 at P = 0, with P raised to the smallest normal float (the core's convention)."""
    if p == 0.0:
        return 0.0
    return max(p, sys.float_info.min) ** -q


def _baseline(row: list[float], m: int, kind: str) -> float:
    """b_m for sample m of a group: 0, the group mean, or the mean of the other samples."""
    if kind == "none":
        return 0.0
    if kind == "mean":
        return sum(row) / len(row)
    others = [r for i, r in enumerate(row) if i != m]
    return sum(others) / len(others) if others else 0.0


def reinforce(rewards, options: EstimatorOptions):
    out = np.zeros(rewards.shape)
    for g, row in enumerate(rewards.tolist()):
        for m, r in enumerate(row):
            out[g, m] = r / len(row)
    return out


def rloo(rewards, options: EstimatorOptions):
    out = np.zeros(rewards.shape)
    for g, row in enumerate(rewards.tolist()):
        for m, r in enumerate(row):
            out[g, m] = r if len(row) == 1 else (r - _baseline(row, m, "loo")) / len(row)
    return out


def garl(rewards, options: EstimatorOptions, cap: float = math.inf):
    out = np.zeros(rewards.shape)
    for g, row in enumerate(rewards.tolist()):
        amp = min(_amplification(sum(row) / len(row), _q_of_group(options.q, g)), cap)
        for m, r in enumerate(row):
            out[g, m] = amp * (r - _baseline(row, m, options.baseline or "mean")) / len(row)
    return out


def _std(values: list[float], ddof: int) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - ddof))


def grpo(rewards, options: EstimatorOptions):
    rows = rewards.tolist()
    flat = [r for row in rows for r in row]
    out = np.zeros(rewards.shape)
    for g, row in enumerate(rows):
        if max(row) == min(row):  # no spread in the group (a group of one included): no advantage
            continue
        if options.scale == "none":
            denominator = 1.0
        else:  # a group with a spread has M >= 2 samples, so the std is defined for ddof 0 and 1
            denominator = _std(row if options.scale == "group" else flat, options.std_ddof) + options.eps
            if denominator == 0.0:  # ε = 0 and the squared deviations underflow: no scale, no advantage
                continue
        mean = sum(row) / len(row)
        for m, r in enumerate(row):
            out[g, m] = (r - mean) / denominator / len(row)
    return out


def _uniforms(options: EstimatorOptions, groups: int, k: int) -> list[list[float]]:
    """The K resampling uniforms of each group, drawn as the fast version draws them ((G, K) iid, or one
    (G, 1) offset per group for systematic resampling)."""
    if options.resampling == "multinomial":
        return np.asarray(draw_uniforms(options.generator, (groups, k))).tolist()
    offsets = np.asarray(draw_uniforms(options.generator, (groups, 1))).tolist()
    return [[(j + u[0]) / k for j in range(k)] for u in offsets]


def paft(rewards, options: EstimatorOptions):
    rows = rewards.tolist()
    k = options.num_resamples or 1
    uniforms = _uniforms(options, len(rows), k)
    logw = None if options.proposal_logw is None else np.asarray(options.proposal_logw, dtype=np.float64).tolist()
    out = np.zeros(rewards.shape)
    for g, row in enumerate(rows):
        ratios = [1.0] * len(row) if logw is None else [math.exp(v - max(logw[g])) for v in logw[g]]
        omega = [r * w for r, w in zip(row, ratios)]
        total = sum(omega)
        if total == 0.0:
            continue
        p_hat = total / sum(ratios)
        cumulative, running = [], 0.0
        for w in omega:
            running += w
            cumulative.append(running / total)
        counts = [0] * len(row)
        for u in uniforms[g]:
            chosen = next((m for m, c in enumerate(cumulative) if c > u), None)
            if chosen is not None:
                counts[chosen] += 1
        attenuation = p_hat * _amplification(p_hat, _q_of_group(options.q, g))  # P̂^(1-q)
        for m in range(len(row)):
            out[g, m] = counts[m] * attenuation / k
    return out


def sft(rewards, options: EstimatorOptions):
    targets = np.asarray(options.targets, dtype=np.float64).tolist()
    out = np.zeros(rewards.shape)
    for g, row in enumerate(targets):
        total = sum(row)
        for m, t in enumerate(row):
            out[g, m] = t / total if total > 0 else 0.0
    return out


REFERENCES = {
    "reinforce": reinforce,
    "rloo": rloo,
    "grpo": grpo,
    "garl": garl,
    "paft": paft,
    "sft": sft,
    "capped_garl": lambda rewards, options: garl(rewards, options, cap=options.cap),
}


def _normaliser(m: int, q: float, normalize: str) -> float:
    """N_q = M^q ("m_q") or 1 ("none")."""
    return m**q if normalize == "m_q" else 1.0


def garl_likelihood(log_w, options: EstimatorOptions, q=None, baseline=None):
    """Eq. 12 / Algorithm 1 one sample at a time: score_m = (w_m/w̄^q - b_m)/(M N_q), answer_m = w_m/(w̄^q M N_q).

    Weights are exponentiated directly (the inputs of the reference tests keep them representable), w̄^q
    with Python's power, b_m = (w̄_¬m)^(1-q) with 0^0 = 1 (Python's convention too).
    """
    baseline = baseline or options.baseline or "loo"
    score, answer = np.zeros(log_w.shape), np.zeros(log_w.shape)
    for g, row in enumerate(np.asarray(log_w, dtype=np.float64).tolist()):
        qg = _q_of_group(options.q if q is None else q, g)
        w = [math.exp(v) for v in row]
        m = len(w)
        mean = sum(w) / m
        if mean == 0.0:
            continue
        norm = m * _normaliser(m, qg, options.normalize)
        for i, wi in enumerate(w):
            amplified = wi / mean**qg
            b = 0.0
            if baseline == "loo" and m > 1:
                b = ((sum(w) - wi) / (m - 1)) ** (1.0 - qg)
            score[g, i] = (amplified - b) / norm
            answer[g, i] = amplified / norm if options.pathwise else 0.0
    return score, answer


def paft_likelihood(log_w, options: EstimatorOptions):
    """Eq. 14 / Algorithm 2 one draw at a time: n_m w̄^(1-q)/(N_q K), sample k the first m whose normalised
    cumulative weight exceeds u_k (uniforms drawn as the fast version does: (G, K) or (G, 1) offsets)."""
    rows = np.asarray(log_w, dtype=np.float64).tolist()
    m = len(rows[0]) if rows else 0
    k = options.num_resamples or m
    uniforms = _uniforms(options, len(rows), k)
    out = np.zeros((len(rows), m))
    for g, row in enumerate(rows):
        w = [math.exp(v) for v in row]
        if sum(w) == 0.0:
            continue
        qg = _q_of_group(options.q, g)
        cumulative = list(itertools.accumulate(w))
        counts = [0] * m
        for u in uniforms[g]:
            counts[next(i for i, c in enumerate(cumulative) if c / cumulative[-1] > u)] += 1
        scale = (sum(w) / m) ** (1.0 - qg) / (_normaliser(m, qg, options.normalize) * k)
        for i in range(m):
            out[g, i] = counts[i] * scale
    return out, out


LIKELIHOOD_REFERENCES = {
    "reinforce": lambda log_w, options: garl_likelihood(log_w, EstimatorOptions(), q=0.0, baseline="none"),
    "rloo": lambda log_w, options: garl_likelihood(log_w, EstimatorOptions(), q=0.0, baseline="loo"),
    "garl": garl_likelihood,
    "paft": paft_likelihood,
}
"""Loop references of every registered likelihood form: ``(log_w, options) -> (score, answer)``."""
