"""Fitted small-p0 scaling of the escape time against q: log-log slope -(1-q) for q < 1, and at q = 1
the slope of T against ln(1/p0) (log scaling; 1 for one logit, (K-1)/K for K arms).

Regime: exact flow, p0 in [1e-10, 1e-6] (deep cold start, where the asymptotics holds).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table
from sim.escape import fit_slope, measure_escape_time, predicted_slope
from sim.policies import KArmedSoftmax, OneLogit
from tsallis.files import DPI

NAME = "fig_escape_slopes"
NUM_ARMS = 5
SLOPE_TOL = 0.02


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    p0s = np.logspace(-6, -10, 3 if quick else 4)
    q_one = np.round(np.linspace(0.0, 1.0, 5 if quick else 11), 3)
    q_arms = (0.0, 0.75, 1.0)
    rows = []
    for toy_name, toy, qs in (("one_logit", OneLogit(), q_one), (f"k_armed_{NUM_ARMS}", KArmedSoftmax(NUM_ARMS), q_arms)):
        for q in qs:
            times = np.array([measure_escape_time(toy, float(p0), float(q)) for p0 in p0s])
            fit = fit_slope(p0s, times, float(q))
            predicted = fit.predicted if toy_name == "one_logit" or q < 1 else (NUM_ARMS - 1) / NUM_ARMS
            rows += [{"toy": toy_name, "q": q, "p0": p0, "time": t, "slope": fit.slope, "predicted": predicted,
                      "log_scale": int(fit.log_scale)} for p0, t in zip(p0s, times)]
    return rows, {"p0s": p0s.tolist(), "target": 0.5, "num_arms": NUM_ARMS, "fit": "least squares, log T on log p0"}


def _fits(data: Table, toy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = data.where(toy=toy)
    qs = np.unique(data["q"][m])
    first = [np.flatnonzero(m & data.where(q=q))[0] for q in qs]
    return qs, data["slope"][first], data["predicted"][first], data["log_scale"][first]


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=DPI)
    grid = np.linspace(0, 1, 101)
    ax.plot(grid, [predicted_slope(q) for q in grid], "k-", lw=1, label="predicted −(1−q)")
    for toy, marker in (("one_logit", "o"), (f"k_armed_{NUM_ARMS}", "s")):
        qs, slopes, _, log_scale = _fits(data, toy)
        keep = log_scale == 0
        ax.plot(qs[keep], slopes[keep], marker, mfc="none", ms=7, label=f"fitted, {toy.replace('_', ' ')}")
    ax.set(xlabel="Tsallis index q", ylabel="d log T / d log p0", title="(a) log-log slope, p0 ∈ [1e-10, 1e-6]")
    ax.legend(fontsize=8)
    for toy, marker in (("one_logit", "o-"), (f"k_armed_{NUM_ARMS}", "s--")):
        m = data.where(toy=toy, q=1.0)
        slope = data["slope"][m][0]
        bx.plot(np.log(1 / data["p0"][m]), data["time"][m], marker, mfc="none",
                label=f"{toy.replace('_', ' ')}: fitted dT/d ln(1/p0) = {slope:.4f} (pred. {data['predicted'][m][0]:.3g})")
    bx.set(xlabel="ln(1/p0)", ylabel="escape time to P = 1/2 (flow time)", title="(b) q = 1: log scaling")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = []
    for toy in ("one_logit", f"k_armed_{NUM_ARMS}"):
        qs, slopes, predicted, log_scale = _fits(data, toy)
        for q, s, p, log in zip(qs, slopes, predicted, log_scale):
            what = "dT/d ln(1/p0)" if log else "log-log slope"
            out.append(Check.within(NAME, f"{what}, {toy}, q={q:g}", "exact flow, p0≤1e-6", s, p, SLOPE_TOL))
    return out
